/**
 * NATS JetStream, the durable peer of the append→deliver rows: how nats-server
 * is configured, one stream per log, one push consumer per subscriber, and
 * what the report says about when each system syncs to disk.
 *
 * A gdp-ws log has its own record numbers, so each log is its own stream (file
 * storage, one replica). A gdp-ws subscription is a cursor the server pushes
 * from and keeps in memory, so each subscriber gets an ephemeral push consumer
 * with no acknowledgements and its state in memory (as the client's ordered
 * consumers have), delivering to a subject its own connection subscribed to.
 * The producer's `publish` waits for the PubAck, which the server sends once
 * the message is in the stream's store.
 *
 * @example
 * ```ts
 * const config = { port: 4222, monitor: 8222, storeDir: "/tmp/js", syncAlways: false };
 * await Deno.writeTextFile("/tmp/js.conf", jetStreamConfig(config)); // nats-server -c /tmp/js.conf
 * await createStreams("127.0.0.1:4222", ["bench.live.1"]); // the stream "bench_live_1"
 * ```
 *
 * @module
 */

import {
  AckPolicy,
  type ConsumerConfig,
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { output } from "./process.ts";

/** Requests to the JetStream API in flight at once (stream and consumer creation). */
const API_WAVE = 100;

/** A stream's name for a log: stream names cannot hold dots (subjects keep the log's name). */
export function streamOf(log: string): string {
  return log.replaceAll(/[^A-Za-z0-9_-]/g, "_");
}

/** The subject consumer `index` of a run delivers to (one per subscriber, unique in the run). */
export function deliverSubjectOf(index: number): string {
  return `bench.deliver.${index}`;
}

/** nats-server's configuration for a JetStream row. */
export function jetStreamConfig(
  options: { port: number; monitor: number; storeDir: string; syncAlways: boolean },
): string {
  return [
    `listen: "127.0.0.1:${options.port}"`,
    `http: "127.0.0.1:${options.monitor}"`,
    "jetstream {",
    `  store_dir: ${JSON.stringify(options.storeDir)}`,
    ...(options.syncAlways ? ["  sync_interval: always"] : []),
    "}",
    "",
  ].join("\n");
}

/** Whether this nats-server accepts `sync_interval: always` (2.10 and later do; 2.9 does not). */
export async function syncAlwaysSupported(natsServer: string): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-bench-js-" });
  try {
    const file = `${dir}/check.conf`;
    await Deno.writeTextFile(
      file,
      jetStreamConfig({ port: 4222, monitor: 8222, storeDir: `${dir}/js`, syncAlways: true }),
    );
    // -t checks the configuration and exits: 0 when every field is known.
    return (await output(natsServer, ["-t", "-c", file])) !== undefined;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** `jobs` run at most {@linkcode API_WAVE} at a time. */
async function inWaves(jobs: (() => Promise<unknown>)[]): Promise<void> {
  for (let i = 0; i < jobs.length; i += API_WAVE) {
    await Promise.all(jobs.slice(i, i + API_WAVE).map((job) => job()));
  }
}

/** Creates one file-storage stream per log, named by {@linkcode streamOf}, on the server at `url`. */
export async function createStreams(url: string, logs: string[]): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    await inWaves(logs.map((log) => () =>
      jsm.streams.add({
        name: streamOf(log),
        subjects: [log],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        num_replicas: 1,
      })
    ));
  } finally {
    await nc.close();
  }
}

/** The consumer of one subscriber: pushes every record appended after it to `deliverSubject`. */
export function consumerConfig(deliverSubject: string): Partial<ConsumerConfig> {
  return {
    deliver_subject: deliverSubject,
    deliver_policy: DeliverPolicy.New,
    ack_policy: AckPolicy.None,
    // A subscriber's position is not durable in gdp-ws either; the client's ordered consumers
    // keep theirs in memory too.
    mem_storage: true,
    num_replicas: 1,
  };
}

/** A client process's handle on JetStream: its API and the producer's publisher. */
export interface JetStreamSide {
  /** Creates the consumers of `subscribers`, each `[log, deliver subject]`. */
  createConsumers(subscribers: [string, string][]): Promise<void>;
  /** Publishes and resolves with the PubAck (the message is stored). */
  publish(subject: string, data: Uint8Array): Promise<unknown>;
  close(): Promise<void>;
}

/** Opens the JetStream API and a publisher on their own connection to `url`. */
export async function openJetStream(url: string): Promise<JetStreamSide> {
  const nc = await connect({ servers: url });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc);
  return {
    createConsumers: (subscribers) =>
      inWaves(
        subscribers.map(([log, deliver]) => () =>
          jsm.consumers.add(streamOf(log), consumerConfig(deliver))
        ),
      ),
    publish: (subject, data) => js.publish(subject, data),
    close: () => nc.close(),
  };
}

/** The first `major.minor` of a `nats-server: v2.9.10` version line, as a number (2.09). */
function versionNumber(version: string): number {
  const [, major, minor] = /v?(\d+)\.(\d+)/.exec(version) ?? [];
  return Number(major) + Number(minor) / 100;
}

/**
 * When each system's acknowledged appends reach the disk, for the report: gdp-ws's
 * commit, JetStream's default, and `sync_interval: always` when this nats-server has it.
 */
export function syncNote(version: string, syncAlways: boolean): string {
  // 2.9 fsyncs its blocks every 60 s and has no setting for it; 2.10 added
  // sync_interval (default 2 min) and its "always".
  const interval = versionNumber(version) < 2.10 ? "60 s" : "2 min";
  const always = syncAlways
    ? " _JetStream (sync always)_ runs with `sync_interval: always`: an fsync on every write" +
      " before the PubAck."
    : " This nats-server has no per-message setting (`sync_interval` and its `always` came in" +
      " 2.10), so no JetStream row here fsyncs before it acknowledges; _gdp-ws (tmpfs)_ shows" +
      " the gateway with fsync costing nothing instead (its data folder on tmpfs).";
  return "**When an append is on disk.** gdp-ws acknowledges an append once its SQLite commit" +
    " is fsynced (WAL, `synchronous=FULL`); the appends of one event-loop turn share one" +
    " commit. _JetStream_ runs with its default: each message is written to its stream's block" +
    ` file (the page cache) before the PubAck, and fsynced in the background every ${interval},` +
    " so a crash of the machine can lose acknowledged messages." + always;
}
