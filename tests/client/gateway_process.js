// @ts-check
/**
 * A real gateway in a child process for tests that run under Deno and under Node alike: only
 * node: modules, so both runtimes can load it. It runs as the binary built for its data folder
 * (and token secret) runs: the compile task's grants and baked paths
 * (tests/helpers/shipped_argv.ts prints them), from outside the repository. It can be killed
 * with SIGKILL and started again on the same port and data folder, as a crashed gateway would be.
 *
 * @module
 */

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../../main.ts", import.meta.url));
const SHIPPED_ARGV = fileURLToPath(new URL("../helpers/shipped_argv.ts", import.meta.url));

/** The deno executable: this process under Deno, else $DENO or the one on PATH. */
function denoPath() {
  if ("Deno" in globalThis) return process.execPath;
  return process.env.DENO ?? "deno";
}

/**
 * @typedef {object} GatewayProcess
 * @property {string} url `ws://127.0.0.1:PORT/`
 * @property {string} http `http://127.0.0.1:PORT`
 * @property {number} port
 * @property {string} dataDir
 * @property {() => Promise<void>} kill SIGKILL, as a crash: no SHUTDOWN, no close frame
 * @property {() => Promise<void>} restart a new process on the same port and data folder
 * @property {(name: string, data: string) => Promise<number>} append POST a record; its recno
 * @property {() => Promise<void>} stop kill and remove the data folder
 */

/**
 * Starts a gateway on an ephemeral port and a fresh data folder, as the binary built for that
 * folder (and for the secret of `--auth-secret`, when `extra` gives one) runs.
 * @param {string[]} [extra] more serve flags
 * @returns {Promise<GatewayProcess>}
 */
export async function startGatewayProcess(extra = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "gdp-ws-client-"));
  const secret = extra.indexOf("--auth-secret");
  const run = shippedRun(dataDir, secret < 0 ? undefined : extra[secret + 1]);
  let child = await launch(run, 0, extra);
  const gateway = {
    url: child.url,
    http: child.url.replace(/^ws/, "http").replace(/\/$/, ""),
    port: Number(new URL(child.url).port),
    dataDir,
    kill: async () => await child.kill(),
    restart: async () => {
      await child.kill();
      child = await launch(run, gateway.port, extra);
    },
    /** @param {string} name @param {string} data */
    append: async (name, data) => {
      const response = await fetch(`${gateway.http}/logs/${encodeURIComponent(name)}`, {
        method: "POST",
        body: data,
      });
      const body = await response.json();
      if (response.status !== 201) throw new Error(`append failed: ${JSON.stringify(body)}`);
      return /** @type {number} */ (body.recno);
    },
    stop: async () => {
      await child.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return gateway;
}

/**
 * A secret file for `serve --auth-secret` and a token minted with it by `gdp-ws token`.
 * @param {string[]} claims e.g. ["--read", "tok.*", "--append", "tok.*"]
 * @returns {{ secretFile: string, token: string, remove: () => void }}
 */
export function secretAndToken(claims) {
  const dir = mkdtempSync(join(tmpdir(), "gdp-ws-secret-"));
  const secretFile = join(dir, "secret");
  writeFileSync(secretFile, "a development secret of at least 32 bytes\n");
  const args = [
    "run",
    `--allow-read=${secretFile}`,
    "--no-prompt",
    MAIN,
    "token",
    "--secret",
    secretFile,
  ];
  const token = execFileSync(denoPath(), [...args, ...claims], { encoding: "utf8" }).trim();
  return { secretFile, token, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The `deno` arguments that run what the binary built for `dataDir` (and `authSecret`) runs.
 * @param {string} dataDir
 * @param {string | undefined} authSecret
 * @returns {string[]}
 */
function shippedRun(dataDir, authSecret) {
  const args = ["run", "--allow-read", "--no-prompt", SHIPPED_ARGV, "--data", dataDir];
  if (authSecret !== undefined) args.push("--auth-secret", authSecret);
  return JSON.parse(execFileSync(denoPath(), args, { encoding: "utf8" }));
}

/**
 * @param {string[]} run `deno` arguments up to the subcommand: {@link shippedRun}
 * @param {number} port
 * @param {string[]} extra
 * @returns {Promise<{ url: string, kill: () => Promise<void> }>}
 */
function launch(run, port, extra) {
  const args = [...run, "serve", "--hostname", "127.0.0.1", "--port", String(port)];
  args.push("--log-format", "json", ...extra);
  const child = spawn(denoPath(), args, { cwd: tmpdir(), stdio: ["ignore", "ignore", "pipe"] });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return new Promise((resolve, reject) => {
    let rest = "";
    let seen = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk) => {
      seen += chunk;
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) {
        const url = urlOf(line);
        if (url) {
          resolve({
            url,
            kill: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
              await exited;
            },
          });
        }
      }
    });
    exited.then(() => reject(new Error(`gateway exited before listening: ${seen}`)));
  });
}

/** @param {string} line a JSON log line; the one announcing the address carries `url` */
function urlOf(line) {
  try {
    return JSON.parse(line).properties?.url;
  } catch {
    return undefined;
  }
}
