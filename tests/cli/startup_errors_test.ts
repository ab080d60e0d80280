/**
 * A gateway that cannot start says what failed in one line that names the flag and its value,
 * run as the binary runs (shippedRun: its grants and baked paths): a port in use, a data folder
 * that is a file, a libgdp that is not there, a token secret that is not there.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { type ShippedPaths, shippedRun } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** `gdp-ws serve ARGS` as the binary built for `paths` runs it, to completion. */
async function serveFails(paths: ShippedPaths, args: string[], exitCode = 1): Promise<string> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      ...shippedRun(paths),
      "serve",
      "--hostname",
      "127.0.0.1",
      "--log-format",
      "json",
      ...args,
    ],
    cwd: Deno.env.get("TMPDIR") ?? "/tmp",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, exitCode, `a failed start exits ${exitCode}`);
  const text = new TextDecoder().decode(stderr);
  // Log lines are JSON; the failure is the one plain line.
  const plain = text.trimEnd().split("\n").filter((line) => !line.startsWith("{"));
  assert.equal(plain.length, 1, `one line: ${text}`);
  return plain[0]!;
}

/** How often `needle` occurs in `text`. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

Deno.test("start-up errors name the flag and the value, once, in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-startup-" });
  const data = join(dir, "data");
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    assert.equal(
      await serveFails({ data }, ["--port", String(port), "--data", data]),
      `gdp-ws: --port ${port}: address already in use`,
    );

    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "not a folder");
    assert.equal(
      await serveFails({ data: file }, ["--port", "0", "--data", file]),
      `gdp-ws: --data ${file}: exists and is not a folder`,
    );

    const libgdp = join(dir, "nonexistent.so");
    const noLibrary = await serveFails({ data, libgdp }, [
      "--port",
      "0",
      "--backend",
      "libgdp",
      "--libgdp",
      libgdp,
    ]);
    assert.match(
      noLibrary,
      new RegExp(`^gdp-ws: --libgdp ${libgdp}: .*No such file or directory$`),
    );
    assert.equal(count(noLibrary, libgdp), 1, noLibrary);
    assert.equal(count(noLibrary, "Could not open library"), 0, noLibrary);

    const secret = join(dir, "nonexistent-secret");
    const noSecret = await serveFails({ data, authSecret: secret }, [
      "--port",
      "0",
      "--auth-secret",
      secret,
    ]);
    assert.equal(noSecret, `gdp-ws: --auth-secret ${secret}: no such file or directory`);

    const short = join(dir, "short-secret");
    await Deno.writeTextFile(short, "too short\n");
    assert.equal(
      await serveFails({ data, authSecret: short }, ["--port", "0", "--auth-secret", short]),
      `gdp-ws: --auth-secret ${short}: the secret is 9 bytes; HS256 needs at least 32`,
    );
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bad origin is the fault of its own flag, found before the store is opened", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-startup-" });
  const data = join(dir, "data");
  try {
    for (const flag of ["--allow-origin", "--public-origin"]) {
      assert.equal(
        await serveFails({ data }, ["--port", "0", flag, "https://app.example.org/path"], 2),
        `gdp-ws: ${flag} https://app.example.org/path: an origin is SCHEME://HOST[:PORT], ` +
          "such as https://app.example.org",
      );
    }
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound, "no store was made");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
