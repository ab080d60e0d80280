/**
 * `GET /logs/NAME/records`: a bounded range of a log over plain HTTP, by recno
 * (`?start=N&count=M`, `start=-N` for the last N) or by time
 * (`?since=T&until=U`, either optional), as a JSON array or, with
 * `Accept: application/x-ndjson`, one JSON object per line; each element is a
 * DATA event's `datum`. At most `--max-page-records` records a page (and
 * never more than `--max-history-records`); a page that stops short of the
 * range names the next in `Link: <…>; rel="next"`. The body is streamed
 * (range_body.ts). A read counts as a connection while it streams, as a
 * subscription's socket or event stream does, and needs the token's read
 * claim on the log.
 *
 * @example
 * ```ts
 * import type { RouteContext } from "./route_context.ts";
 *
 * const serve = (ctx: RouteContext) => recordRange(ctx); // 200, a JSON array of records
 * ```
 *
 * @module
 */

import { permit } from "../auth/grants.ts";
import { errorAnswer } from "./answers.ts";
import { lognameParam } from "./logs_api.ts";
import { rangeBody } from "./range_body.ts";
import { nextPageLink, parseRangeQuery, resolvePage } from "./range_request.ts";
import type { RouteContext } from "./route_context.ts";

/** `GET /logs/NAME/records`: see the module docs and docs/protocol.md#range-reads. */
export async function recordRange(ctx: RouteContext): Promise<Response> {
  const { gw, params, grant, request, url, client } = ctx;
  const { config, backend, connections } = gw;
  const name = lognameParam(gw, params);
  permit(grant, "read", name);
  const query = parseRangeQuery(url, request.headers, config.limits);
  const full = connections.admit(client.address, client.label);
  if (full) return errorAnswer(full.error);
  const log = await backend.open(name);
  const release = connections.holdRead(client.address);
  const done = () => {
    release();
    void log.close();
  };
  try {
    const page = await resolvePage(log, query);
    const headers: Record<string, string> = {
      "content-type": query.ndjson ? "application/x-ndjson" : "application/json",
      "cache-control": "no-store",
      // The front door writes a body so marked chunked as it is produced.
      "transfer-encoding": "chunked",
    };
    const link = nextPageLink(name, query, page);
    if (link) headers.link = `<${link}>; rel="next"`;
    const format = {
      ndjson: query.ndjson,
      encoding: query.encoding,
      readChunk: config.limits.readChunk,
    };
    return new Response(rangeBody(log, page.from, page.to, format, done), { headers });
  } catch (error) {
    done();
    throw error;
  }
}
