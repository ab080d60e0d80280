/**
 * The event pump: the one reader of libgdp's process-wide event queue.
 *
 * `gdp_event_next` serves every handle of the process, so there is one pump
 * per loaded library, shared by every backend that uses it; each registers
 * its handles and gets their events. The pump waits with the nonblocking
 * `gdp_event_next(NULL, timeout)` (on a worker thread), then drains with the
 * synchronous twin and a zero timeout; every event is decoded, its datum
 * copied out, and freed exactly once before dispatch. No JavaScript runs on
 * libgdp's threads. The pump stops when no handle is registered.
 *
 * @example
 * ```ts
 * const pump = EventPump.for("/usr/lib/libgdp.so.2.1");
 * const gin = 0x5555_0000n; // a handle from Libgdp.open
 * pump.attach(gin, { onEvent: (event) => console.log(event.type) });
 * ```
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type FfiCounters, type GdpEvent, Libgdp } from "./ffi.ts";

const log = getLogger(["gdp-ws", "libgdp"]);

/** How long one waiting call lasts; bounds how long an idle pump takes to stop. */
const WAIT_MS = 50;
/** Events drained synchronously before yielding to the event loop. */
const DRAIN_MAX = 1024;

/** Receives the events of the handles it registered. */
export interface EventSink {
  /** Called on the JavaScript thread; the event is already freed. */
  onEvent(event: GdpEvent): void;
}

const pumps = new Map<string, EventPump>();

/** See the module docs. */
export class EventPump {
  /** The binding the pump reads events with (its counters count events). */
  readonly gdp: Libgdp;
  readonly #sinks = new Map<bigint, EventSink>();
  #running: Promise<void> | undefined;
  #orphans = 0;

  /** A pump reading with `gdp` (use {@linkcode EventPump.for} for the shared one). */
  constructor(gdp: Libgdp) {
    this.gdp = gdp;
  }

  /** The pump of the library at `path` (one per library and process). */
  static for(path: string): EventPump {
    let pump = pumps.get(path);
    if (!pump) {
      pump = new EventPump(Libgdp.open(path));
      pumps.set(path, pump);
    }
    return pump;
  }

  /** Events got and freed by this pump (process-wide for its library). */
  get counters(): Readonly<FfiCounters> {
    return this.gdp.counters;
  }

  /** Events that arrived for handles nobody had registered (then freed). */
  get orphans(): number {
    return this.#orphans;
  }

  /** Routes the events of `gin` to `sink` and makes sure the pump runs. */
  attach(gin: bigint, sink: EventSink): void {
    this.#sinks.set(gin, sink);
    this.#running ??= this.#run();
  }

  /** Stops routing events of `gin` (later ones are freed unseen). */
  detach(gin: bigint): void {
    this.#sinks.delete(gin);
  }

  /** Resolves once the pump has stopped, if no handle is registered. */
  async idle(): Promise<void> {
    if (this.#sinks.size === 0) await this.#running;
  }

  async #run(): Promise<void> {
    try {
      while (this.#sinks.size > 0) {
        try {
          await this.#turn();
        } catch (error) {
          log.error("The libgdp event pump failed: {error}", { error });
          await new Promise((resolve) => setTimeout(resolve, WAIT_MS));
        }
      }
    } finally {
      // synchronous with the loop's last check, so attach() never sees a stale #running
      this.#running = undefined;
    }
  }

  async #turn(): Promise<void> {
    const first = await this.gdp.waitEvent(WAIT_MS);
    if (first === 0n) return;
    this.#dispatch(first);
    for (let i = 0; i < DRAIN_MAX; i++) {
      const ev = this.gdp.pollEvent();
      if (ev === 0n) return;
      this.#dispatch(ev);
    }
  }

  #dispatch(ev: bigint): void {
    const event = this.gdp.takeEvent(ev);
    const sink = this.#sinks.get(event.gin);
    if (!sink) {
      this.#orphans++;
      return;
    }
    try {
      sink.onEvent(event);
    } catch (error) {
      log.error("Dispatching a libgdp event failed: {error}", { error });
    }
  }
}
