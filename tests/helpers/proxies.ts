/**
 * Real reverse proxies in front of gateways, run from the files in deploy/
 * with only their ports, upstream addresses and certificate paths
 * substituted: nginx (`-g "daemon off;"`), HAProxy (`-db`) and Caddy
 * (`caddy run`), each a child process of the test on free ports, with a
 * throwaway certificate authority made by `openssl` for `gw.example.org`.
 * Clients reach them over TLS with {@linkcode tlsConnect}.
 *
 * @module
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { lines } from "../../src/io/lines.ts";

export type ProxyKind = "nginx" | "haproxy" | "caddy";

/** The public name every deploy file serves. */
export const PUBLIC_NAME = "gw.example.org";

const DEPLOY = fileURLToPath(new URL("../../deploy/", import.meta.url));

/** Each proxy: its program, its deploy file and the docs' code-block language. */
export const PROXIES: Readonly<Record<ProxyKind, { program: string; file: string; lang: string }>> =
  {
    nginx: { program: "/usr/sbin/nginx", file: "nginx.conf", lang: "nginx" },
    haproxy: { program: "/usr/sbin/haproxy", file: "haproxy.cfg", lang: "haproxy" },
    caddy: { program: "/usr/bin/caddy", file: "Caddyfile", lang: "caddy" },
  };

/** The deploy file of `kind`, as shipped. */
export function deployFile(kind: ProxyKind): string {
  return Deno.readTextFileSync(join(DEPLOY, PROXIES[kind].file));
}

/**
 * Why `kind` cannot run here, or undefined when it can. Under `CI=true` a
 * missing proxy is not a reason: the test runs and fails.
 */
export function proxySkipReason(kind: ProxyKind): string | undefined {
  if (Deno.env.get("CI") === "true") return undefined;
  const { program } = PROXIES[kind];
  if (!existsSync(program)) {
    return `${kind} is not installed at ${program} (apt-get install ${kind})`;
  }
  if (!existsSync("/usr/bin/openssl")) return "openssl is not installed (apt-get install openssl)";
  return undefined;
}

/** A port free now on every address (the proxies listen on all of them). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** An address of this machine that is not loopback, or undefined. */
export const OTHER_ADDRESS: string | undefined = Deno.networkInterfaces()
  .find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;

