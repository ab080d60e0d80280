/**
 * deploy/Caddyfile run by the real caddy in front of a real gateway (issue 22); the
 * cases are in proxy_suite.ts. Without caddy installed the test says so and is
 * skipped, except under CI=true, where it fails.
 */

import { proxySuite } from "./proxy_suite.ts";

Deno.test.sanitizer({ ops: true, resources: true });

proxySuite("caddy");
