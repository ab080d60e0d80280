// @ts-check
/**
 * The client tests under Node's own test runner: `node --experimental-websocket --test
 * tests/client/node_runner.js` (Node 22+ needs no flag). client_node_test.ts runs it.
 */

import { test } from "node:test";
import { clientTests } from "./suite.js";

for (const { name, fn } of clientTests) test(`node: ${name}`, fn);
