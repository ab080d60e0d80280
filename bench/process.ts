/**
 * Child processes of the benchmark: spawning with a raised file-descriptor
 * limit (10,000 sockets need more than the usual 1,024), JSON-line children,
 * stopping, and small waits with deadlines.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { lines } from "../src/io/lines.ts";
import { sleep } from "./common.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** bench/ has its own config: the NATS client is not a dependency of the gateway. */
export const BENCH_CONFIG = fileURLToPath(new URL("./deno.json", import.meta.url));

let fdLimit: number | undefined;

/** The hard limit on open files; every child runs with its soft limit raised to it. */
export async function hardFdLimit(): Promise<number> {
  return fdLimit ??= Number(await output("sh", ["-c", "ulimit -Hn"])) || 1024;
}

/** `Deno.Command` for `cmd args`, run through `sh` with the soft fd limit raised to the hard one. */
export async function command(
  cmd: string,
  args: string[],
  options: Omit<Deno.CommandOptions, "args">,
): Promise<Deno.Command> {
  const limit = await hardFdLimit();
  return new Deno.Command("sh", {
    ...options,
    args: ["-c", 'ulimit -n "$0" 2>/dev/null; exec "$@"', String(limit), cmd, ...args],
  });
}

/** A child whose stdout is JSON lines: waits for events, writes lines to its stdin. */
export class JsonProcess {
  readonly child: Deno.ChildProcess;
  readonly #lines: Record<string, unknown>[] = [];
  readonly #waiters = new Set<() => void>();
  #writing: Promise<void> = Promise.resolve();
  readonly #handlers = new Map<string, (line: Record<string, unknown>) => void>();
  #exited = false;
  #stderr = "";

  private constructor(child: Deno.ChildProcess) {
    this.child = child;
    const reading = this.#read();
    void this.#readErr();
    // Exited only once its last lines are read too: status can settle before stdout drains.
    Promise.all([this.child.status, reading]).finally(() => {
      this.#exited = true;
      this.#wake();
    });
  }

  /** `deno run ARGS` with bench/'s config and a raised fd limit. */
  static async deno(args: string[]): Promise<JsonProcess> {
    const extra = Deno.env.get("BENCH_CLIENT_FLAGS")?.split(" ").filter(Boolean) ?? [];
    const cmd = await command(
      Deno.execPath(),
      ["run", "--config", BENCH_CONFIG, ...extra, ...args],
      {
        cwd: ROOT,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      },
    );
    return new JsonProcess(cmd.spawn());
  }

  get pid(): number {
    return this.child.pid;
  }

  /** The next line whose `event` is `event`; throws after `timeoutMs` or if the child exits. */
  async next<T>(event: string, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const at = this.#lines.findIndex((line) => line.event === event);
      if (at >= 0) return this.#lines.splice(at, 1)[0] as T;
      const failed = this.#lines.find((line) => line.event === "failed");
      if (failed) throw new Error(`child failed: ${failed.error}`);
      const left = deadline - performance.now();
      if (this.#exited || left <= 0) {
        const why = this.#exited ? "exited" : `gave no "${event}" within ${timeoutMs} ms`;
        throw new Error(`child ${why}: ${this.#stderr.slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }

  /** Hands every line whose `event` is `event` to `handler` instead of queueing it. */
  on(event: string, handler: (line: Record<string, unknown>) => void): void {
    this.#handlers.set(event, handler);
  }

  /** Writes one line to the child's stdin. */
  send(line: string): Promise<void> {
    // One write at a time: a second writer on the locked stream would throw.
    const write = async () => {
      const writer = this.child.stdin.getWriter();
      try {
        await writer.write(new TextEncoder().encode(`${line}\n`));
      } finally {
        writer.releaseLock();
      }
    };
    const sent = this.#writing.then(write);
    this.#writing = sent.catch(() => {});
    return sent;
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }

  async #read(): Promise<void> {
    for await (const line of lines(this.child.stdout)) {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.#stderr += `${line}\n`;
        continue;
      }
      const handler = this.#handlers.get(String(parsed.event));
      if (handler) handler(parsed);
      else this.#lines.push(parsed);
      this.#wake();
    }
  }

  async #readErr(): Promise<void> {
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.#stderr = (this.#stderr + chunk).slice(-8000);
    }
  }
}

/** SIGTERM, then SIGKILL after 5 s. */
export async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return;
  }
  const exited = await Promise.race([child.status.then(() => true), sleep(5_000)]);
  if (!exited) {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone meanwhile.
    }
    await child.status;
  }
}

export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** The trimmed stdout (or stderr, when stdout is empty) of a command that succeeded. */
export async function output(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const { code, stdout, stderr } = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (code !== 0) return undefined;
    const text = new TextDecoder().decode(stdout).trim();
    return text || new TextDecoder().decode(stderr).trim();
  } catch {
    return undefined;
  }
}

/** Polls `check` every 20 ms until it is true; throws after `timeoutMs`. */
export async function until(
  what: string,
  timeoutMs: number,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // Not up yet.
    }
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function getJson(url: string): Promise<Record<string, unknown>> {
  const response = await fetch(url);
  return await response.json();
}
