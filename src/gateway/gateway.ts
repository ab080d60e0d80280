/**
 * The gateway's lifecycle: it starts (token keys, TLS files, the front door on
 * the public port, every request through the route table), drains (lame duck)
 * and stops. The {@linkcode FrontDoor} accepts every connection and reads
 * every request, bodies included; the router (router.ts) answers them.
 *
 * @example
 * ```ts
 * import { openEmbedded } from "../backend/embedded/store.ts";
 * import { makeConfig } from "../config.ts";
 *
 * const gateway = await startGateway(makeConfig({ port: 0 }), openEmbedded({ dataDir: "./data" }));
 * console.log(gateway.url); // ws://127.0.0.1:PORT/
 * await gateway.shutdown();
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { Auth } from "../auth/auth.ts";
import { Origins } from "../auth/origins.ts";
import type { Backend } from "../backend/backend.ts";
import type { Config } from "../config.ts";
import type { FdLimit } from "../io/fd_limit.ts";
import { StartupError } from "../core/startup_error.ts";
import type { Hub } from "../fanout/hub.ts";
import { FrontDoor } from "../net/front_door.ts";
import type { Metrics } from "../ops/metrics.ts";
import { refusal } from "./answers.ts";
import { type GatewayContext, makeContext } from "./context.ts";
import { dispatch } from "./router.ts";
import { bodyLimit } from "./routes.ts";

/** A running gateway. */
export interface Gateway {
  /** `ws://host:port/` or `wss://…`. */
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly backend: Backend;
  /** What `/metrics` serves. */
  readonly metrics: Metrics;
  /** The accept loop on the public port. */
  readonly frontDoor: FrontDoor;
  /** Open WebSockets and event streams. */
  connections(): number;
  /** SHUTDOWN to every subscription, close sockets with 1001, stop serving, close the backend. */
  shutdown(): Promise<void>;
  /**
   * Lame duck (SIGTERM): `/readyz` answers 503 at once so load balancers drain
   * the gateway, then {@linkcode shutdown} follows after `drainMs`.
   */
  drain(): Promise<void>;
  /** Re-reads the token keys (SIGHUP); the old keys stay if the files are unusable. */
  reloadKeys(): Promise<void>;
  /** Settles when the server has stopped. */
  readonly finished: Promise<void>;
}

const log = getLogger(["gdp-ws", "server"]);

/** What the process learnt before the gateway started. */
export interface StartOptions {
  /** The open-file limit, counted before anything held descriptors (see io/fd_limit.ts). */
  fdLimit?: FdLimit;
}

/** Starts serving `backend` as `config` says; resolves once listening. */
export async function startGateway(
  config: Config,
  backend: Backend,
  options: StartOptions = {},
): Promise<Gateway> {
  // Checked apart: a bad origin is the fault of its own flag, not the key file's.
  new Origins({ allow: config.allowOrigins, own: config.publicOrigins });
  const keyFlag = config.authSecretFile
    ? ["--auth-secret", config.authSecretFile]
    : ["--auth-keys", config.authKeyFile ?? ""];
  const auth = await startStep(keyFlag[0]!, keyFlag[1]!, () =>
    Auth.load({
      allowOrigins: config.allowOrigins,
      publicOrigins: config.publicOrigins,
      tls: config.cert !== undefined,
      listen: config.hostname,
      audience: config.authAudience,
      ...(config.authSecretFile ? { secretFile: config.authSecretFile } : {}),
      ...(config.authKeyFile ? { keyFile: config.authKeyFile } : {}),
    }));
  const gw = makeContext(config, backend, auth);
  const { cert, key } = config;
  const tls = cert && key
    ? {
      cert: await startStep("--cert", cert, () => Deno.readTextFile(cert)),
      key: await startStep("--key", key, () => Deno.readTextFile(key)),
    }
    : {};
  // Every request, bodies included, is read by the front door and comes here.
  const front = () => door.stats();
  let door: FrontDoor;
  try {
    door = await FrontDoor.listen({
      hostname: config.hostname,
      port: config.port,
      ...tls,
      limits: config.limits,
      refusals: gw.refusals,
      ...(config.fdLimit !== undefined ? { fdLimit: config.fdLimit } : {}),
      ...(options.fdLimit ? { learntFdLimit: options.fdLimit } : {}),
      refusal: (status, message) => refusal(status, message),
      bodyLimit: (method, target) => bodyLimit(method, target, config.limits),
      // A trusted proxy's clients are limited one by one once their requests name them.
      sharedPeer: (peer) => gw.proxies.trusts(peer),
      handle: (request, peer, raw) =>
        dispatch(gw, request, peer, { front, ...(raw ? { raw } : {}) }),
    });
  } catch (error) {
    throw listenError(config, error);
  }
  const addr = door.addr;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const url = `${config.cert ? "wss" : "ws"}://${
    host === "0.0.0.0" ? "127.0.0.1" : host
  }:${addr.port}/`;
  log.info("Serving {backend} logs at {url}; tokens {tokens}", {
    backend: backend.kind,
    url,
    tokens: auth.enabled ? "required" : "off",
  });
  if (!auth.enabled) {
    log.info(
      config.openAppends
        ? "No tokens and --open-appends: any client may append and create logs"
        : "No tokens: only local clients may append and create logs " +
          "(--open-appends lets any client; --auth-secret or --auth-keys requires tokens)",
    );
  }
  if (config.trustProxies.length > 0) {
    log.info("Forwarding headers name the client when sent by {proxies}", {
      proxies: config.trustProxies.join(", "),
    });
  }
  const lifecycle = new Lifecycle(gw, door);
  return {
    url,
    port: addr.port,
    hub: gw.hub,
    backend,
    metrics: gw.metrics,
    frontDoor: door,
    connections: () => gw.connections.size,
    finished: door.finished,
    shutdown: () => lifecycle.shutdown(),
    drain: () => lifecycle.drain(),
    reloadKeys: () => auth.reload(),
  };
}

