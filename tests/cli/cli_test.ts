/** The command line and the gateway as a process, under the compiled binary's permissions. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { permissionFlags } from "../../src/cli/permissions.ts";
import { TestClient } from "../helpers/client.ts";
import { runMain, serveTask } from "../helpers/process.ts";
import { serveShipped, shippedFlags } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

function withDataDir(fn: (dir: string) => Promise<void>): Promise<void> {
  return withTempDir("gdp-ws-cli-", fn);
}

/** Flags for CLI subcommands that touch only the store. */
const storeFlags = (dir: string) => permissionFlags({ dataDir: dir });

Deno.test("--help works for the program and every subcommand", async () => {
  const top = await runMain([], ["--help"]);
  assert.equal(top.code, 0);
  for (const sub of ["serve", "create", "append", "tail", "read", "info", "ls", "token", "check"]) {
    assert.match(top.stdout, new RegExp(`\\b${sub}\\b`));
    const out = await runMain([], [sub, "--help"]);
    assert.equal(out.code, 0, sub);
    assert.match(out.stdout, new RegExp(`Usage: gdp-ws ${sub}`));
  }
});

Deno.test("bad flags exit 2 with a message naming them", async () => {
  const cases: [string[], RegExp][] = [
    [["serve", "--frobnicate"], /^gdp-ws: unknown option --frobnicate for gdp-ws serve/],
    [["--frobnicate"], /^gdp-ws: unknown option --frobnicate for gdp-ws serve/],
    [["serve", "--port", "eighty"], /^gdp-ws: --port must be an integer/],
    [["serve", "--cert", "c.pem"], /^gdp-ws: --cert and --key go together/],
    [
      ["serve", "--trust-proxy", "10.0.0.1/8"],
      /^gdp-ws: --trust-proxy 10\.0\.0\.1\/8: the address/,
    ],
    [
      ["serve", "--trust-proxy", "proxy.internal"],
      /^gdp-ws: --trust-proxy proxy\.internal: not an IP/,
    ],
    [["create"], /^gdp-ws: NAME is required/],
    [["create", "demo", "--port", "9000"], /^gdp-ws: unknown option --port for gdp-ws create/],
    [["--port", "9000", "create", "demo"], /^gdp-ws: serve takes no arguments, got "create"/],
  ];
  for (const [args, message] of cases) {
    const out = await runMain([], args);
    assert.equal(out.code, 2, args.join(" "));
    assert.match(out.stderr, message, args.join(" "));
    assert.equal(out.stderr.trim().split("\n").length, 1, `one line: ${out.stderr}`);
  }
});

