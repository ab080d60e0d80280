/**
 * Issue 18: the gateway's HTTP/1.1 parser against a reference, `node:http`
 * (llhttp), on the same bytes. A gateway running as the binary does (its
 * grants, its own accept loop and parser) and a `node:http` server in this
 * process each get every request of the head corpus (tests/helpers/
 * head_corpus.ts: issue 18's cases, the request-smuggling set, RFC 9112's
 * rules) and fast-check variants of valid requests, each followed by a second
 * request on the same connection. Properties:
 *
 * - the gateway never accepts what the reference rejects;
 * - where both accept, both answer the same number of requests (they frame
 *   the body alike, so neither sees a request the other swallowed);
 * - where the gateway refuses what the reference accepts, the corpus says
 *   why (the list is docs/development.md's "The edge's shape"), and it does;
 * - every answer's status line carries its reason phrase.
 */

import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { type Exchange, exchange } from "../helpers/http_exchange.ts";
import { FOLLOW_UP, HEAD_CORPUS, headVariant } from "../helpers/head_corpus.ts";
import type { ServeProcess } from "../helpers/process.ts";
import { serveShipped } from "../helpers/shipped.ts";
import { withTempDir } from "../helpers/temp_dir.ts";
import { REASONS } from "../../src/net/http1/response.ts";

Deno.test.sanitizer({ ops: true, resources: true });

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 9_112);
const VARIANTS = Number(Deno.env.get("DIFF_CASES") ?? 300);

/** The reference: node:http, answering 200 to every request it parses, after its body. */
interface Reference {
  port: number;
  /** Requests llhttp parsed in full (head and body) on the connection from `clientPort`. */
  complete(clientPort: number): number;
}

async function withReference(fn: (reference: Reference) => Promise<void>): Promise<void> {
  const requests = new Map<number, http.IncomingMessage[]>();
  const server = http.createServer((request, response) => {
    const port = request.socket.remotePort!;
    requests.set(port, [...requests.get(port) ?? [], request]);
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("ok");
    });
  });
  // A new connection from a port starts afresh: ports are reused over a run.
  server.on("connection", (socket) => requests.set(socket.remotePort!, []));
  // What llhttp refuses: a 400, then the connection ends.
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await fn({
      port: (server.address() as AddressInfo).port,
      // llhttp may refuse the bytes after a request it parsed (HTTP/1.0, then more) before the
      // request is answered: what it parsed is what counts, not what it answered.
      complete: (clientPort) => (requests.get(clientPort) ?? []).filter((r) => r.complete).length,
    });
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

async function withGateway(fn: (gateway: ServeProcess) => Promise<void>): Promise<void> {
  await withTempDir("gdp-ws-diff-", async (data) => {
    const gateway = await serveShipped({ data }, [], { setup: "ulimit -n 1024" });
    try {
      await fn(gateway);
    } finally {
      assert.equal(await gateway.stop(), 0);
    }
  });
}

/**
 * Requests the gateway took: every answer but an error after which it closed
 * the connection. The front door closes after each of its refusals (a head or
 * body it will not take); a route's error answer given before the body was
 * read (no route for a POST, say) closes too, and refuses the request as
 * surely: nothing after it is read.
 */
function served(result: Exchange): number {
  return result.responses.filter((r) =>
    r.status >= 200 && (r.status < 400 || r.headers.get("connection") !== "close")
  ).length;
}

function checkStatusLines(result: Exchange, what: string): void {
  for (const { statusLine, status } of result.responses) {
    assert.equal(statusLine, `HTTP/1.1 ${status} ${REASONS[status]}`, what);
  }
}

/** What each side made of one request: requests served (gateway) and parsed whole (reference). */
interface Outcome {
  gateway: Exchange;
  gatewayServed: number;
  referenceParsed: number;
}

async function both(gatewayPort: number, reference: Reference, bytes: string, quietMs: number) {
  const firstIsHead = bytes.startsWith("HEAD ");
  const [gateway, ref] = await Promise.all([
    exchange(gatewayPort, bytes, { quietMs, firstIsHead }),
    exchange(reference.port, bytes, { quietMs, firstIsHead }),
  ]);
  return {
    gateway,
    gatewayServed: served(gateway),
    referenceParsed: reference.complete(ref.localPort),
  };
}

