/**
 * Follows README's "Install" section, line by line, on this one machine: each
 * `sh` block (from a release, then from source) on a gateway host of its own,
 * ROOT/1/host, ROOT/2/host, as far as it can without downloads from outside:
 *
 * - `curl -fLO` of a release file: no release can be downloaded here, so the
 *   release job of .github/workflows/release.yml is rehearsed
 *   (scripts/release_rehearsal.ts) and the file comes from its output; the
 *   URL must name deno.json's version;
 * - `deno task compile …` runs with `--dry-run`, since `deno compile` would
 *   download the Deno runtime; a binary, the release's or the compiled one, is
 *   a stand-in that runs the printed flags, script and baked arguments under
 *   `deno run` (scripts/stand_in.ts);
 * - the gateway host is a folder: absolute paths land under it
 *   (`/usr/local/bin/gdp-ws` is ROOT/N/host/usr/local/bin/gdp-ws, and so are the
 *   paths a release binary was built for), `cd` moves within it, `scp` copies;
 * - `sha256sum`, `tar` and `install` run as written, in that folder;
 * - `systemctl daemon-reload` checks each installed unit with
 *   `systemd-analyze verify`; `systemctl enable --now` links the unit into its
 *   target, creates its StateDirectory and starts its ExecStart from its
 *   WorkingDirectory (as this user: the DynamicUser is not emulated);
 * - `curl -s` runs as written, against the started service, which is then
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
import { rehearseRelease } from "./release_rehearsal.ts";
import { parseCompile, writeStandIn } from "./stand_in.ts";

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
  /** This block's folder: the rehearsed release goes under it. */
  root: string;
  /** The build machine's output folder (the stand-in binary). */
  build: string;
  /** The gateway host's "/". */
  host: string;
  /** The working folder on the host, as the host sees it. */
  cwd: string;
  standIn?: string;
  /** The rehearsed release job's files. */
  release?: string;
  service?: Service;
}

/** The shell commands of each `sh` block under README's `### Install`. */
export async function installBlocks(): Promise<string[][]> {
  const readme = await Deno.readTextFile(join(REPO, "README.md"));
  const section = readme.split(/^### Install$/m)[1]?.split(/^## /m)[0] ?? "";
  const blocks = section.split("```sh\n").slice(1).map((b) =>
    b.split("```")[0]!.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
  );
  if (blocks.length === 0) throw new Error("README has no ### Install section with a sh block");
  return blocks;
}

/** Every step of README's install section, block after block. */
export async function installSteps(): Promise<string[]> {
  return (await installBlocks()).flat();
}

/** Follows every block; resolves once each has started, queried and stopped its service. */
export async function followInstall(root: string): Promise<void> {
  for (const [index, steps] of (await installBlocks()).entries()) {
    const folder = join(root, `${index + 1}`);
    const machine: Machine = {
      root: folder,
      build: join(folder, "build"),
      host: join(folder, "host"),
      cwd: "/",
    };
    await Deno.mkdir(machine.build, { recursive: true });
    // The folders any Debian host has, that README's steps expect.
    for (const host of HOST_FOLDERS) {
      await Deno.mkdir(join(machine.host, host), { recursive: true });
    }
    console.log(`README's install, way ${index + 1}, on the host ${machine.host}`);
    try {
      for (const step of steps) {
        console.log(`README: ${step}`);
        const result = await follow(machine, step.split(/\s+/));
        console.log(`  ${result.trimEnd().replaceAll("\n", "\n  ")}`);
      }
    } finally {
      if (machine.service) await stop(machine.service);
    }
    if (!machine.service) {
      throw new Error(`README's install way ${index + 1} never started the service`);
    }
  }
}

async function follow(m: Machine, [command, ...args]: string[]): Promise<string> {
  const line = [command, ...args].join(" ");
  const here = onHost(m, m.cwd);
  if (line.startsWith("deno task compile ")) return await compile(m, args.slice(2));
  if (command === "./gdp-ws") return await run(standIn(m), args);
  if (command === "gdp-ws") return await run(onHost(m, "/usr/local/bin/gdp-ws"), args);
  if (command === "scp") return await scp(m, args);
  if (command === "cd" && args.length === 1 && args[0]!.startsWith("/")) {
    m.cwd = args[0]!;
    return `in ${onHost(m, m.cwd)}`;
  }
  if (command === "curl" && args[0] === "-fLO" && args.length === 2) {
    return await download(m, args[1]!);
  }
  if (command === "sha256sum" || command === "tar") {
    return (await run(command, args.map((a) => onHost(m, a)), here)).trim() || `${command}: done`;
  }
  if (command === "install") {
    await run("install", args.map((a) => onHost(m, a)), here);
    return `installed ${onHost(m, args.at(-1)!)}`;
  }
  if (line === "systemctl daemon-reload") return await verifyUnits(m);
  if (line.startsWith("systemctl enable --now ")) return await enableNow(m, args[2]!);
  if (command === "curl" && args[0] === "-s") return await curl(args);
  throw new Error(`README's install section has a step this script does not follow: ${line}`);
}

/** An absolute path as the host folder sees it; anything else unchanged. */
function onHost(m: Machine, arg: string): string {
  return arg.startsWith("/") ? join(m.host, arg) : arg;
}

/**
 * A file of the release that deno.json's version would be: no release can be
 * downloaded here, so the release job is rehearsed once and the file taken
 * from what it would publish. Its binaries use their paths under the host.
 */
async function download(m: Machine, url: string): Promise<string> {
  const { version } = JSON.parse(await Deno.readTextFile(join(REPO, "deno.json")));
  const escaped = String(version).replaceAll(".", "\\.");
  const file = new RegExp(
    `^https://github\\.com/[^/]+/gdp-ws/releases/download/v${escaped}/([^/]+)$`,
  ).exec(url)?.[1];
  if (!file) throw new Error(`README downloads ${url}, not a file of v${version} (deno.json's)`);
  if (!m.release) {
    const rehearsal = await rehearseRelease(join(m.root, "release"), {
      releaseUnreleased: true,
      hostRoot: m.host,
    });
    if (rehearsal.failed) {
      throw new Error(
        `the rehearsed release job failed at "${rehearsal.failed.name}":\n${rehearsal.failed.output}`,
      );
    }
    m.release = join(rehearsal.workspace, "dist");
  }
  const published = join(m.release, file);
  await Deno.copyFile(published, join(onHost(m, m.cwd), file)).catch((error) => {
    throw new Error(`the release job publishes no ${file}`, { cause: error });
  });
  return `(no download here: ${file} is what the rehearsed release job would publish, ` +
    `from ${m.release})`;
}

async function compile(m: Machine, args: string[]): Promise<string> {
  // The binary's baked folder and library are the host's.
  const printed = (await run(Deno.execPath(), [
    "task",
    "compile",
    ...args.map((a) => onHost(m, a)),
    "--dry-run",
  ], REPO)).trim();
  if (!printed.includes(` ${MAIN} `)) throw new Error(`unexpected compile command: ${printed}`);
  m.standIn = join(m.build, parseCompile(printed).output);
  await writeStandIn(printed, m.standIn);
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
  console.log(`followed README's install section; the hosts' files are in ${root}/N/host`);
}