Deno.test("create, append (argument and stdin lines) and info work on the store", async () => {
  await withDataDir(async (dir) => {
    const flags = storeFlags(dir);
    const created = await runMain(flags, ["create", "demo.cli", "--data", dir]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(JSON.parse(created.stdout).name, /^[A-Za-z0-9_-]{43}$/);
    const one = await runMain(flags, ["append", "demo.cli", "first", "--data", dir]);
    assert.equal(one.stdout.trim(), "1");
    const many = await runMain(flags, ["append", "demo.cli", "--data", dir], "a\nb\r\nc\n");
    assert.deepEqual(many.stdout.trim().split("\n"), ["2", "3", "4"]);
    const info = JSON.parse((await runMain(flags, ["info", "demo.cli", "--data", dir])).stdout);
    assert.equal(info.human, "demo.cli");
    assert.equal(info.count, 4);
    assert.ok(info.first.tv_sec <= info.last.tv_sec);
    const missing = await runMain(flags, ["info", "no.such", "--data", dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /600/);
  });
});

Deno.test("check reads every page: exit 0 when whole, 1 naming the damage, 1 for a foreign file", async () => {
  await withDataDir(async (dir) => {
    const flags = storeFlags(dir);
    const path = join(dir, "gdp-ws.sqlite");
    const missing = await runMain(flags, ["check", "--data", dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^gdp-ws: there is no store at .*gdp-ws\.sqlite\n$/);
    const many = Array.from({ length: 2000 }, (_, i) => `record ${i} ${"x".repeat(100)}`);
    await runMain(flags, ["append", "demo.check", "--data", dir], many.join("\n"));
    const whole = await runMain(flags, ["check", "--data", dir]);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal(whole.stdout, `${path}: integrity_check found no problems\n`);
    // A page in the middle of the records, overwritten as a bad sector would be.
    const file = await Deno.open(path, { write: true });
    await file.seek(4096 * Math.floor((await file.stat()).size / 4096 / 2), Deno.SeekMode.Start);
    await file.write(new Uint8Array(4096).fill(0x5a));
    file.close();
    const damaged = await runMain(flags, ["check", "--data", dir]);
    assert.equal(damaged.code, 1);
    assert.match(damaged.stdout, /gdp-ws\.sqlite is damaged:\n./);
    await Deno.writeTextFile(path, "not a database at all");
    const foreign = await runMain(flags, ["check", "--data", dir]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /^gdp-ws: the store .* is not an SQLite database/);
  });
});

Deno.test({
  name: "the gateway under the binary's permissions serves, sees CLI appends, and tail prints them",
  fn: () =>
    withDataDir(async (dir) => {
      const gateway = await serveShipped({ data: dir, libgdp: "/nonexistent/libgdp.so.2.1" });
      const client = await TestClient.connect(gateway.url);
      client.send({ logname: "demo.proc", startrec: 1, numrec: 0 });
      assert.equal((await client.next()).ep_stat[0], 600, "no such log yet");
      await runMain(storeFlags(dir), ["create", "demo.proc", "--data", dir]);
      client.send({ logname: "demo.proc", startrec: 1, numrec: 0 });
      const appended = await runMain(storeFlags(dir), [
        "append",
        "demo.proc",
        "from another process",
        "--data",
        dir,
      ]);
      assert.equal(appended.code, 0, appended.stderr);
      const event = await client.next();
      assert.equal(event.datum!.data, "from another process");

      const tail = await runMain(["--allow-net"], [
        "tail",
        "demo.proc",
        "--start",
        "-1",
        "--count",
        "1",
        "--url",
        gateway.url,
      ]);
      assert.equal(tail.code, 0, tail.stderr);
      assert.match(tail.stdout, /^1\t\d{4}-\d\d-\d\dT[\d:.]+Z\tfrom another process\n$/);

      assert.equal(await gateway.stop(), 0, "SIGTERM is a clean exit");
      const shutdown = await client.next();
      assert.equal(shutdown.type, 3);
      assert.equal((await client.closed).code, 1001);
      const messages = gateway.logs.map((l) => String(l.message));
      assert.ok(messages.some((m) => m.startsWith("Open")), "connection open is logged");
      assert.ok(messages.some((m) => m.startsWith("Close")), "connection close is logged");
    }),
});

Deno.test({
  name: "deno task start passes flags through",
  fn: () =>
    withDataDir(async (dir) => {
      // needs more: it checks `deno task start` itself, whose flags are deno.json's, not the binary's
      const gateway = await serveTask(["--data", dir]);
      const res = await fetch(gateway.url.replace("ws", "http") + "logs/demo.task", {
        method: "POST",
        body: "x",
      });
      assert.equal(res.status, 201);
      await res.body?.cancel();
      assert.ok((await Deno.stat(join(dir, "gdp-ws.sqlite"))).isFile, "the store is in --data");
      assert.equal(await gateway.stop(), 0);
    }),
});

Deno.test("outside its grants the gateway is refused: another data folder, another libgdp", async () => {
  await withDataDir(async (dir) => {
    // The binary's grants without its baked paths: `deno run`'s wording of a refusal.
    const flags = shippedFlags({ data: dir, libgdp: join(dir, "libgdp.so.2.1") });
    const other = await Deno.makeTempDir();
    const data = await runMain(flags, ["serve", "--port", "0", "--data", other]);
    assert.notEqual(data.code, 0);
    assert.equal(
      data.stderr,
      `gdp-ws: refused write access to "${other}": deno run was not granted it ` +
        "(see README's Configuration)\n",
    );
    const ffi = await runMain(flags, [
      "serve",
      "--port",
      "0",
      "--backend",
      "libgdp",
      "--libgdp",
      "/usr/lib/libc.so.6",
    ]);
    assert.notEqual(ffi.code, 0);
    assert.match(ffi.stderr, /^gdp-ws: refused ffi access to "\/usr\/lib\/libc.so.6"/);
    await Deno.remove(other);
  });
});
