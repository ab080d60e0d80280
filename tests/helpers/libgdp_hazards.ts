/**
 * Misuses of libgdp that abort the real 2.1.12 library, as scripts for a
 * child process on the test double: the double must die of each the same
 * way, so that a binding that commits one fails the fast suite.
 *
 * @module
 */

/** Each misuse, with the assertion libgdp prints (docs/libgdp.md has the evidence). */
export const HAZARDS = [
  {
    name: "gdp_gin_unsubscribe once libgdp's free list holds two requests",
    message: /gdp_req\.c:428.*gdp_gin_unsubscribe walked libgdp's free request list/,
    script: `
      const gin = await open(log(["a"]));
      await s.gdp_gin_subscribe_by_recno(gin, 1n, 0, 0n, 0n, 1n);
      await s.gdp_gin_read_by_recno(gin, 1n, s.gdp_datum_new());
      await s.gdp_gin_unsubscribe(gin, 0n, 0n);`,
  },
  {
    name: "gdp_gin_close of a handle that holds a subscription",
    message: /gdp_event\.c:204.*freed a subscribed handle's events in place/,
    script: `
      const gin = await open(log(["a"]));
      await s.gdp_gin_subscribe_by_recno(gin, 1n, 0, 0n, 0n, 1n);
      await s.gdp_gin_close(gin);`,
  },
  {
    name: "gdp_gin_close while a call on the handle is in flight",
    message: /gdp_req\.c:428.*freed the request of a call still in flight/,
    script: `
      const gin = await open(log(["a"]));
      s.gdpdbl_set_latency(300_000);
      const reading = s.gdp_gin_read_by_recno(gin, 1n, s.gdp_datum_new());
      await new Promise((r) => setTimeout(r, 50));
      await s.gdp_gin_close(gin);
      await reading;`,
  },
  {
    name: "100 subscriptions ending by their count within 2 s",
    message: /gdp_proto\.c:480: req->rpdu->msg->body_case == GDP_MESSAGE__BODY_ACK_END_OF_RESULTS/,
    script: `
      for (let i = 0; i < 150; i++) {
        const gin = await open(log(["a"]));
        await s.gdp_gin_subscribe_by_recno(gin, 1n, 1, 0n, 0n, BigInt(i + 1));
      }
      await new Promise((r) => setTimeout(r, 2000));`,
  },
] as const;

/** Runs `body` against the double in a child process; resolves to how it ended. */
export async function runHazard(
  path: string,
  body: string,
): Promise<{ code: number; signal: Deno.Signal | null; stderr: string }> {
  const dir = await Deno.makeTempDir({ prefix: "gdp-ws-hazard-" });
  try {
    const script = `${dir}/hazard.js`;
    await Deno.writeTextFile(script, `${HAZARD_PRELUDE}\n${body}\nconsole.log("survived");`);
    const { code, signal, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-ffi=${path}`, script, path],
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code, signal, stderr: new TextDecoder().decode(stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const HAZARD_PRELUDE = `
const s = Deno.dlopen(Deno.args[0], {
  gdp_init: { parameters: ["buffer"], result: "u32" },
  gdp_parse_name: { parameters: ["buffer", "buffer"], result: "u32" },
  gdp_gin_open: { parameters: ["buffer", "i32", "usize", "buffer"], result: "u32", nonblocking: true },
  gdp_gin_close: { parameters: ["usize"], result: "u32", nonblocking: true },
  gdp_gin_subscribe_by_recno: {
    parameters: ["usize", "i64", "i32", "usize", "usize", "usize"], result: "u32", nonblocking: true,
  },
  gdp_gin_unsubscribe: { parameters: ["usize", "usize", "usize"], result: "u32", nonblocking: true },
  gdp_gin_read_by_recno: { parameters: ["usize", "i64", "usize"], result: "u32", nonblocking: true },
  gdp_datum_new: { parameters: [], result: "usize" },
  gdpdbl_create_log: { parameters: ["buffer"], result: "i32" },
  gdpdbl_append: { parameters: ["buffer", "buffer", "usize"], result: "i64" },
  gdpdbl_set_latency: { parameters: ["i32"], result: "void" },
}).symbols;
const c = (text) => new TextEncoder().encode(text + "\\0");
s.gdp_init(null);
let logs = 0;
function log(records) {
  const name = "hazard." + ++logs;
  s.gdpdbl_create_log(c(name));
  for (const r of records) s.gdpdbl_append(c(name), new TextEncoder().encode(r), BigInt(r.length));
  return name;
}
async function open(name) {
  const iname = new Uint8Array(32);
  s.gdp_parse_name(c(name), iname);
  const out = new BigUint64Array(1);
  await s.gdp_gin_open(iname, 1, 0n, out);
  return out[0];
}`;
