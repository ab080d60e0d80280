/**
 * What one `conn.write` of 110 bytes (a DATA event's frame) to a loopback TCP
 * socket costs in Deno, nobody waiting on the reading end; `write_cost.c` is
 * the same in C, for the kernel's share. Run by hand (BENCHMARKS.md, the
 * 1,000 logs row):
 *
 * ```sh
 * deno run -A bench/write_cost.ts 1000 50
 * gcc -O2 -o /tmp/write_cost bench/write_cost.c && /tmp/write_cost 1000 50
 * ```
 *
 * @module
 */

const n = Number(Deno.args[0] ?? 1000);
const rounds = Number(Deno.args[1] ?? 50);
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const port = (listener.addr as Deno.NetAddr).port;
const writers: Deno.Conn[] = [];
const readers: Deno.Conn[] = [];
for (let i = 0; i < n; i++) {
  const reader = Deno.connect({ hostname: "127.0.0.1", port });
  const writer = await listener.accept();
  writer.setNoDelay(true);
  writers.push(writer);
  readers.push(await reader);
}
const frame = new Uint8Array(110);
frame[0] = 0x81;
frame[1] = 108;
for (const mode of ["await each", "all, then await"]) {
  const started = performance.now();
  for (let k = 0; k < rounds; k++) {
    if (mode === "await each") { for (const w of writers) await w.write(frame); }
    else await Promise.all(writers.map((w) => w.write(frame)));
  }
  const us = (performance.now() - started) * 1000 / n / rounds;
  console.log(
    `Deno conn.write (${mode}): ${us.toFixed(2)} us per write (${n} sockets x ${rounds})`,
  );
}
for (const c of [...writers, ...readers, listener]) c.close();
