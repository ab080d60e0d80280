/**
 * The CLI as a client of a running gateway (a real process under the binary's grants, from
 * serveShipped), run as `deno task cli` runs it (its flags, read from deno.json) from a folder
 * of its own: appends and creates reach the gateway it names, not a ./data next to it; `ls`
 * pages; every failure is one line with its exit code (3 nothing answers, 4 refused); `tail`
 * waits, prints JSON and ends with its reader; `read` prints a range by recno or time.
 */

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { formatRfc3339 } from "../../src/core/time.ts";
import { lines } from "../../src/io/lines.ts";
import { exitWithin, MAIN } from "../helpers/process.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { serveShipped } from "../helpers/shipped.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** The permission flags of `deno task cli`, as deno.json gives them. */
const CLI_FLAGS = await (async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks as Record<string, string>;
  const words = tasks.cli!.split(/\s+/);
  assert.equal(words.at(-1), "main.ts");
  return words.slice(2, -1);
})();

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

interface CliOptions {
  env?: Record<string, string>;
  stdin?: string;
  /** Working directory: a fresh one by default, so a stray ./data would be seen. */
  cwd?: string;
}

/** `deno task cli ARGS`, to completion. */
async function cli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const child = command(args, options, options.stdin === undefined ? "null" : "piped").spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

function command(args: string[], options: CliOptions, stdin: "null" | "piped") {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...CLI_FLAGS, MAIN, ...args],
    cwd: options.cwd ?? workDir,
    env: { NO_COLOR: "1", ...options.env },
    clearEnv: true,
    stdin,
    stdout: "piped",
    stderr: "piped",
  });
}

/** One line on standard error, starting `gdp-ws: `. */
function oneLine(run: CliRun, pattern: RegExp): void {
  const stderr = run.stderr.trimEnd();
  assert.equal(stderr.split("\n").length, 1, `one line: ${run.stderr}`);
  assert.match(stderr, pattern);
}

