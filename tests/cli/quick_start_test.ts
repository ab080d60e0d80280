/**
 * README's Quick start, followed as written in a fresh copy of the repository (its tracked files
 * only, no ./data), with only the port changed: the gateway from `deno task start`, then every
 * command of the next two `sh` blocks (the CLI's appends, `ls` and `tail`, then `curl`), with
 * GDP_WS_URL naming the port, as the README says to. A line the test does not know how to follow
 * fails it, so the section cannot grow a step nobody ran. (The websocat block after them is a
 * third-party tool's, and is not run.)
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { lines } from "../../src/io/lines.ts";
import { REPO, serveCommand } from "../helpers/process.ts";

Deno.test.sanitizer({ ops: true, resources: true });

/** The `sh` blocks of README's `## Quick start`, as lists of command lines. */
async function quickStartBlocks(): Promise<string[][]> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const start = readme.indexOf("\n## Quick start\n");
  assert.ok(start >= 0, "README has a ## Quick start section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
  );
}

/** A copy of the repository's tracked (and new, not ignored) files: a fresh clone. */
async function freshClone(): Promise<string> {
  const { stdout } = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: REPO,
    stdout: "piped",
  }).output();
  const clone = await Deno.makeTempDir({ prefix: "gdp-ws-clone-" });
  for (const file of new TextDecoder().decode(stdout).split("\0").filter(Boolean)) {
    try {
      await Deno.mkdir(join(clone, dirname(file)), { recursive: true });
      await Deno.copyFile(join(REPO, file), join(clone, file));
    } catch (error) {
      // A file deleted in the work tree but not yet in the index is not in a clone either.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return clone;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** `deno ARGS…` of a README line, with this test's deno. */
function denoArgs(line: string): string[] {
  const [program, ...args] = line.split(/\s+/);
  assert.equal(program, "deno", `a line this test can follow: ${line}`);
  return args;
}

Deno.test("README's quick start works as written from a fresh clone (port changed)", async () => {
  const [startBlock, cliBlock, curlBlock] = await quickStartBlocks();
  assert.deepEqual(startBlock, ["deno task start"]);
  assert.ok(cliBlock && curlBlock, "the CLI and curl blocks follow it");
  const clone = await freshClone();
  const port = freePort();
  const env = { GDP_WS_URL: `ws://127.0.0.1:${port}/`, NO_COLOR: "1" };
  // Only the port changes (and the address: loopback, as a test's gateway should listen).
  // needs more: README's quick start is `deno task start`, whose flags are deno.json's
  const gateway = await serveCommand(
    [...denoArgs(startBlock[0]!), "--", "--port", String(port), "--hostname", "127.0.0.1"],
    { cwd: clone },
  );
  let tail: Deno.ChildProcess | undefined;
  try {
    const outputs: string[] = [];
    let tailLines: AsyncIterator<string> | undefined;
    for (const line of cliBlock) {
      const args = denoArgs(line);
      if (args[2] === "tail") {
        tail = new Deno.Command(Deno.execPath(), {
          args,
          cwd: clone,
          env,
          stdout: "piped",
          stderr: "null",
        }).spawn();
        tailLines = lines(tail.stdout)[Symbol.asyncIterator]();
        continue;
      }
      const run = await new Deno.Command(Deno.execPath(), { args, cwd: clone, env }).output();
      const text = new TextDecoder();
      assert.equal(run.code, 0, `${line}: ${text.decode(run.stderr)}`);
      outputs.push(text.decode(run.stdout));
    }
    assert.deepEqual(outputs, ["1\n", "edu.berkeley.demo.temp\t1\n"]);
    assert.ok(tail && tailLines, "the block follows the log with tail");
    assert.match((await tailLines.next()).value ?? "", /^1\t\d{4}-.*Z\t21\.5$/);
    for (const line of curlBlock) {
      assert.match(line, /^curl /, `a line this test can follow: ${line}`);
      const command = line.replaceAll("localhost:8080", `localhost:${port}`);
      const run = await new Deno.Command("sh", { args: ["-c", command], cwd: clone }).output();
      assert.equal(run.code, 0, command);
    }
    assert.match((await tailLines.next()).value ?? "", /^2\t\d{4}-.*Z\t21\.7$/, "tail shows it");
    tail.kill("SIGINT"); // Ctrl-C
    await tailLines.return?.(undefined);
    await tail.status;
    tail = undefined;
    const stored = await Deno.stat(join(clone, "data", "gdp-ws.sqlite"));
    assert.ok(stored.isFile, "the records went to the gateway's ./data");
  } finally {
    if (tail) {
      tail.kill("SIGKILL");
      await tail.stdout.cancel().catch(() => {});
      await tail.status;
    }
    await gateway.stop();
    await Deno.remove(clone, { recursive: true });
  }
});