/**
 * `request` alone (is it accepted?), then followed by {@linkcode FOLLOW_UP}
 * on the same connection (how many requests does each side see?).
 */
async function run(gatewayPort: number, reference: Reference, request: string, quietMs: number) {
  const [alone, pipelined] = await Promise.all([
    both(gatewayPort, reference, request, quietMs),
    both(gatewayPort, reference, request + FOLLOW_UP, quietMs),
  ]);
  return { alone, pipelined };
}

/** A failure message showing both sides. */
function show(request: string, outcome: Outcome): string {
  const answers = outcome.gateway.responses.map((r) => `${r.status} ${r.body.slice(0, 80)}`);
  return `${JSON.stringify(request.slice(0, 300))}\n  gateway: ${
    answers.join(" | ")
  } (${outcome.gateway.ended})` +
    `\n  node:http parsed ${outcome.referenceParsed} request(s) in full`;
}

/** The two properties every request must keep. */
function checkAgreement(
  request: string,
  { alone, pipelined }: { alone: Outcome; pipelined: Outcome },
): void {
  if (alone.referenceParsed === 0) {
    assert.equal(
      alone.gatewayServed,
      0,
      `the gateway accepted what node:http rejects:\n${show(request, alone)}`,
    );
  }
  if (pipelined.referenceParsed > 0 && pipelined.gatewayServed > 0) {
    // Fewer only when the gateway ended the connection after an answer (given before the body
    // was read, say): it then reads nothing more, rather than reading the rest differently.
    const last = pipelined.gateway.responses.at(-1);
    const ended = last?.headers.get("connection") === "close";
    const agrees = pipelined.gatewayServed === pipelined.referenceParsed ||
      (pipelined.gatewayServed < pipelined.referenceParsed && ended);
    assert.ok(
      agrees,
      `both accepted, but framed it differently:\n${show(request + FOLLOW_UP, pipelined)}`,
    );
  }
  checkStatusLines(alone.gateway, request);
  checkStatusLines(pipelined.gateway, request);
}

Deno.test("the head corpus: the gateway accepts nothing node:http rejects, frames alike, and refuses more only where the corpus says why", async () => {
  await withGateway(async (gateway) => {
    await withReference(async (reference) => {
      const stricter: string[] = [];
      const failures: string[] = [];
      // A few at a time: a case whose body swallows the follow-up waits out its quiet time.
      for (let i = 0; i < HEAD_CORPUS.length; i += 8) {
        await Promise.all(
          HEAD_CORPUS.slice(i, i + 8).map(async (c) => {
            const outcomes = await run(gateway.port, reference, c.request, 1_500);
            try {
              checkAgreement(c.request, outcomes);
            } catch (error) {
              return failures.push(`${c.name}: ${(error as Error).message}`);
            }
            const outcome = outcomes.alone;
            const gatewayRefuses = outcome.gatewayServed === 0 && outcome.referenceParsed > 0;
            if (gatewayRefuses) stricter.push(c.name);
            if (gatewayRefuses !== (c.stricter !== undefined)) {
              const listed = c.stricter
                ? "listed as refused by the gateway only"
                : "not listed as stricter";
              failures.push(`${c.name}: ${listed}\n${show(c.request, outcome)}`);
            }
          }),
        );
      }
      assert.deepEqual(failures, [], failures.join("\n\n"));
      console.log(
        `the gateway refuses ${stricter.length} cases node:http accepts: ${stricter.join("; ")}`,
      );
    });
  });
});

Deno.test(`${VARIANTS} generated variants of valid requests: the gateway accepts nothing node:http rejects`, async () => {
  await withGateway(async (gateway) => {
    await withReference(async (reference) => {
      await fc.assert(
        fc.asyncProperty(headVariant, async (request) => {
          checkAgreement(request, await run(gateway.port, reference, request, 400));
        }),
        { seed: SEED, numRuns: VARIANTS, endOnFailure: true },
      );
    });
  });
});
