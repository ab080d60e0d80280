/**
 * How the embedded store commits appends: one waiting for another process's
 * write lock leaves the event loop free (retried on a timer) and commits after
 * that process's record; a lock held past lockWaitMs fails the waiting appends
 * with 503 and commits none; close commits what was queued; and an append the
 * gateway acknowledged survives `kill -9` of its process (answered only once
 * its commit returned, synchronous=FULL).
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openEmbedded } from "../../../src/backend/embedded/store.ts";
import { GdpError } from "../../../src/core/errors.ts";
import { range, TestClient } from "../../helpers/client.ts";
import { serveShipped, shippedTest } from "../../helpers/shipped.ts";
import { storePath } from "../../helpers/store_file.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/** Another process's connection to the store, holding its write lock until `release`. */
function holdWriteLock(dataDir: string): { release: (insert?: number) => void } {
  const other = new DatabaseSync(storePath(dataDir));
  other.exec("BEGIN IMMEDIATE");
  return {
    release: (insert) => {
      // The other process appends one record of its own before it lets go.
      if (insert !== undefined) {
        other.prepare(
          "INSERT INTO records (log, recno, ts_sec, ts_nsec, ts_accuracy, data) " +
            "VALUES (?, 1, 0, 0, 0, ?)",
        ).run(insert, bytes("from the other process"));
      }
      other.exec("COMMIT");
      other.close();
    },
  };
}

shippedTest(
  "an append waiting for another process's write lock leaves the event loop free, and commits after that process's record once the lock is let go",
  async (dataDir) => {
    const store = openEmbedded({ dataDir });
    try {
      await store.create("demo");
      const log = await store.open("demo");
      const logId = new DatabaseSync(storePath(dataDir), { readOnly: true });
      const { id } = logId.prepare("SELECT id FROM logs").get() as { id: number };
      logId.close();
      const lock = holdWriteLock(dataDir);
      let answered = false;
      const appended = log.append(bytes("mine")).then((r) => (answered = true, r));
      // The loop turns, timers fire and reads are answered while the commit waits.
      for (let turn = 0; turn < 20; turn++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        assert.equal(await log.last(), 0);
      }
      assert.equal(answered, false, "not answered while the lock is held");
      lock.release(id);
      const record = await appended;
      assert.equal(record.recno, 2, "after the other process's record");
      const read = [];
      for await (const r of log.read(1, 2)) read.push(text(r.data));
      assert.deepEqual(read, ["from the other process", "mine"]);
    } finally {
      await store.close();
    }
  },
);

shippedTest(
  "a write lock held past lockWaitMs fails the waiting appends with 503 and commits none of them; the next append commits",
  async (dataDir) => {
    const store = openEmbedded({ dataDir, lockWaitMs: 100 });
    try {
      await store.create("demo");
      const log = await store.open("demo");
      const lock = holdWriteLock(dataDir);
      const failed = await Promise.allSettled([log.append(bytes("a")), log.append(bytes("b"))]);
      lock.release();
      for (const result of failed) {
        assert.equal(result.status, "rejected");
        const error = (result as PromiseRejectedResult).reason as GdpError;
        assert.equal(error.code, 503);
        assert.match(error.message, /locked by another process/);
      }
      assert.equal(await log.last(), 0);
      assert.equal((await log.append(bytes("c"))).recno, 1);
    } finally {
      await store.close();
    }
  },
);

shippedTest(
  "close commits and answers the appends already queued",
  async (dataDir) => {
    const store = openEmbedded({ dataDir });
    await store.create("demo");
    const log = await store.open("demo");
    const appends = range(1, 50).map((n) => log.append(bytes(`r${n}`)));
    await store.close();
    assert.deepEqual((await Promise.all(appends)).map((r) => r.recno), range(1, 50));
    await assert.rejects(log.append(bytes("late")), (e) => (e as GdpError).code === 503);
    const again = openEmbedded({ dataDir });
    try {
      assert.equal(await (await again.open("demo")).last(), 50);
    } finally {
      await again.close();
    }
  },
);

Deno.test(
  "every append a gateway acknowledged is in the store after kill -9 of its process",
  () =>
    withTempDir("gdp-ws-kill-", async (dataDir) => {
      const gateway = await serveShipped({ data: dataDir });
      const acked = new Map<number, string>();
      let client: TestClient | undefined;
      try {
        client = await TestClient.connect(gateway.url);
        // Appends in flight all the time; the process is killed in the middle of them.
        let sent = 0;
        const send = () => client!.send({ append: "demo.kill", data: `v${++sent}`, id: sent });
        for (let i = 0; i < 64; i++) send();
        while (acked.size < 300) {
          const event = await client.next();
          assert.equal(event.type, 5, JSON.stringify(event));
          acked.set(event.datum!.recno, `v${event.id}`);
          send();
        }
        gateway.child.kill("SIGKILL");
        await gateway.exited;
      } finally {
        await client?.closed;
        if (!(await gateway.child.status).signal) await gateway.stop();
      }
      const store = openEmbedded({ dataDir });
      try {
        const log = await store.open("demo.kill");
        const stored = new Map<number, string>();
        for await (const r of log.read(1, await log.last())) stored.set(r.recno, text(r.data));
        for (const [recno, data] of acked) assert.equal(stored.get(recno), data, `record ${recno}`);
        assert.ok(stored.size >= acked.size);
      } finally {
        await store.close();
      }
    }),
);
