/** Runs main.ts as a child process, as users and the compiled binary do. */

import { fileURLToPath as fromFileUrl } from "node:url";
import { lines } from "../../src/io/lines.ts";

export const MAIN = fromFileUrl(new URL("../../main.ts", import.meta.url));
export const REPO = fromFileUrl(new URL("../..", import.meta.url));

export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `main.ts args` under `flags` to completion. */
export async function runMain(flags: string[], args: string[], stdin?: string): Promise<Output> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...flags, MAIN, ...args],
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** A gateway started with `serve --port 0 --log-format json`; `url` comes from its log. */
export interface ServeProcess {
  url: string;
  port: number;
  child: Deno.ChildProcess;
  /** Log lines so far (JSON objects; `{ raw }` for other lines). */
  logs: Record<string, unknown>[];
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number>;
  /** Settles once the process has exited and all it wrote to stderr is read. */
  exited: Promise<void>;
}

/** Flags that make a gateway's address and logs machine-readable. */
const SERVE_FOR_TEST = ["--port", "0", "--hostname", "127.0.0.1", "--log-format", "json"];

/** `deno run FLAGS main.ts serve ARGS`. */
export function serveMain(flags: string[], args: string[]): Promise<ServeProcess> {
  return serveCommand(["run", "--no-prompt", ...flags, MAIN, "serve", ...SERVE_FOR_TEST, ...args]);
}

/**
 * `sh -c 'SETUP; exec deno run FLAGS main.ts serve ARGS'`: a gateway under
 * whatever the shell set up first (`ulimit -n 256`, a mount).
 */
export function serveInShell(
  setup: string,
  flags: string[],
  args: string[],
  shell = ["sh", "-c"],
): Promise<ServeProcess> {
  const argv = ["run", "--no-prompt", ...flags, MAIN, "serve", ...SERVE_FOR_TEST, ...args];
  const quoted = [Deno.execPath(), ...argv].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  return serveCommand([...shell.slice(1), `${setup}; exec ${quoted.join(" ")}`], {
    program: shell[0]!,
  });
}

/** `deno task start -- ARGS`, as the README says. */
export function serveTask(args: string[]): Promise<ServeProcess> {
  return serveCommand(["task", "start", "--", ...SERVE_FOR_TEST, ...args]);
}

/**
 * `PROGRAM ARGV` (`deno` unless given) in `cwd` (the repository unless given),
 * as a gateway: resolves once it logs where it serves, in JSON or in the
 * default pretty format.
 */
export async function serveCommand(
  argv: string[],
  { program = Deno.execPath(), cwd = REPO }: { program?: string; cwd?: string } = {},
): Promise<ServeProcess> {
  const child = new Deno.Command(program, {
    args: argv,
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const logs: Record<string, unknown>[] = [];
  const { promise: listening, resolve, reject } = Promise.withResolvers<string>();
  const reading = (async () => {
    for await (const line of lines(child.stderr)) {
      try {
        const entry = JSON.parse(line) as { properties?: { url?: string } };
        logs.push(entry);
        if (entry.properties?.url) resolve(entry.properties.url);
      } catch {
        logs.push({ raw: line });
        const pretty = /Serving .* at "(wss?:\/\/[^"]+)"/.exec(line);
        if (pretty) resolve(pretty[1]!);
      }
    }
    reject(new Error(`gateway exited before listening: ${JSON.stringify(logs)}`));
  })();
  const url = await listening;
  return {
    url,
    port: Number(new URL(url).port),
    child,
    logs,
    stop: async () => {
      child.kill("SIGTERM");
      const { code } = await child.status;
      await reading;
      return code;
    },
    exited: Promise.all([child.status, reading]).then(() => {}),
  };
}

/** `program args` in `cwd` to completion, without colours; its exit code and output as text. */
export async function runProgram(program: string, args: string[], cwd: string): Promise<Output> {
  const out = await new Deno.Command(program, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** `child`'s exit code; one still running after `ms` is killed (SIGKILL) and said to have hung. */
export async function exitWithin(
  child: Deno.ChildProcess,
  ms: number,
): Promise<{ code: number; hung: boolean }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), ms));
  const first = await Promise.race([child.status, hung]);
  clearTimeout(timer);
  if (first === "hung") child.kill("SIGKILL");
  const { code } = await child.status;
  return { code, hung: first === "hung" };
}
