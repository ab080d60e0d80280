/**
 * client/gdp-ws.d.ts (the npm package's types) against client/gdp-ws.js (its JSDoc types), in
 * both directions: `deno test` type-checks this module, so a declaration that drifts from the
 * implementation fails here, and the runtime test checks the export lists match.
 */

import assert from "node:assert/strict";
import * as impl from "../../client/gdp-ws.js";
import type * as decl from "../../client/gdp-ws.d.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** True when A and B are assignable to each other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const same = <A, B>(_proof: Same<A, B>) => {};

// Every declared export exists with a compatible type (functions' options are checked
// contravariantly, so the declared options must be ones the implementation takes).
const _module: typeof decl = impl;
// …and nothing is exported without a declaration.
same<keyof typeof impl, keyof typeof decl>(true);

same<impl.ConnectionState, decl.ConnectionState>(true);
same<impl.Timestamp, decl.Timestamp>(true);
same<impl.GdpRecord, decl.GdpRecord>(true);
same<impl.ConnectOptions, decl.ConnectOptions>(true);
same<impl.SubscribeOptions, decl.SubscribeOptions>(true);
same<impl.Appended, decl.Appended>(true);
same<impl.WebSocketLike, decl.WebSocketLike>(true);
same<impl.WebSocketClass, decl.WebSocketClass>(true);
same<impl.FetchFunction, decl.FetchFunction>(true);
same<impl.GdpWsError, decl.GdpWsError>(true);
// Classes with private fields compare one way: the implementation has all that is declared.
const _client: (c: impl.GdpWsClient) => decl.GdpWsClient = (c) => c;
const _subscription: (s: impl.Subscription) => decl.Subscription = (s) => s;
// The WebSocket classes users pass fit the declared one.
const _global: decl.WebSocketClass = WebSocket;

Deno.test("client: gdp-ws.d.ts declares exactly the module's exports", async () => {
  const text = await Deno.readTextFile(new URL("../../client/gdp-ws.d.ts", import.meta.url));
  const declared = [...text.matchAll(/^export declare (?:const|function|class) (\w+)/gm)]
    .map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(impl).sort());
});
