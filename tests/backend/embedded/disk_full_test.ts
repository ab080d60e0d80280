/**
 * A real full disk (a 1 MiB tmpfs in a private mount namespace): appends fail
 * with 507 naming the cause, the log gets a line per 10 s instead of per
 * failure, and nothing is acknowledged that was not stored. Skipped where
 * `unshare -rm` is not allowed.
 */

import assert from "node:assert/strict";
import { serveShipped } from "../../helpers/shipped.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test.sanitizer({ ops: true, resources: true });

async function canUnshare(): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("unshare", {
      args: ["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const unshare = await canUnshare();
if (!unshare) console.log("disk_full_test: skipped, unshare -rm with a tmpfs mount is not allowed");

Deno.test({
  name: "a full disk answers 507 'database or disk is full' and logs it once per 10 s",
  ignore: !unshare,
  fn: () =>
    withTempDir("gdp-ws-full-", async (dataDir) => {
      const gateway = await serveShipped({ data: dataDir }, [], {
        setup: `mount -t tmpfs -o size=1m tmpfs '${dataDir}'`,
        shell: ["unshare", "-rm", "sh", "-c"],
      });
      const base = gateway.url.replace(/^ws/, "http");
      const record = "a".repeat(3000);
      const codes = new Map<number, number>();
      let acked = 0;
      let last = "";
      for (let i = 0; i < 600; i++) {
        const res = await fetch(`${base}logs/full`, { method: "POST", body: record });
        codes.set(res.status, (codes.get(res.status) ?? 0) + 1);
        const body = await res.text();
        if (res.status === 201) acked++;
        else last = body;
      }
      assert.ok((codes.get(507) ?? 0) > 0, `no 507 in ${JSON.stringify([...codes])}`);
      assert.equal(codes.size, 2, `only 201 and 507 expected: ${JSON.stringify([...codes])}`);
      assert.match(last, /507 insufficient storage.*database or disk is full/);
      // Every acknowledged record is stored, and nothing else.
      const info = await (await fetch(`${base}logs/full`)).json() as { count: number };
      assert.equal(info.count, acked);
      assert.equal(await gateway.stop(), 0);
      const failures = gateway.logs.filter((l) => /Appends failing/.test(String(l.message)));
      assert.ok(failures.length <= 2, `${failures.length} failure lines for one cause`);
      assert.ok(gateway.logs.length < 20, `${gateway.logs.length} log lines`);
    }),
});
