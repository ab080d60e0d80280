/**
 * Helpers the real-GDP tests share: many WebSocket clients, per-log recno
 * bookkeeping, and bounded-parallel appends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { range, TestClient, type WireEvent } from "../helpers/client.ts";
import type { RealGateway } from "./gateway.ts";

/** Opens `n` clients to `url`, at most 50 handshakes at a time. */
export async function connectMany(url: string, n: number): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = Math.min(50, n - i);
    clients.push(
      ...await Promise.all(Array.from({ length: batch }, () => TestClient.connect(url))),
    );
  }
  return clients;
}

/** Closes every client. */
export async function closeAll(clients: TestClient[]): Promise<void> {
  await Promise.all(clients.map((client) => client.close()));
}

/** Runs `task` over `items` with at most `width` in flight. */
export async function eachLimited<T>(
  items: readonly T[],
  width: number,
  task: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** Appends `record N` for N in from..to to every log through `gateway`, 16 logs at a time. */
export async function appendToAll(
  gateway: RealGateway,
  names: readonly string[],
  from: number,
  to: number,
): Promise<void> {
  await eachLimited(names, 16, async (name) => {
    for (let n = from; n <= to; n++) {
      const recno = await gateway.append(name, `record ${n}`);
      assert.equal(recno, n, `append to ${name} got recno ${recno}, expected ${n}`);
    }
  });
}

/** Events of one client, grouped by the subscription's id. */
export function byId(events: WireEvent[]): Map<string | number, WireEvent[]> {
  const groups = new Map<string | number, WireEvent[]>();
  for (const event of events) {
    const key = event.id ?? "";
    groups.set(key, [...groups.get(key) ?? [], event]);
  }
  return groups;
}

/**
 * What one subscription must receive: exactly `recnos`, or a run of `run`
 * consecutive recnos starting anywhere (a negative startrec racing appends);
 * then DONE when `done`.
 */
export type Expect = { done: boolean } & ({ recnos: number[] } | { run: number });

/**
 * Takes events from `client` until every subscription in `expected` (by id)
 * is complete, and checks each got its recnos exactly once, in order, with
 * no error event. Bounded: each frame must come within `frameTimeoutMs`.
 */
export async function expectRecords(
  client: TestClient,
  expected: Map<string | number, Expect>,
  what: string,
  frameTimeoutMs = 15_000,
): Promise<void> {
  let total = 0;
  for (const e of expected.values()) total += ("run" in e ? e.run : e.recnos.length) + +e.done;
  const groups = byId(await client.take(total, frameTimeoutMs));
  for (const [id, want] of expected) {
    const got = groups.get(id) ?? [];
    const errors = got.filter((e) => e.type !== 1 && e.type !== 2);
    assert.deepEqual(errors, [], `${what}: subscription ${id} got error events`);
    const data = got.filter((e) => e.type === 1).map((e) => e.datum!.recno);
    const recnos = "run" in want ? range(data[0] ?? 1, (data[0] ?? 1) + want.run - 1) : want.recnos;
    assert.deepEqual(data, recnos, `${what}: subscription ${id}: every recno once, in order`);
    if (want.done) assert.equal(got.at(-1)?.type, 2, `${what}: subscription ${id} ends with DONE`);
  }
}

/** `range` re-exported for the tests' expected recno lists. */
export { range };