/** `step()`, with a failure that names `flag` and `value` (a permission denial stays one). */
async function startStep<T>(flag: string, value: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new StartupError(flag, value, error);
  }
}

/** A failure to listen, named by the flag that chose what failed: the port, address or TLS files. */
function listenError(config: Config, error: unknown): unknown {
  if (error instanceof Deno.errors.NotCapable) return error;
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new StartupError("--hostname", config.hostname, error);
  }
  const port = error instanceof Deno.errors.AddrInUse ||
    error instanceof Deno.errors.PermissionDenied || !config.cert;
  return port
    ? new StartupError("--port", String(config.port), error)
    : new StartupError("--cert", `${config.cert} --key ${config.key}`, error);
}

/** Lame duck, then shutdown: each once, whoever asks first. */
class Lifecycle {
  readonly #gw: GatewayContext;
  readonly #door: FrontDoor;
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(gw: GatewayContext, door: FrontDoor) {
    this.#gw = gw;
    this.#door = door;
  }

  async drain(): Promise<void> {
    const gw = this.#gw;
    if (gw.draining) return await this.shutdown();
    gw.draining = true;
    gw.metrics.set("gdpws_draining", 1);
    const ms = gw.config.limits.drainMs;
    log.info("Draining: /readyz answers 503; SHUTDOWN to {n} connections in {ms} ms", {
      n: gw.connections.size,
      ms,
    });
    await new Promise((resolve) => this.#drainTimer = setTimeout(resolve, ms));
    await this.shutdown();
  }

  shutdown(): Promise<void> {
    return this.#stopping ??= this.#stop();
  }

  async #stop(): Promise<void> {
    const { config, hub, backend, connections, metrics } = this.#gw;
    clearTimeout(this.#drainTimer);
    const { sessions, streams } = connections;
    log.info("Shutting down: {n} connections", { n: sessions.size });
    const allClosed = Promise.all([...sessions].map((session) => session.closed));
    for (const session of sessions) session.shutdown();
    for (const stream of streams) stream.shutdown();
    // Clients get the grace period to read their SHUTDOWN events; the timer is
    // cleared when they are all gone sooner, so it does not hold the process open.
    const graceEnd = performance.now() + config.limits.shutdownGraceMs;
    let grace: ReturnType<typeof setTimeout> | undefined;
    const graceOver = new Promise((resolve) => {
      grace = setTimeout(resolve, config.limits.shutdownGraceMs);
    });
    await Promise.race([allClosed, graceOver]).finally(() => clearTimeout(grace));
    // What is still open (event streams, requests being answered) gets the rest of the grace.
    await this.#door.close(Math.max(0, graceEnd - performance.now()));
    await hub.close();
    await backend.close();
    metrics.close();
    log.info("Stopped");
  }
}
