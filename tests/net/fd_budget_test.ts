/**
 * Issue 18: the bounds behind the front door's intake: where the descriptor
 * limit comes from (src/io/fd_limit.ts), the budget's caps
 * (src/net/fd_budget.ts), the head slots per client address
 * (src/net/head_slots.ts), and a connection's descriptor counted until no op
 * holds it (src/net/counted_conn.ts).
 */

import assert from "node:assert/strict";
import { assumedFdLimit, fdLimit } from "../../src/io/fd_limit.ts";
import { CountedConn } from "../../src/net/counted_conn.ts";
import { FdBudget } from "../../src/net/fd_budget.ts";
import { addressKey, HeadSlots } from "../../src/net/head_slots.ts";

Deno.test.sanitizer({ ops: true, resources: true });

Deno.test("the limit: --fd-limit when given, /proc/self/limits when readable (this test has -A), else assumed per OS", async () => {
  assert.deepEqual(await fdLimit(4096), { limit: 4096, source: "flag" });
  const read = await fdLimit();
  assert.equal(read.source, "proc");
  assert.ok(read.limit >= 256);
  assert.equal(assumedFdLimit("linux"), 1024);
  assert.equal(assumedFdLimit("darwin"), 256);
  assert.equal(assumedFdLimit("windows"), 1024);
});

Deno.test("the budget: served below the soft cap, refused between the caps, the loop waits at the hard cap", async () => {
  const budget = new FdBudget({ limit: 200, source: "flag" }, 64);
  assert.equal(budget.hardCap, 136);
  assert.equal(budget.softCap, 136 - 8);
  const fates = Array.from({ length: 136 }, () => budget.take());
  assert.equal(fates.filter((f) => f === "serve").length, 128);
  assert.equal(fates.filter((f) => f === "refuse").length, 8);
  assert.ok(budget.full);
  let roomy = false;
  const room = budget.room().then(() => roomy = true);
  await Promise.resolve();
  assert.equal(roomy, false, "no room while every descriptor is held");
  budget.release();
  await room;
  assert.equal(budget.full, false);
});

Deno.test("head slots: at most N in all and M per address; IPv6 counted by /64, IPv4-mapped as IPv4", () => {
  const slots = new HeadSlots(5, 2);
  assert.equal(slots.take("a"), "ok");
  assert.equal(slots.take("a"), "ok");
  assert.equal(slots.take("a"), "maxHandshakesPerAddress");
  assert.equal(slots.take("b"), "ok");
  assert.equal(slots.take("c"), "ok");
  assert.equal(slots.take("d"), "ok");
  assert.equal(slots.take("e"), "maxHandshakes");
  slots.give("a");
  assert.equal(slots.size, 4);
  assert.equal(slots.take("a"), "ok");
  assert.equal(addressKey("192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("::ffff:192.0.2.7"), "192.0.2.7");
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:db8:1:2::9"), "2001:db8:1:2::/64");
  assert.equal(addressKey("2001:DB8:0001:0002::1"), "2001:db8:1:2::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
});

Deno.test("a counted connection is settled only once closed and its pending read has let go", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: (listener.addr as Deno.NetAddr).port,
  });
  const conn = new CountedConn(await listener.accept());
  let settled = false;
  const reading = conn.read(new Uint8Array(8)).catch(() => null);
  const done = conn.settled().then(() => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(settled, false, "open: not settled");
  conn.close();
  await done;
  assert.equal(await reading, null);
  conn.close(); // again: nothing happens
  client.close();
  listener.close();
});
