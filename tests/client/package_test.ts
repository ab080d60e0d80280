/**
 * The client as an npm package: `npm pack` of client/, installed offline (a fresh, empty npm
 * cache) into an empty project, then a subscriber that imports it by name runs under Node and
 * under Deno against a real gateway process (serveShipped: the binary's grants): stored and live
 * records, and a refused connection reported as a GdpWsError 401 instead of endless retries. A
 * TypeScript consumer type-checks against the package's declarations. Without node and npm on
 * PATH it says so and skips, except under CI=true.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lines } from "../../src/io/lines.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { exitWithin, type ServeProcess } from "../helpers/process.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const CLIENT_DIR = fileURLToPath(new URL("../../client/", import.meta.url));
/**
 * A subscriber as a user of the package writes it: it imports "gdp-ws-client" by name, so it runs
 * only in the project the tarball was installed into (and lives here as text, since the
 * repository cannot resolve that name). Arguments: URL LOGNAME COUNT [TOKEN]. It prints one JSON
 * line per state change and record, and the error that ended it, if any.
 */
const SUBSCRIBER = `import process from "node:process";
import { connect } from "gdp-ws-client";

const [url = "", logname = "", count = "0", token] = process.argv.slice(2);
const client = connect(url, {
  minDelayMs: 20,
  maxDelayMs: 200,
  ...(token ? { token } : {}),
  onState: (state) => console.log(JSON.stringify({ state })),
});
try {
  for await (const record of client.subscribe(logname, { start: 1, count: Number(count) })) {
    console.log(JSON.stringify({ recno: record.recno, data: record.data }));
  }
} catch (error) {
  const { name, code, message, refused } = error;
  console.log(JSON.stringify({ error: { name, code, message, refused } }));
  process.exitCode = 1;
} finally {
  client.close();
}
`;
const PACKAGE = JSON.parse(await Deno.readTextFile(join(CLIENT_DIR, "package.json"))) as {
  name: string;
  version: string;
};

