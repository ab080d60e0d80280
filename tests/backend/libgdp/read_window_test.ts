import assert from "node:assert/strict";
import type { LogRecord } from "../../../src/backend/backend.ts";
import { READ_WINDOW, readWindow } from "../../../src/backend/libgdp/read_window.ts";

const record = (recno: number): LogRecord => ({
  recno,
  ts: { sec: recno, nsec: 0, accuracy: 0 },
  data: new Uint8Array([recno]),
});

Deno.test("a window reads the range in order, at most READ_WINDOW at once, and stops at a missing record", async () => {
  let inFlight = 0;
  let most = 0;
  const readOne = async (recno: number) => {
    most = Math.max(most, ++inFlight);
    for (let turn = 0; turn < (recno * 7) % 3 + 1; turn++) await null; // finishing out of order
    inFlight--;
    return recno <= 20 ? record(recno) : null;
  };
  const got: number[] = [];
  for await (const r of readWindow(readOne, 3, 100)) got.push(r.recno);
  assert.deepEqual(got, Array.from({ length: 18 }, (_, i) => i + 3));
  assert.equal(most, READ_WINDOW);
});

Deno.test("a failed read ends the iteration with its error; reads after it do not go unhandled", async () => {
  const readOne = (recno: number) =>
    recno === 2 ? Promise.reject(new Error("link down")) : Promise.resolve(record(recno));
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const r of readWindow(readOne, 1, 10)) got.push(r.recno);
  }, /link down/);
  assert.deepEqual(got, [1]);
});