/** A port nothing listens on. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function withGateway(
  args: string[],
  fn: (gateway: ServeProcess, data: string) => Promise<void>,
  paths: { authSecret?: string } = {},
): Promise<void> {
  const data = await Deno.makeTempDir({ prefix: "gdp-ws-cli-gw-" });
  const gateway = await serveShipped({ data, ...paths }, args);
  try {
    await fn(gateway, data);
  } finally {
    await gateway.stop();
    await Deno.remove(data, { recursive: true });
  }
}

let workDir = "";

async function inWorkDir(fn: () => Promise<void>): Promise<void> {
  workDir = await Deno.makeTempDir({ prefix: "gdp-ws-cli-cwd-" });
  try {
    await fn();
    assert.ok(!existsSync(join(workDir, "data")), "nothing was written to a ./data of its own");
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
}

Deno.test("cli: create, append, info and ls go to the gateway --url or GDP_WS_URL names", async () => {
  await inWorkDir(() =>
    withGateway([], async (gateway) => {
      const url = gateway.url;
      const created = await cli(["create", "cli.made", "--url", url]);
      assert.equal(created.code, 0, created.stderr);
      assert.equal(JSON.parse(created.stdout).count, 0);
      const one = await cli(["append", "cli.temp", "21.5", "--url", url]);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(one.stdout, "1\n");
      const http = url.replace(/^ws/, "http");
      const many = await cli(["append", "cli.temp"], {
        env: { GDP_WS_URL: http },
        stdin: "21.7\n21.9\n",
      });
      assert.equal(many.code, 0, many.stderr);
      assert.equal(many.stdout, "2\n3\n");
      // The gateway has them: its own HTTP API says so.
      const info = await (await fetch(`${http}logs/cli.temp`)).json();
      assert.equal(info.count, 3);
      const shown = await cli(["info", "cli.temp", "--url", url]);
      assert.equal(JSON.parse(shown.stdout).count, 3);
      const listed = await cli(["ls", "--url", url]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal(listed.stdout, "cli.made\t0\ncli.temp\t3\n");
      const json = await cli(["ls", "--json"], { env: { GDP_WS_URL: url } });
      assert.deepEqual(json.stdout.trim().split("\n").map((l) => JSON.parse(l).human), [
        "cli.made",
        "cli.temp",
      ]);
      const missing = await cli(["info", "no.such.log", "--url", url]);
      assert.equal(missing.code, 1);
      oneLine(missing, /^gdp-ws: ERROR: 600 no route available/);
    })
  );
});

Deno.test("cli: ls follows GET /logs's Link pages; --data opens a store and only then", async () => {
  await inWorkDir(() =>
    withGateway(["--max-list-logs", "2"], async (gateway, data) => {
      for (const n of [1, 2, 3, 4, 5]) {
        assert.equal((await cli(["append", `page.${n}`, "x", "--url", gateway.url])).code, 0);
      }
      const listed = await cli(["ls", "--url", gateway.url]);
      assert.equal(listed.stdout, [1, 2, 3, 4, 5].map((n) => `page.${n}\t1\n`).join(""));
      const both = await cli(["ls", "--data", data, "--url", gateway.url]);
      assert.equal(both.code, 2);
      oneLine(both, /^gdp-ws: --data works on a store directly; it does not go with --url$/);
      // The store the gateway serves, opened directly (SQLite lets both at once).
      const direct = await cli(["ls", "--data", data]);
      assert.equal(direct.code, 0, direct.stderr);
      assert.equal(direct.stdout, listed.stdout);
    })
  );
});

Deno.test("cli: a gateway that is not there is exit 3, a refusal exit 4, each in one line", async () => {
  await inWorkDir(async () => {
    const port = freePort();
    const nowhere = `ws://127.0.0.1:${port}/`;
    for (const args of [["append", "x", "1"], ["ls"], ["create", "x"], ["info", "x"]]) {
      const run = await cli([...args, "--url", nowhere]);
      assert.equal(run.code, 3, `${args[0]}: ${run.stderr}`);
      oneLine(
        run,
        new RegExp(`^gdp-ws: cannot connect to http://127.0.0.1:${port}/: connection refused`),
      );
    }
    // With no --url and no GDP_WS_URL, the local default (nothing listens on 8080 here, or
    // something does: either way it is the gateway tried).
    const tail = await cli(["tail", "x", "--url", nowhere]);
    assert.equal(tail.code, 3, tail.stderr);
    oneLine(
      tail,
      new RegExp(`^gdp-ws: cannot connect to ws://127.0.0.1:${port}/: connection refused$`),
    );

    const secretDir = await Deno.makeTempDir();
    const secret = join(secretDir, "secret");
    await Deno.writeTextFile(secret, "a development secret of at least 32 bytes\n");
    try {
      await withGateway(["--auth-secret", secret], async (gateway) => {
        const url = gateway.url;
        const http = url.replace(/^ws/, "http");
        const append = await cli(["append", "tok.a", "1", "--url", url]);
        assert.equal(append.code, 4);
        oneLine(
          append,
          new RegExp(
            `^gdp-ws: refused by ${http}: ERROR: 401 unauthenticated: a bearer token is required ` +
              "\\(pass --token or set GDP_WS_TOKEN\\)$",
          ),
        );
        const tail = await cli(["tail", "tok.a", "--url", url]);
        assert.equal(tail.code, 4);
        oneLine(tail, /^gdp-ws: refused by ws:.* a bearer token is required \(pass --token/);
        const bad = await cli(["tail", "tok.a", "--url", url, "--token", "nope"]);
        assert.equal(bad.code, 4);
        oneLine(bad, /401 unauthenticated: the token is malformed$/);

        const minted = await cli(
          ["token", "--secret", secret, "--read", "tok.*", "--append", "tok.a"],
        );
        const token = minted.stdout.trim();
        const env = { GDP_WS_URL: url, GDP_WS_TOKEN: token };
        assert.equal((await cli(["append", "tok.a", "21.5"], { env })).stdout, "1\n");
        const outside = await cli(["append", "tok.b", "1"], { env });
        assert.equal(outside.code, 4);
        oneLine(outside, /403 forbidden: the token does not allow appending to tok\.b$/);
        const read = await cli(["tail", "tok.a", "--count", "1"], { env });
        assert.equal(read.code, 0, read.stderr);
        assert.match(read.stdout, /^1\t.*\t21\.5\n$/);
      }, { authSecret: secret });
    } finally {
      await Deno.remove(secretDir, { recursive: true });
    }
  });
});

/** A running `tail`: its output lines as they come, and its end. */
function spawnTail(args: string[]) {
  const child = command(["tail", ...args], {}, "null").spawn();
  const out: string[] = [];
  let errText = "";
  const stderr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errText += chunk;
    return errText;
  })();
  const reader = lines(child.stdout)[Symbol.asyncIterator]();
  return {
    child,
    out,
    /** Reads lines until `n` have come. */
    async read(n: number): Promise<void> {
      while (out.length < n) {
        const next = await reader.next();
        if (next.done) assert.fail(`tail ended after ${out.length} lines: ${await stderr}`);
        out.push(next.value);
      }
    },
    /** Waits until standard error says `pattern` (or tail ends without saying it). */
    async untilStderr(pattern: RegExp): Promise<void> {
      let exited = false;
      void child.status.then(() => exited = true);
      while (!pattern.test(errText)) {
        if (exited) assert.fail(`tail ended without saying ${pattern}: ${await stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    /** Stops reading, as `head` does: the pipe's reader goes away. */
    async hangUp(): Promise<void> {
      await reader.return(undefined);
    },
    /** Its exit; one still running after 30 s (a tail that missed its closed pipe) is killed. */
    async end(): Promise<{ code: number; stderr: string }> {
      const { code, hung } = await exitWithin(child, 30_000);
      // What was not read is dropped: by the reader once reading began, else at the pipe.
      if (child.stdout.locked) await reader.return(undefined);
      else await child.stdout.cancel();
      assert.ok(!hung, `tail did not end: ${await stderr}`);
      return { code, stderr: await stderr };
    },
  };
}

Deno.test("cli: tail --wait waits for a log, --json prints datums, a closed pipe ends it quietly", async () => {
  await inWorkDir(() =>
    withGateway([], async (gateway) => {
      const url = gateway.url;
      const http = url.replace(/^ws/, "http");
      const append = async (name: string, data: string) => {
        const response = await fetch(`${http}logs/${name}`, { method: "POST", body: data });
        assert.equal(response.status, 201);
        await response.body?.cancel();
      };
      const missing = await cli(["tail", "not.yet", "--url", url]);
      assert.equal(missing.code, 1);
      oneLine(missing, /^gdp-ws: ERROR: 600 no route available/);

      const waiting = spawnTail(["later.log", "--wait", "--json", "--count", "2", "--url", url]);
      // Created after tail found it missing: --wait keeps asking.
      await waiting.untilStderr(/waiting for later\.log to be created/);
      await append("later.log", "21.5");
      await append("later.log", "not utf-8? no, text");
      await waiting.read(2);
      const done = await waiting.end();
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stderr, /waiting for later\.log to be created/);
      const [first, second] = waiting.out.map((line) => JSON.parse(line));
      assert.deepEqual(Object.keys(first), ["recno", "data", "ts"]);
      assert.equal(first.recno, 1);
      assert.equal(first.data, "21.5");
      assert.equal(typeof first.ts.tv_sec, "number");
      assert.equal(second.recno, 2);

      // `tail | head -2`: once the reader has gone, the next record ends tail, status 0, silent.
      const piped = spawnTail(["later.log", "--start", "1", "--url", url]);
      await piped.read(2);
      await piped.hangUp();
      for (let n = 3; n <= 5; n++) await append("later.log", `r${n}`);
      const ended = await piped.end();
      assert.equal(ended.code, 0);
      assert.equal(ended.stderr, "");
    })
  );
});

Deno.test("cli: tail --retry keeps trying with the reason each time", async () => {
  await inWorkDir(async () => {
    const port = freePort();
    const retrying = spawnTail(["x", "--retry", "--url", `ws://127.0.0.1:${port}/`]);
    // Two failed attempts, each reported, and it is still at it: then stop it.
    await retrying.untilStderr(/retrying\n[^]*retrying\n/);
    retrying.child.kill("SIGTERM");
    const { code, stderr } = await retrying.end();
    assert.equal(code, 143, "it was still retrying when stopped (SIGTERM)");
    const reasons = stderr.trim().split("\n");
    assert.ok(reasons.length >= 2, `several attempts: ${stderr}`);
    for (const reason of reasons) {
      assert.match(
        reason,
        new RegExp(
          `^gdp-ws: cannot connect to ws://127.0.0.1:${port}/: connection refused; retrying$`,
        ),
      );
    }
  });
});

