/**
 * The compiled binary as installed. No machine here can download the Deno
 * runtime `deno compile` embeds, so these tests take the command that
 * `deno task compile --dry-run` prints, check it against a hard-coded
 * expectation, and run its permission flags, script and baked arguments under
 * `deno run`, from a folder outside the repository, with no further flags.
 *
 * With no flags the gateway listens on its default port, 8080: the tests that
 * start it live in this one file, whose tests run one after another.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import PACKAGE from "../../deno.json" with { type: "json" };
import { installBlocks } from "../../scripts/follow_install.ts";
import { TestClient } from "../helpers/client.ts";
import { compileDouble } from "../helpers/libgdp_double.ts";
import { MAIN, REPO, runProgram, serveCommand } from "../helpers/process.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** What `deno task compile --data DATA --libgdp LIBGDP` must print, written out by hand. */
function expectedCompile(data: string, libgdp: string): string {
  return `deno compile --allow-net --allow-read=${data} --allow-write=${data} ` +
    `--allow-ffi=${libgdp} --output gdp-ws ${MAIN} --baked-data=${data} --baked-libgdp=${libgdp}`;
}

const REBUILD = "rebuild it with deno task compile --data DIR --libgdp PATH";

function deno(args: string[], cwd = REPO) {
  return runProgram(Deno.execPath(), args, cwd);
}

/** `deno task compile ARGS --dry-run`: the one line it prints. */
async function compileDryRun(args: string[]): Promise<string> {
  const out = await deno(["task", "compile", ...args, "--dry-run"]);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout.trim();
}

/** The printed `deno compile` command as `deno run`: its flags, script and baked arguments. */
function asDenoRun(printed: string): string[] {
  const words = printed.split(" ");
  assert.deepEqual(words.slice(0, 2), ["deno", "compile"]);
  const output = words.indexOf("--output");
  assert.equal(words[output + 2], MAIN, "the binary is main.ts");
  return ["run", ...words.slice(2, output), MAIN, ...words.slice(output + 3)];
}

/** A compiled binary's stand-in for a data folder and libgdp path, run from `cwd`. */
async function binary(data: string, libgdp: string) {
  const printed = await compileDryRun(["--data", data, "--libgdp", libgdp]);
  assert.equal(printed, expectedCompile(data, libgdp));
  return asDenoRun(printed);
}

/** Fails clearly, instead of with a bind error, when something else holds port 8080. */
function assertDefaultPortFree(): void {
  try {
    Deno.listen({ port: 8080, hostname: "0.0.0.0" }).close();
  } catch (error) {
    throw new Error(`port 8080 is in use; these tests run the gateway on its default port`, {
      cause: error,
    });
  }
}

/** A folder for the store, one for the binary's working directory, both outside the repo. */
function withHost(fn: (dirs: { data: string; cwd: string; root: string }) => Promise<void>) {
  return withTempDir("gdp-ws-binary-", async (root) => {
    const cwd = join(root, "elsewhere");
    await Deno.mkdir(cwd);
    await fn({ data: join(root, "var/lib/gdp-ws"), cwd, root });
  });
}

Deno.test("deno task compile --dry-run prints the hard-coded deno compile command", async () => {
  assert.equal(
    await compileDryRun([]),
    "deno compile --allow-net --allow-read=/var/lib/gdp-ws --allow-write=/var/lib/gdp-ws " +
      `--allow-ffi=/usr/local/lib/libgdp.so.2.1 --output gdp-ws ${MAIN} ` +
      "--baked-data=/var/lib/gdp-ws --baked-libgdp=/usr/local/lib/libgdp.so.2.1",
  );
  assert.equal(
    await compileDryRun([
      "--", // as `deno task compile -- …` hands it on
      "--data=/srv/gdp",
      "--libgdp",
      "/opt/gdp/libgdp.so.2.1",
      "--cert",
      "/etc/gdp-ws/cert.pem",
      "--key",
      "/etc/gdp-ws/key.pem",
      "--target",
      "aarch64-unknown-linux-gnu",
      "--output",
      "/tmp/gdp-ws-arm64",
    ]),
    "deno compile --allow-net --allow-read=/srv/gdp,/etc/gdp-ws/cert.pem,/etc/gdp-ws/key.pem " +
      "--allow-write=/srv/gdp --allow-ffi=/opt/gdp/libgdp.so.2.1 " +
      `--target aarch64-unknown-linux-gnu --output /tmp/gdp-ws-arm64 ${MAIN} ` +
      "--baked-data=/srv/gdp --baked-libgdp=/opt/gdp/libgdp.so.2.1 " +
      "--baked-cert=/etc/gdp-ws/cert.pem --baked-key=/etc/gdp-ws/key.pem",
  );
});

