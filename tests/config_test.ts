/** config.ts on its own: defaults, merging, and the checks that name what is wrong. */

import assert from "node:assert/strict";
import { ConfigError, DEFAULT_LIMITS, DEFAULTS, makeConfig } from "../src/config.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function rejects(input: Parameters<typeof makeConfig>[0], message: RegExp): void {
  assert.throws(() => makeConfig(input), (e: unknown) => {
    assert.ok(e instanceof ConfigError, `a ConfigError, not ${e}`);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("makeConfig: no input is exactly the defaults", () => {
  assert.deepEqual(makeConfig(), { ...DEFAULTS, limits: DEFAULT_LIMITS });
  assert.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULT_LIMITS));
});

Deno.test("makeConfig: a partial limits or libgdp object keeps the other defaults", () => {
  const config = makeConfig({
    port: 0,
    limits: { maxSubscriptions: 5 },
    libgdp: { router: "127.0.0.1:8007" },
  });
  assert.equal(config.port, 0);
  assert.equal(config.limits.maxSubscriptions, 5);
  assert.equal(config.limits.sendQueueBytes, DEFAULT_LIMITS.sendQueueBytes);
  assert.equal(config.libgdp.router, "127.0.0.1:8007");
  assert.equal(config.libgdp.path, DEFAULTS.libgdp.path);
  assert.equal(DEFAULT_LIMITS.maxSubscriptions, 1_000, "the defaults are not modified");
});

Deno.test("makeConfig: errors name the field by its path, or as the caller names it", () => {
  rejects({ port: 70_000 }, /^port must be an integer from 0 to 65535, not 70000$/);
  rejects({ limits: { maxConnections: 0 } }, /^limits\.maxConnections must be an integer from 1/);
  assert.throws(
    () => makeConfig({ limits: { readChunk: 1.5 } }, (field) => `--${field.split(".").at(-1)}`),
    /^ConfigError: --readChunk must be an integer/,
  );
});

Deno.test("makeConfig: enumerated fields accept only their values", () => {
  rejects({ backend: "My SQL" }, /backend must be a backend's name, not My SQL/);
  rejects({ logFormat: "xml" as "json" }, /logFormat must be pretty or json, not xml/);
  rejects({ logLevel: "loud" as "info" }, /logLevel must be one of .*debug.*error/);
  assert.equal(makeConfig({ backend: "libgdp", logLevel: "debug" }).backend, "libgdp");
});

Deno.test("makeConfig: cert and key go together", () => {
  rejects({ cert: "c.pem" }, /cert and key go together/);
  rejects({ key: "k.pem" }, /cert and key go together/);
  assert.equal(makeConfig({ cert: "c.pem", key: "k.pem" }).key, "k.pem");
});

Deno.test("makeConfig: the send queue must hold two of the largest records", () => {
  rejects(
    { limits: { sendQueueBytes: 1000, maxRecordBytes: 501 } },
    /limits\.sendQueueBytes \(1000\) must be at least twice limits\.maxRecordBytes \(501\)/,
  );
  const fits = makeConfig({ limits: { sendQueueBytes: 1000, maxRecordBytes: 500 } });
  assert.equal(fits.limits.sendQueueBytes, 1000);
});

Deno.test("makeConfig: --fd-limit must exceed the reserve; the deadlines a client is held to are at least 1 ms", () => {
  rejects({ fdLimit: 64 }, /^fdLimit must be an integer from 65 to/);
  assert.equal(makeConfig({ fdLimit: 65_536 }).fdLimit, 65_536);
  assert.equal(makeConfig().fdLimit, undefined, "unset: learnt or assumed at start");
  for (const field of ["handshakeTimeoutMs", "bodyTimeoutMs", "writeTimeoutMs"]) {
    rejects({ limits: { [field]: 0 } }, new RegExp(`^limits\\.${field} must be an integer from 1`));
  }
});

Deno.test("makeConfig: timeouts and delays may be 0, counts and sizes may not", () => {
  const zero = makeConfig({ limits: { idleTimeoutSec: 0, shutdownGraceMs: 0, feedLingerMs: 0 } });
  assert.equal(zero.limits.idleTimeoutSec, 0);
  for (const field of Object.keys(DEFAULT_LIMITS)) {
    const value = (field === "idleTimeoutSec" || field.endsWith("Ms")) ? -1 : 0;
    rejects({ limits: { [field]: value } }, new RegExp(`^limits\\.${field}\\b`));
  }
});