Deno.test("cli: read prints a range by recno or by time, every page; tail --since starts at a time", async () => {
  await inWorkDir(() =>
    withGateway(["--max-page-records", "3"], async (gateway) => {
      const url = gateway.url;
      const http = url.replace(/^ws/, "http");
      for (let n = 1; n <= 10; n++) {
        const response = await fetch(`${http}logs/cli.range`, { method: "POST", body: `r${n}` });
        assert.equal(response.status, 201);
        await response.body?.cancel();
      }
      const stored = await (await fetch(`${http}logs/cli.range/records?limit=3`)).json();
      assert.equal(stored.length, 3, "the gateway's pages hold 3");
      const at = async (recno: number) => {
        const [record] = await (await fetch(`${http}logs/cli.range/records?start=${recno}&count=1`))
          .json();
        return formatRfc3339({ sec: record.ts.tv_sec, nsec: record.ts.tv_nsec });
      };
      const recnos = (run: CliRun) =>
        run.stdout.trim().split("\n").map((l) => Number(l.split("\t")[0]));

      const all = await cli(["read", "cli.range", "--url", url]);
      assert.equal(all.code, 0, all.stderr);
      assert.deepEqual(recnos(all), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "four pages of 3, followed");
      assert.match(all.stdout.split("\n")[0]!, /^1\t\d{4}-\d\d-\d\dT[\d:.]+Z\tr1$/);
      assert.deepEqual(
        recnos(await cli(["read", "cli.range", "--start", "4", "--count", "3", "--url", url])),
        [4, 5, 6],
      );
      assert.deepEqual(recnos(await cli(["read", "cli.range", "--start=-2", "--url", url])), [
        9,
        10,
      ]);
      const window = await cli([
        "read",
        "cli.range",
        "--since",
        await at(4),
        "--until",
        await at(8),
        "--json",
        "--url",
        url,
      ]);
      assert.equal(window.code, 0, window.stderr);
      const datums = window.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(datums.map((d) => d.recno), [4, 5, 6, 7], "since included, until not");
      assert.deepEqual(Object.keys(datums[0]), ["recno", "data", "ts"]);
      assert.deepEqual(
        recnos(await cli(["read", "cli.range", "--since", "1h", "--count", "5", "--url", url])),
        [1, 2, 3, 4, 5],
      );
      assert.equal(
        (await cli(["read", "cli.range", "--since", "1m", "--until", "59s", "--url", url])).stdout,
        "",
      );

      const yesterday = await cli(["read", "cli.range", "--since", "yesterday", "--url", url]);
      assert.equal(yesterday.code, 2);
      oneLine(
        yesterday,
        /^gdp-ws: --since must be a duration ago \(15m, 2h30m, 7d\) or an RFC 3339 time/,
      );
      const both = await cli(["read", "cli.range", "--since", "1h", "--start", "1", "--url", url]);
      assert.equal(both.code, 2);
      oneLine(both, /--since and --start exclude each other/);
      const missing = await cli(["read", "no.such.log", "--url", url]);
      assert.equal(missing.code, 1);
      oneLine(missing, /^gdp-ws: ERROR: 600 no route available/);

      const tail = await cli([
        "tail",
        "cli.range",
        "--since",
        await at(8),
        "--count",
        "3",
        "--url",
        url,
      ]);
      assert.equal(tail.code, 0, tail.stderr);
      assert.deepEqual(recnos(tail), [8, 9, 10]);
      const tailBoth = await cli([
        "tail",
        "cli.range",
        "--since",
        "1h",
        "--start",
        "1",
        "--url",
        url,
      ]);
      assert.equal(tailBoth.code, 2);
    })
  );
});