/** A throwaway certificate authority and a certificate it signed for {@linkcode PUBLIC_NAME}. */
export interface ThrowawayCert {
  /** The authority's certificate, PEM: what clients trust. */
  ca: string;
  certFile: string;
  keyFile: string;
  /** Certificate and key in one file, as HAProxy takes them. */
  pemFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Makes a CA and a certificate for {@linkcode PUBLIC_NAME} in `dir`, valid for a day. */
export async function throwawayCert(dir: string): Promise<ThrowawayCert> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=gdp-ws test CA",
  ], dir);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    "gw.key",
    "-out",
    "gw.csr",
    "-subj",
    `/CN=${PUBLIC_NAME}`,
  ], dir);
  await Deno.writeTextFile(
    join(dir, "gw.ext"),
    `subjectAltName=DNS:${PUBLIC_NAME},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "gw.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "gw.crt",
    "-days",
    "1",
    "-extfile",
    "gw.ext",
  ], dir);
  const certFile = join(dir, "gw.crt");
  const keyFile = join(dir, "gw.key");
  const pemFile = join(dir, "gw.pem");
  await Deno.writeTextFile(
    pemFile,
    await Deno.readTextFile(certFile) + await Deno.readTextFile(keyFile),
  );
  return { ca: await Deno.readTextFile(join(dir, "ca.crt")), certFile, keyFile, pemFile };
}

/** Where a proxy is to listen and what it forwards to. */
export interface ProxySetup {
  /** A folder for its configuration, logs and state. */
  dir: string;
  cert: ThrowawayCert;
  /** `HOST:PORT` of each gateway. */
  upstreams: string[];
}

/** A proxy running as a child process. */
export interface RunningProxy {
  kind: ProxyKind;
  /** The TLS port (443 in the deploy file). */
  port: number;
  /** The plain-HTTP port (80 in the deploy file): redirects. */
  httpPort: number;
  /** The configuration it runs, as written from the deploy file. */
  config: string;
  /** What it printed so far. */
  output(): string;
  stop(): Promise<void>;
}

/** Replaces `from` in `text`, failing when it is not there (the deploy file changed). */
function swap(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === "string" ? text.includes(from) : text.search(from) >= 0;
  if (!found) {
    throw new Error(`the deploy file no longer has ${from}: update tests/helpers/proxies.ts`);
  }
  return typeof from === "string" || from.global
    ? text.replaceAll(from, to)
    : text.replace(from, to);
}

/** The deploy file of `kind` with the ports, upstreams and paths of `setup`. */
export function configFor(
  kind: ProxyKind,
  setup: ProxySetup,
  ports: { https: number; http: number; admin: number },
): string {
  let text = deployFile(kind);
  const { cert, upstreams } = setup;
  if (kind === "nginx") {
    text = swap(text, /listen (\[::\]:)?80;/g, `listen $1${ports.http};`);
    text = swap(text, /listen (\[::\]:)?443 ssl;/g, `listen $1${ports.https} ssl;`);
    text = swap(
      text,
      "    server 127.0.0.1:8080;\n",
      upstreams.map((u) => `    server ${u};\n`).join(""),
    );
    text = swap(text, "/etc/ssl/gdp-ws/fullchain.pem", cert.certFile);
    text = swap(text, "/etc/ssl/gdp-ws/privkey.pem", cert.keyFile);
  } else if (kind === "haproxy") {
    text = swap(text, "bind :80\n", `bind :${ports.http}\n`);
    text = swap(
      text,
      "bind :443 ssl crt /etc/haproxy/certs/gw.example.org.pem",
      `bind :${ports.https} ssl crt ${cert.pemFile}`,
    );
    text = swap(
      text,
      / {4}server gw1 .*\n {4}server gw2 .*\n {4}server gw3 .*\n/,
      upstreams.map((u, i) => `    server gw${i + 1} ${u}\n`).join(""),
    );
  } else {
    text = swap(text, "admin localhost:2019", `admin localhost:${ports.admin}`);
    text = swap(text, "http_port 80", `http_port ${ports.http}`);
    text = swap(text, "https_port 443", `https_port ${ports.https}`);
    text = swap(text, "/etc/caddy/gw.example.org.crt", cert.certFile);
    text = swap(text, "/etc/caddy/gw.example.org.key", cert.keyFile);
    text = swap(text, "reverse_proxy 127.0.0.1:8080 {", `reverse_proxy ${upstreams.join(" ")} {`);
  }
  return text;
}

/** nginx's own main file around the deploy file, with its state in `dir`. */
function nginxMain(dir: string, site: string): string {
  const temp = (name: string) => `${name}_temp_path ${join(dir, name)};`;
  return [
    `pid ${join(dir, "nginx.pid")};`,
    `error_log ${join(dir, "error.log")} info;`,
    "worker_processes 1;",
    "events { worker_connections 4096; }",
    "http {",
    `  access_log ${join(dir, "access.log")};`,
    `  ${temp("client_body")} ${temp("proxy")} ${temp("fastcgi")} ${temp("uwsgi")} ${temp("scgi")}`,
    `  include ${site};`,
    "}",
    "",
  ].join("\n");
}

/**
 * Starts `kind` from its deploy file in front of `setup.upstreams`; resolves
 * once it accepts TLS connections.
 */
export async function startProxy(kind: ProxyKind, setup: ProxySetup): Promise<RunningProxy> {
  const ports = { https: freePort(), http: freePort(), admin: freePort() };
  const config = configFor(kind, setup, ports);
  const { dir } = setup;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, 0o755);
  let args: string[];
  let env: Record<string, string> = {};
  if (kind === "nginx") {
    const site = join(dir, "gdp-ws.conf");
    await Deno.writeTextFile(site, config);
    await Deno.writeTextFile(join(dir, "main.conf"), nginxMain(dir, site));
    args = ["-p", dir, "-c", join(dir, "main.conf"), "-g", "daemon off;"];
  } else if (kind === "haproxy") {
    const file = join(dir, "haproxy.cfg");
    await Deno.writeTextFile(file, config);
    args = ["-db", "-f", file];
  } else {
    const file = join(dir, "Caddyfile");
    await Deno.writeTextFile(file, config);
    args = ["run", "--config", file, "--adapter", "caddyfile"];
    // Caddy keeps its state under $HOME or $XDG_*: the test's folder, not the machine's.
    env = { HOME: dir, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config") };
  }
  const child = new Deno.Command(PROXIES[kind].program, {
    args,
    env,
    cwd: dir,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const line of lines(stream)) text += `${line}\n`;
  };
  const reading = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await status.finally(() => clearTimeout(timer));
    await reading;
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited) {
      await reading;
      throw new Error(`${kind} exited at start:\n${text}\n--- its configuration:\n${config}`);
    }
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: ports.https });
      conn.close();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${kind} did not listen on ${ports.https} within 15 s:\n${text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    kind,
    port: ports.https,
    httpPort: ports.http,
    config,
    output: () => text,
    stop,
  };
}

/** A TLS connection to `port` on `hostname` that asks for, and checks, {@linkcode PUBLIC_NAME}. */
export async function tlsConnect(
  port: number,
  ca: string,
  hostname = "127.0.0.1",
): Promise<Deno.Conn> {
  const tcp = await Deno.connect({ hostname, port });
  try {
    return await Deno.startTls(tcp, { hostname: PUBLIC_NAME, caCerts: [ca] });
  } catch (error) {
    tcp.close();
    throw error;
  }
}