async function versionOf(program: string): Promise<string | undefined> {
  try {
    const { success, stdout } = await new Deno.Command(program, { args: ["--version"] }).output();
    return success ? new TextDecoder().decode(stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

const node = await versionOf("node");
const npm = await versionOf("npm");
const required = Deno.env.get("CI") === "true";
if ((!node || !npm) && !required) {
  console.log("SKIPPED: the package tests need `node` and `npm` on PATH (Node 20 or later)");
}

/** Runs `program args` in `cwd` to completion; throws with its output when it fails. */
async function run(program: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const { success, stdout, stderr } = await new Deno.Command(program, {
    args,
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.ok(
    success,
    `${program} ${args.join(" ")} failed:\n${out}${new TextDecoder().decode(stderr)}`,
  );
  return out;
}

/** A subscriber process, its JSON lines as they come. */
function subscriber(argv: string[], cwd: string) {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const seen: Record<string, unknown>[] = [];
  let wake = () => {};
  const reading = (async () => {
    for await (const line of lines(child.stdout)) {
      seen.push(JSON.parse(line));
      wake();
    }
  })();
  return {
    seen,
    async until(test: (line: Record<string, unknown>) => boolean): Promise<void> {
      while (!seen.some(test)) {
        const { promise, resolve } = Promise.withResolvers<void>();
        wake = resolve;
        const timer = setTimeout(resolve, 200);
        await promise;
        clearTimeout(timer);
        const status = await Promise.race([child.status, Promise.resolve(undefined)]);
        if (status && !seen.some(test)) {
          await reading;
          assert.fail(`the subscriber ended early: ${JSON.stringify(seen)} ${await stderr}`);
        }
      }
    },
    /** Its exit; a subscriber still running after 30 s (retrying forever, say) is killed. */
    async end(): Promise<{ code: number; stderr: string }> {
      const { code, hung } = await exitWithin(child, 30_000);
      await reading;
      assert.ok(!hung, `the subscriber did not end: ${JSON.stringify(seen)}`);
      return { code, stderr: await stderr };
    },
  };
}

async function append(gateway: ServeProcess, logname: string, data: string): Promise<void> {
  const response = await fetch(`${gateway.url.replace(/^ws/, "http")}logs/${logname}`, {
    method: "POST",
    body: data,
  });
  assert.equal(response.status, 201);
  await response.body?.cancel();
}

Deno.test({
  name: "package: npm pack, offline install, a subscriber under Node and Deno, typed consumers",
  ignore: (!node || !npm) && !required,
  fn: async (t) => {
    assert.ok(node && npm, "CI=true: node and npm are required, and they are not on PATH");
    const root = await Deno.makeTempDir({ prefix: "gdp-ws-package-" });
    const data = await Deno.makeTempDir({ prefix: "gdp-ws-package-data-" });
    const secured = await Deno.makeTempDir({ prefix: "gdp-ws-package-auth-" });
    const secret = join(secured, "secret");
    await Deno.writeTextFile(secret, "a development secret of at least 32 bytes\n");
    const gateway = await serveShipped({ data });
    const guarded = await serveShipped({ data: secured, authSecret: secret });
    try {
      const project = join(root, "project");
      const tarball = `${PACKAGE.name}-${PACKAGE.version}.tgz`;
      await t.step("npm pack, then npm install --offline into an empty project", async () => {
        const packed = await run("npm", ["pack", "--pack-destination", root], CLIENT_DIR);
        assert.match(packed, new RegExp(tarball.replaceAll(".", "\\.")));
        await Deno.mkdir(project);
        await Deno.writeTextFile(
          join(project, "package.json"),
          JSON.stringify({ name: "consumer", private: true, type: "module" }),
        );
        // An empty cache and --offline: whatever installs came from the tarball.
        await run(
          "npm",
          ["install", "--offline", "--no-audit", "--no-fund", join(root, tarball)],
          project,
          { npm_config_cache: join(root, "npm-cache") },
        );
        const installed = join(project, "node_modules", PACKAGE.name);
        const files = [...Deno.readDirSync(installed)].map((e) => e.name).sort();
        assert.deepEqual(files, ["README.md", "gdp-ws.d.ts", "gdp-ws.js", "package.json"]);
        const js = await Deno.readTextFile(join(installed, "gdp-ws.js"));
        assert.equal(js, await Deno.readTextFile(join(CLIENT_DIR, "gdp-ws.js")), "the same file");
        await Deno.writeTextFile(join(project, "subscriber.mjs"), SUBSCRIBER);
      });

      // Node 20 has WebSocket behind this flag; later versions accept and ignore it.
      const runtimes: [string, string[]][] = [
        ["node", ["node", "--experimental-websocket", "subscriber.mjs"]],
        ["deno", [Deno.execPath(), "run", "--allow-net", "subscriber.mjs"]],
      ];
      for (const [name, argv] of runtimes) {
        const logname = `package.${name}`;
        await t.step(`${name}: stored, then live records`, async () => {
          for (const n of [1, 2, 3]) await append(gateway, logname, `r${n}`);
          const sub = subscriber([...argv, gateway.url, logname, "5"], project);
          await sub.until((line) => line.recno === 3);
          for (const n of [4, 5]) await append(gateway, logname, `r${n}`);
          const { code, stderr } = await sub.end();
          assert.equal(code, 0, stderr);
          const records = sub.seen.filter((line) => "recno" in line);
          assert.deepEqual(records, [1, 2, 3, 4, 5].map((n) => ({ recno: n, data: `r${n}` })));
        });
        await t.step(`${name}: a refused connection ends with GdpWsError 401`, async () => {
          const sub = subscriber([...argv, guarded.url, logname, "1"], project);
          const { code, stderr } = await sub.end();
          assert.equal(code, 1, stderr);
          const last = sub.seen.at(-1) as { error?: Record<string, unknown> };
          assert.deepEqual(last.error, {
            name: "GdpWsError",
            code: 401,
            message: "ERROR: 401 unauthenticated: a bearer token is required",
            refused: true,
          });
          assert.deepEqual(sub.seen.map((line) => line.state).filter(Boolean), [
            "reconnecting",
            "closed",
          ]);
        });
      }

      await t.step("TypeScript consumers get the package's types by its name", async () => {
        await Deno.writeTextFile(
          join(project, "typed.ts"),
          `import { connect, type GdpRecord, GdpWsError } from "${PACKAGE.name}";
const client = connect("ws://127.0.0.1:8080/", { token: "t", retryRefused: false });
client.onError((error: GdpWsError) => console.log(error.refused, error.unreachable));
const take = (record: GdpRecord): number => record.recno;
export { client, take };
`,
        );
        await run(Deno.execPath(), ["check", "--quiet", "typed.ts"], project);
        await Deno.writeTextFile(
          join(project, "mistyped.ts"),
          `import { connect } from "${PACKAGE.name}";\nconst n: number = connect("ws://x/").state;\n`,
        );
        const { success } = await new Deno.Command(Deno.execPath(), {
          args: ["check", "--quiet", "mistyped.ts"],
          cwd: project,
          stdout: "null",
          stderr: "null",
        }).output();
        assert.equal(success, false, "the declarations are what is checked, not any");
      });
    } finally {
      await gateway.stop();
      await guarded.stop();
      for (const dir of [root, data, secured]) await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("package: client/package.json has the gateway's version, exports and types", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const pkg = JSON.parse(await Deno.readTextFile(join(CLIENT_DIR, "package.json")));
  assert.equal(pkg.version, deno.version);
  assert.equal(pkg.type, "module");
  assert.equal(pkg.types, "./gdp-ws.d.ts");
  assert.deepEqual(pkg.exports["."], { types: "./gdp-ws.d.ts", default: "./gdp-ws.js" });
  assert.equal(pkg.dependencies, undefined, "nothing to fetch at install");
});
