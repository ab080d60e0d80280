/**
 * deploy/nginx.conf run by the real nginx in front of a real gateway (issue 22); the
 * cases are in proxy_suite.ts. Without nginx installed the test says so and is
 * skipped, except under CI=true, where it fails.
 */

import { proxySuite } from "./proxy_suite.ts";

Deno.test.sanitizer({ ops: true, resources: true });

proxySuite("nginx");