Deno.test("deno task compile --help, and bad options in one line with exit 2", async (t) => {
  for (const args of [["--help"], ["--", "--help"]]) {
    const help = await deno(["task", "compile", ...args]);
    assert.equal(help.code, 0, args.join(" "));
    assert.match(help.stdout, /^Usage: deno task compile \[--data DIR\] \[--libgdp PATH\]/);
  }
  const cases: [string[], string][] = [
    [["--frobnicate"], "error: unknown option --frobnicate for deno task compile"],
    [["--data"], "error: --data needs a value"],
    [["--cert", "c.pem"], "error: --cert and --key go together: give both or neither"],
    [["gdp-ws"], 'error: deno task compile takes no arguments, got "gdp-ws"'],
  ];
  for (const [args, message] of cases) {
    await t.step(args.join(" "), async () => {
      const out = await deno(["task", "compile", ...args]);
      assert.equal(out.code, 2);
      const lines = out.stderr.split("\n").filter((l) => l && !l.startsWith("Task "));
      assert.equal(lines.length, 1, out.stderr);
      assert.ok(lines[0]!.startsWith(message), lines[0]);
    });
  }
});

Deno.test("the binary, from outside the repo with no flags, serves its baked data folder", async () => {
  await withHost(async ({ data, cwd, root }) => {
    const run = await binary(data, join(root, "lib/libgdp.so.2.1"));
    assertDefaultPortFree();
    const gateway = await serveCommand(run, { cwd });
    try {
      assert.equal(gateway.port, 8080, "the default port");
      const posted = await fetch("http://127.0.0.1:8080/logs/demo.binary", {
        method: "POST",
        body: "baked",
      });
      assert.equal(posted.status, 201, await posted.text());
      for (const path of ["/", "/healthz", "/readyz"]) {
        const res = await fetch(`http://127.0.0.1:8080${path}`);
        await res.body?.cancel();
        assert.ok(res.status < 500, `GET ${path} works inside the grants: ${res.status}`);
      }
      // The console and the client library are built into the binary.
      const builtIn: [string, string][] = [["/", "gdp-ws console"], [
        "/client/gdp-ws.js",
        "connect(",
      ]];
      for (const [path, text] of builtIn) {
        const res = await fetch(`http://127.0.0.1:8080${path}`);
        assert.equal(res.status, 200, path);
        assert.ok((await res.text()).includes(text), `${path} is the console's file`);
      }
      const client = await TestClient.connect("ws://127.0.0.1:8080/");
      client.send({ logname: "demo.binary", startrec: 1, numrec: 1 });
      assert.equal((await client.next()).datum!.data, "baked");
      await client.close();
      assert.ok(
        (await Deno.stat(join(data, "gdp-ws.sqlite"))).isFile,
        "the store is the baked one",
      );
      assert.deepEqual(await Array.fromAsync(Deno.readDir(cwd)), [], "nothing in the cwd");
    } finally {
      assert.equal(await gateway.stop(), 0, "SIGTERM is a clean exit");
    }
  });
});

