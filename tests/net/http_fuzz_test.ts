/**
 * Issue 18: the head corpus as a fuzz run against a gateway as it ships (its
 * grants, `ulimit -n 1024`): every request of tests/helpers/head_corpus.ts and
 * fast-check variants of them (bytes inserted, deleted, replaced; valid
 * requests mutated), pipelined in twos and threes, written in pieces, from
 * many connections at once, each client ending its side after its bytes.
 * Properties:
 *
 * - the process lives, /healthz answers, nothing in its stderr says EMFILE,
 *   panic or an uncaught error;
 * - every answer starts with a status line carrying its reason phrase, with a
 *   status the front door or the routes give, and never 500;
 * - every connection is closed by the gateway once its client has ended;
 * - the gateway's RSS stays under {@linkcode RSS_BOUND}, and every connection
 *   is gone at the end.
 *
 * `FUZZ_CASES` sets the number of cases (CI runs the default), `FUZZ_SEED`
 * replays a run.
 */

import { GATEWAY_STATUSES } from "../helpers/statuses.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { edgeState, fatalLines, healthz, rssOf, until } from "../helpers/edge.ts";
import { FOLLOW_UP, headCase } from "../helpers/head_corpus.ts";
import { exchange } from "../helpers/http_exchange.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { REASONS } from "../../src/net/http1/response.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 18_018);
const CASES = Number(Deno.env.get("FUZZ_CASES") ?? 3_000);
const WORKERS = 16;
/** The stated bound on the gateway's resident memory during the run. */
const RSS_BOUND = 400 * 1024 * 1024;
/** What the front door and the routes answer; 500 would be a bug. */
const STATUSES = new Set(GATEWAY_STATUSES);

interface FuzzCase {
  requests: string[];
  pieces: number;
}

const fuzzCase: fc.Arbitrary<FuzzCase> = fc.record({
  requests: fc.array(headCase, { minLength: 1, maxLength: 3 }),
  pieces: fc.integer({ min: 1, max: 4 }),
});

async function worker(port: number, cases: FuzzCase[], counts: Map<number, number>): Promise<void> {
  for (const c of cases) {
    // An answer to HEAD has no body: only a first HEAD, so answers can be told apart.
    const requests = c.requests.map((r, i) => i > 0 ? r.replace(/^HEAD /, "GET ") : r);
    const bytes = requests.join("") + FOLLOW_UP;
    const firstIsHead = bytes.startsWith("HEAD ");
    // The client ends its side: the gateway must then close, whatever it was reading.
    const result = await exchange(port, bytes, {
      pieces: c.pieces,
      end: true,
      quietMs: 15_000,
      firstIsHead,
    });
    const what = JSON.stringify(bytes.slice(0, 200));
    assert.equal(result.ended, "closed", `the gateway kept a connection its client ended: ${what}`);
    for (const { statusLine, status } of result.responses) {
      assert.ok(STATUSES.has(status), `status ${status} for ${what}`);
      assert.equal(statusLine, `HTTP/1.1 ${status} ${REASONS[status]}`, what);
      counts.set(status, (counts.get(status) ?? 0) + 1);
    }
  }
}

Deno.test(`fuzz: ${CASES} cases from the head corpus, in pieces and pipelined; the gateway lives, answers each with a proper status line, closes what its clients end, and stays under ${RSS_BOUND / 2 ** 20} MiB`, async () => {
  await withTempDir("gdp-ws-http-fuzz-", async (dir) => {
    const gateway = await serveShipped({ data: join(dir, "data") }, [
      "--max-handshakes-per-address",
      "1000",
    ], { setup: "ulimit -n 1024" });
    let exited = false;
    void gateway.child.status.then(() => exited = true);
    try {
      const cases = fc.sample(fuzzCase, { seed: SEED, numRuns: CASES });
      const counts = new Map<number, number>();
      let maxRss = 0;
      const sampling = setInterval(() => {
        rssOf(gateway.child.pid).then((rss) => maxRss = Math.max(maxRss, rss), () => {});
      }, 500);
      const started = performance.now();
      try {
        await Promise.all(
          Array.from(
            { length: WORKERS },
            (_, w) => worker(gateway.port, cases.filter((_, i) => i % WORKERS === w), counts),
          ),
        );
      } catch (error) {
        console.error(`http fuzz failed with FUZZ_SEED=${SEED}`);
        throw error;
      } finally {
        clearInterval(sampling);
      }
      const seconds = (performance.now() - started) / 1000;
      maxRss = Math.max(maxRss, await rssOf(gateway.child.pid));
      assert.equal(exited, false, "the gateway died");
      assert.equal(await healthz(gateway.port), 200);
      await until(
        async () => (await edgeState(gateway.port)).front.open <= 1,
        "every connection gone",
      );
      assert.deepEqual(fatalLines(gateway), []);
      const answers = [...counts].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`).join(" ");
      console.log(
        `http fuzz: ${CASES} cases (seed ${SEED}) in ${seconds.toFixed(0)} s; peak RSS ` +
          `${(maxRss / 2 ** 20).toFixed(0)} MiB; answers ${answers}`,
      );
      assert.ok(maxRss < RSS_BOUND, `RSS ${maxRss} over ${RSS_BOUND}`);
    } finally {
      await gateway.stop();
    }
  });
});
