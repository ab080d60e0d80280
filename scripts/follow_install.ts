/**
 * Follows README's "Install" section, line by line, on this one machine, as
 * far as it can without the Deno runtime download that `deno compile` needs:
 *
 * - `deno task compile …` runs with `--dry-run`; the binary is a stand-in that
 *   runs the printed flags, script and baked arguments under `deno run`;
 * - the gateway host is the folder ROOT/host: absolute paths land under it
 *   (`/usr/local/bin/gdp-ws` is ROOT/host/usr/local/bin/gdp-ws), `scp` copies;
 * - `systemctl daemon-reload` checks each installed unit with
 *   `systemd-analyze verify`; `systemctl enable --now` links the unit into its
 *   target, creates its StateDirectory and starts its ExecStart from its
 *   WorkingDirectory (as this user: the DynamicUser is not emulated);
 * - `curl` runs as written, against the started service, which is then
 *   stopped with SIGTERM, as `systemctl stop` would, and must exit cleanly.
 *
 * A line it does not know how to follow is an error, so README cannot grow a
 * step that nothing checks.
 *
 *   deno run -A scripts/follow_install.ts [ROOT]
 *
 * @module
 */

import { join, resolve } from "node:path";
import { lines } from "../src/io/lines.ts";

const REPO = resolve(import.meta.dirname!, "..");
const MAIN = join(REPO, "main.ts");
const HOST_FOLDERS = ["tmp", "usr/local/bin", "usr/local/lib", "etc/systemd/system", "var/lib"];

interface Service {
  child: Deno.ChildProcess;
  log: string[];
  /** Resolves when its standard error has been read to the end. */
  done: Promise<void>;
}

interface Machine {
  /** The build machine's output folder (the stand-in binary). */
  build: string;
  /** The gateway host's "/". */
  host: string;
  standIn?: string;
  service?: Service;
}

/** The shell commands of the first `sh` block under README's `### Install`. */
export async function installSteps(): Promise<string[]> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const section = readme.split(/^### Install$/m)[1];
  const block = section?.split("```sh\n")[1]?.split("```")[0];
  if (!block) throw new Error("README has no ### Install section with a sh block");
  return block.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
}

/** Follows every step; resolves once the service has been started, queried and stopped. */
export async function followInstall(root: string): Promise<void> {
  const machine: Machine = { build: join(root, "build"), host: join(root, "host") };
  await Deno.mkdir(machine.build, { recursive: true });
  // The folders any Debian host has, that README's steps expect.
  for (const folder of HOST_FOLDERS) {
    await Deno.mkdir(join(machine.host, folder), { recursive: true });
  }
  try {
    for (const step of await installSteps()) {
      console.log(`README: ${step}`);
      console.log(`  ${await follow(machine, step.split(/\s+/))}`);
    }
  } finally {
    if (machine.service) await stop(machine.service);
  }
  if (!machine.service) throw new Error("README's install steps never started the service");
}

async function follow(m: Machine, [command, ...args]: string[]): Promise<string> {
  const line = [command, ...args].join(" ");
  if (line.startsWith("deno task compile ")) return await compile(m, args.slice(2));
  if (command === "./gdp-ws") return await run(standIn(m), args);
  if (command === "scp") return await scp(m, args);
  if (command === "install") {
    await run("install", args.map((a) => onHost(m, a)));
    return `installed ${onHost(m, args.at(-1)!)}`;
  }
  if (line === "systemctl daemon-reload") return await verifyUnits(m);
  if (line.startsWith("systemctl enable --now ")) return await enableNow(m, args[2]!);
  if (command === "curl") return await curl(args);
  throw new Error(`README's install section has a step this script does not follow: ${line}`);
}

/** An absolute path as the host folder sees it; anything else unchanged. */
function onHost(m: Machine, arg: string): string {
  return arg.startsWith("/") ? join(m.host, arg) : arg;
}

async function compile(m: Machine, args: string[]): Promise<string> {
  // The binary's baked folder and library are the host's.
  const printed = (await run(Deno.execPath(), [
    "task",
    "compile",
    ...args.map((a) => onHost(m, a)),
    "--dry-run",
  ], REPO)).trim();
  const words = printed.split(" ");
  const output = words.indexOf("--output");
  if (words[0] !== "deno" || words[1] !== "compile" || words[output + 2] !== MAIN) {
    throw new Error(`unexpected compile command: ${printed}`);
  }
  const argv = ["run", ...words.slice(2, output), MAIN, ...words.slice(output + 3)];
  m.standIn = join(m.build, words[output + 1]!);
  const quoted = [Deno.execPath(), ...argv].map((a) => `'${a.replaceAll("'", "'\\''")}'`);
  await Deno.writeTextFile(m.standIn, `#!/bin/sh\nexec ${quoted.join(" ")} "$@"\n`, {
    mode: 0o755,
  });
  return `${printed}\n  (no runtime download here: ${m.standIn} runs that under deno run)`;
}