Deno.test("the binary with --backend libgdp loads the libgdp double at its baked path", async () => {
  const libgdp = await compileDouble();
  await withHost(async ({ data, cwd }) => {
    const run = await binary(data, libgdp);
    assertDefaultPortFree();
    const gateway = await serveCommand([...run, "--backend", "libgdp"], { cwd });
    try {
      const ready = await fetch("http://127.0.0.1:8080/readyz");
      const body = await ready.json() as { backend: string; state: string };
      assert.deepEqual([body.backend, body.state], ["libgdp", "ok"]);
      const client = await TestClient.connect("ws://127.0.0.1:8080/");
      client.send({ logname: "no.such.log" });
      const event = await client.next();
      assert.equal(event.ep_stat[0], 600, "libgdp's own answer for a missing log");
      await client.close();
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
});

Deno.test("outside its grants the binary is refused, naming the grant and how to rebuild", async (t) => {
  await withHost(async ({ data, cwd, root }) => {
    const libgdp = join(root, "lib/libgdp.so.2.1");
    const run = await binary(data, libgdp);
    const grants = `--allow-net --allow-read=${data} --allow-write=${data} --allow-ffi=${libgdp}`;
    const refused = (what: string) =>
      `gdp-ws: refused ${what}: this binary was built with ${grants}; use those paths, or ${REBUILD}\n`;
    const elsewhere = join(root, "other");
    const cases: [string[], string][] = [
      [["--data", elsewhere], refused(`write access to "${elsewhere}"`)],
      [["info", "demo", "--data", elsewhere], refused(`write access to "${elsewhere}"`)],
      [
        ["--cert", "/etc/hostname", "--key", "/etc/hostname"],
        refused(`read access to "/etc/hostname"`),
      ],
      [["--auth-secret", "/etc/hostname"], refused(`read access to "/etc/hostname"`)],
      [
        ["--backend", "libgdp", "--libgdp", "/usr/lib/libgdp.so.2.1"],
        refused(`ffi access to "/usr/lib/libgdp.so.2.1"`),
      ],
    ];
    for (const [args, message] of cases) {
      await t.step(args.join(" "), async () => {
        const out = await deno([...run, ...args], cwd);
        assert.equal(out.code, 1);
        // Opening the store comes first and may log that it made a new one.
        const made = /^.*\[INF\] gdp-ws·embedded: Created a new store at .*\n/;
        assert.equal(out.stderr.replace(made, ""), message);
      });
    }
  });
});

Deno.test("the binary: --version names version, Deno, platform and grants; bad options exit 2", async () => {
  await withHost(async ({ data, cwd, root }) => {
    const libgdp = join(root, "lib/libgdp.so.2.1");
    const run = await binary(data, libgdp);
    const version = await deno([...run, "--version"], cwd);
    assert.equal(version.code, 0);
    const [name, runtime, grants] = version.stdout.trim().split("\n");
    assert.equal(name, `gdp-ws ${PACKAGE.version}`);
    assert.equal(
      runtime,
      `deno ${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript}) ` +
        `on ${Deno.build.target}`,
    );
    assert.equal(
      grants,
      `grants: --allow-net --allow-read=${data} --allow-write=${data} --allow-ffi=${libgdp} ` +
        "(baked in by deno task compile)",
    );
    const help = await deno([...run, "serve", "--help"], cwd);
    assert.match(
      help.stdout,
      new RegExp(`--data DIR +embedded store folder \\(default ${data}\\)`),
    );
    const bad = await deno([...run, "--frobnicate"], cwd);
    assert.equal(bad.code, 2);
    assert.equal(
      bad.stderr,
      "gdp-ws: unknown option --frobnicate for gdp-ws serve (see gdp-ws serve --help)\n",
    );
  });
});

Deno.test("scripts/follow_install.ts follows README's install section end to end", async () => {
  await withTempDir("gdp-ws-install-", async (root) => {
    assertDefaultPortFree();
    // needs more: the script installs as README says; the gateways it starts run the printed flags
    const out = await deno(["run", "--allow-all", "scripts/follow_install.ts", root]);
    assert.equal(out.code, 0, out.stdout + out.stderr);
    const blocks = await installBlocks();
    assert.equal(blocks.length, 2, "from a release, then from source");
    assert.ok(blocks.every((steps) => steps.length >= 8), "README's install section was found");
    for (const step of blocks.flat()) assert.ok(out.stdout.includes(`README: ${step}\n`), step);
    const count = (pattern: RegExp) => out.stdout.match(pattern)?.length ?? 0;
    assert.equal(count(/systemd-analyze verify: gdp-ws.service clean/g), 2);
    assert.equal(count(/systemctl stop \(SIGTERM\): exit 0/g), 2);
    assert.match(out.stdout, /^ {2}gdp-ws-[\d.]+-x86_64-unknown-linux-gnu: OK$/m, "checksum");
    for (const host of ["1/host", "2/host"]) {
      for (
        const file of [
          "usr/local/bin/gdp-ws",
          "etc/systemd/system/gdp-ws.service",
          "etc/systemd/system/multi-user.target.wants/gdp-ws.service",
          "etc/ep_adm_params/gdp",
          "var/lib/gdp-ws/gdp-ws.sqlite",
        ]
      ) {
        assert.ok((await Deno.stat(join(root, host, file))).isFile, `${host}/${file}`);
      }
    }
  });
});

Deno.test("the deploy kit: a hardened unit for the compiled defaults, libgdp's signal settings", async () => {
  const unit = await Deno.readTextFile(new URL("../../deploy/gdp-ws.service", import.meta.url));
  for (
    const line of [
      "ExecStart=/usr/local/bin/gdp-ws serve --port 8080 --fd-limit 65536",
      "DynamicUser=yes",
      "User=gdp-ws",
      "StateDirectory=gdp-ws",
      "ReadWritePaths=/var/lib/gdp-ws",
      "NoNewPrivileges=yes",
      "ProtectSystem=strict",
      "ProtectHome=yes",
      "CapabilityBoundingSet=",
      "KillSignal=SIGTERM",
    ]
  ) {
    assert.ok(unit.split("\n").includes(line), `the unit has ${line}`);
  }
  assert.ok(
    (await compileDryRun([])).includes("--allow-write=/var/lib/gdp-ws "),
    "the binary's default grant is the unit's state folder",
  );
  // The binary cannot read /proc/self/limits: --fd-limit tells it what LimitNOFILE gives it.
  const limit = /^LimitNOFILE=(\d+)$/m.exec(unit)?.[1];
  const execs = unit.split("\n").filter((l) => /^\s*#?\s*ExecStart=/.test(l));
  assert.ok(limit, "the unit sets LimitNOFILE (soft and hard)");
  assert.ok(execs.length > 0);
  for (const exec of execs) {
    assert.equal(
      /--fd-limit (\d+)/.exec(exec)?.[1],
      limit,
      `${exec.trim()} passes --fd-limit ${limit}`,
    );
  }
  const params = await Deno.readTextFile(
    new URL("../../deploy/ep_adm_params/gdp", import.meta.url),
  );
  for (const key of ["swarm.gdp.catch.sigint=false", "swarm.gdp.catch.sigterm=false"]) {
    assert.ok(params.split("\n").includes(key), key);
  }
  assert.match(params, /^swarm\.gdp\.routers=\S+:\d+$/m, "a router address");
});