function standIn(m: Machine): string {
  if (!m.standIn) throw new Error("README uses ./gdp-ws before compiling it");
  return m.standIn;
}

async function scp(m: Machine, args: string[]): Promise<string> {
  const target = /^root@HOST:(\/.*)$/.exec(args.at(-1)!);
  if (!target) throw new Error(`scp to an unexpected place: ${args.at(-1)}`);
  const folder = onHost(m, target[1]!);
  await Deno.mkdir(folder, { recursive: true });
  for (const file of args.slice(0, -1)) {
    const from = file === "gdp-ws" ? standIn(m) : join(REPO, file);
    const to = join(folder, file.split("/").at(-1)!);
    await Deno.copyFile(from, to);
    if (file === "gdp-ws") await Deno.chmod(to, 0o755);
  }
  return `copied to ${folder}`;
}

/** Each installed unit, with its paths on the host folder, through `systemd-analyze verify`. */
async function verifyUnits(m: Machine): Promise<string> {
  const units = join(m.host, "etc/systemd/system");
  const checked: string[] = [];
  for await (const entry of Deno.readDir(units)) {
    if (!entry.isFile || !entry.name.endsWith(".service")) continue;
    const unit = await Deno.readTextFile(join(units, entry.name));
    const exec = unitValue(unit, "ExecStart").split(" ");
    const copy = join(m.build, entry.name);
    const execOnHost = [onHost(m, exec[0]!), ...exec.slice(1)].join(" ");
    await Deno.writeTextFile(copy, unit.replace(/^ExecStart=.*$/m, `ExecStart=${execOnHost}`));
    const out = await new Deno.Command("systemd-analyze", {
      args: ["verify", copy],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const complaints = new TextDecoder().decode(out.stderr).trim();
    if (out.code !== 0 || complaints) {
      throw new Error(`systemd-analyze verify ${entry.name}: ${complaints || `exit ${out.code}`}`);
    }
    checked.push(entry.name);
  }
  if (checked.length === 0) throw new Error(`no unit installed in ${units}`);
  return `systemd-analyze verify: ${checked.join(", ")} clean`;
}

async function enableNow(m: Machine, name: string): Promise<string> {
  const file = join(m.host, "etc/systemd/system", `${name}.service`);
  const unit = await Deno.readTextFile(file);
  const wants = join(m.host, "etc/systemd/system", `${unitValue(unit, "WantedBy")}.wants`);
  await Deno.mkdir(wants, { recursive: true });
  await Deno.symlink(file, join(wants, `${name}.service`));
  const state = join(m.host, "var/lib", unitValue(unit, "StateDirectory"));
  await Deno.mkdir(state, { recursive: true, mode: 0o750 });
  const [program, ...args] = unitValue(unit, "ExecStart").split(" ");
  const child = new Deno.Command(onHost(m, program!), {
    args,
    cwd: onHost(m, unitValue(unit, "WorkingDirectory")),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const log: string[] = [];
  const serving = Promise.withResolvers<string>();
  const done = (async () => {
    for await (const line of lines(child.stderr)) {
      log.push(line);
      if (line.includes("Serving")) serving.resolve(line);
    }
    serving.reject(new Error(`${name} exited before serving:\n${log.join("\n")}`));
  })();
  m.service = { child, log, done };
  return `${wants}/${name}.service linked; started: ${await serving.promise}`;
}

async function curl(args: string[]): Promise<string> {
  const body = await run("curl", args);
  const state = (JSON.parse(body) as { state?: string }).state;
  if (state !== "ok") throw new Error(`the service is not ready: ${body}`);
  return body.trim();
}

async function stop(service: Service): Promise<void> {
  service.child.kill("SIGTERM");
  const { code } = await service.child.status;
  await service.done;
  console.log(`systemctl stop (SIGTERM): exit ${code}, last line: ${service.log.at(-1)}`);
  if (code !== 0) throw new Error(`the service did not stop cleanly:\n${service.log.join("\n")}`);
}

/** The value of `key=` in a unit file (the last one, as systemd reads it). */
function unitValue(unit: string, key: string): string {
  const values = [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]!);
  if (values.length === 0) throw new Error(`the unit has no ${key}=`);
  return values.at(-1)!;
}

/** Runs a command to completion; its standard output, or an error with both outputs. */
async function run(program: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(program, {
    args,
    ...(cwd ? { cwd } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (out.code !== 0) {
    throw new Error(
      `${program} ${args.join(" ")}: exit ${out.code}\n${text.decode(out.stdout)}${
        text.decode(out.stderr)
      }`,
    );
  }
  return text.decode(out.stdout);
}

if (import.meta.main) {
  const root = Deno.args[0] ?? await Deno.makeTempDir({ prefix: "gdp-ws-install-" });
  await followInstall(root);
  console.log(`followed README's install section; the host's files are in ${join(root, "host")}`);
}
