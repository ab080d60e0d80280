/**
 * The HTTP API on logs: `GET /logs` (a page of logs), `GET /logs/NAME` (one
 * log's info), `POST /logs/NAME` (append the body as a record), `PUT /logs/NAME`
 * (create the log) and `GET /logs/NAME/events` (the log as Server-Sent Events). Each runs after the
 * guard; the grant it returned limits what it shows, streams and appends.
 *
 * @example
 * ```ts
 * import type { RouteContext } from "./route_context.ts";
 *
 * async function info(ctx: RouteContext): Promise<Response> {
 *   return await logInfo(ctx); // {"name": …, "count": …} or 404
 * }
 * ```
 *
 * @module
 */

import { allows, atExpiry, permit } from "../auth/grants.ts";
import type { LogInfo } from "../core/records.ts";
import { GdpError } from "../core/errors.ts";
import { checkLogname } from "../core/names.ts";
import { concat } from "../io/bytes.ts";
import { countRefusal, type Refusals } from "../limits.ts";
import { infoObject, tsObject } from "../wire/events.ts";
import { errorAnswer, json } from "./answers.ts";
import { allowCreate } from "./create_gate.ts";
import type { GatewayContext } from "./context.ts";
import { appendsClosed, appendsOpen } from "./local_client.ts";
import { SEALED } from "./page_cursor.ts";
import { EventStream, parseEventsRequest } from "./event_stream.ts";
import type { RouteContext } from "./route_context.ts";

/** Logs one page may scan, as a multiple of its size, before it ends short with a `Link`. */
const SCAN_PAGES = 10;

/**
 * `GET /logs[?after=CURSOR][&limit=N]`: a page of the logs the client may read,
 * in label order. While there may be more, a `Link: <…>; rel="next"` header
 * names the next page: after the page's last log, or (when the page stopped
 * among logs the token may not read) after a sealed position that names none
 * of them. Building a page reads at most {@linkcode SCAN_PAGES} pages' worth.
 */
export async function listLogs({ gw, url, grant }: RouteContext): Promise<Response> {
  const max = gw.config.limits.maxListLogs;
  const limitParam = url.searchParams.get("limit");
  const limit = limitParam === null ? max : Number(limitParam);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max) {
    throw GdpError.badRequest("limit", `must be an integer from 1 to ${max}`);
  }
  let position = await cursorParam(gw, url.searchParams.get("after"));
  const readable = (info: LogInfo) =>
    allows(grant, "read", info.name) ||
    (info.human !== undefined && allows(grant, "read", info.human));
  const page: LogInfo[] = [];
  let more = true;
  scan: for (let scanned = 0; scanned < SCAN_PAGES * limit; scanned += limit) {
    const batch = await gw.backend.list({ limit, ...(position ? { after: position } : {}) });
    for (const [i, info] of batch.entries()) {
      position = labelOf(info);
      if (!readable(info)) continue;
      page.push(info);
      if (page.length === limit) {
        more = batch.length === limit || i < batch.length - 1;
        break scan;
      }
    }
    if (batch.length < limit) {
      more = false;
      break;
    }
  }
  const headers: Record<string, string> = {};
  if (more && position !== undefined) {
    const last = page.at(-1);
    // A label may itself start with the sealed mark: then it is sealed too.
    const plain = last && labelOf(last) === position && !position.startsWith(SEALED);
    const after = plain ? position : await gw.cursors.seal(position);
    headers.link = `</logs?${new URLSearchParams({ after, limit: String(limit) })}>; rel="next"`;
  }
  return json(page.map(infoObject), 200, headers);
}

/** How logs are ordered in a listing: by human name, else internal name. */
function labelOf(info: LogInfo): string {
  return info.human ?? info.name;
}

/** The position `after` names: a label, or a sealed one this process made. */
async function cursorParam(gw: GatewayContext, after: string | null): Promise<string | undefined> {
  if (after === null || after === "") return undefined;
  if (!after.startsWith(SEALED)) return after;
  const label = await gw.cursors.open(after);
  if (label === undefined) {
    throw GdpError.badRequest(
      "after",
      "is a position this gateway did not make (or made before it restarted); list from the start",
    );
  }
  return label;
}

/** `GET /logs/NAME`: what the backend knows of one log. */
export async function logInfo({ gw, params, grant }: RouteContext): Promise<Response> {
  const name = lognameParam(gw, params);
  permit(grant, "read", name);
  return json(infoObject(await gw.backend.info(name)));
}

/** `POST /logs/NAME`: the body becomes one record (201 with its recno and ts). */
export async function appendRecord(ctx: RouteContext): Promise<Response> {
  const { gw, params, grant, request, peer, client } = ctx;
  const name = lognameParam(gw, params);
  permit(grant, "append", name);
  if (!appendsOpen(gw, client, peer)) throw appendsClosed();
  const { config, refusals, hub, metrics } = gw;
  const create = config.autoCreate && (() => allowCreate(gw, client.address));
  const body = await readBody(request, config.limits.maxRecordBytes, refusals);
  const record = await hub.append(name, body, create);
  metrics.inc("gdpws_records_in_total", { via: "http" });
  return json({ logname: name, recno: record.recno, ts: tsObject(record.ts) }, 201);
}

/**
 * `PUT /logs/NAME`: creates the log (201 and its info), or 200 and the info of
 * the one that exists. Under the same rules as an append that creates: the
 * append claim, local clients only without tokens, `--max-log-creates`.
 */
export async function createLog(ctx: RouteContext): Promise<Response> {
  const { gw, params, grant, peer, client } = ctx;
  const name = lognameParam(gw, params);
  permit(grant, "append", name);
  if (!appendsOpen(gw, client, peer)) throw appendsClosed();
  try {
    return json(infoObject(await gw.backend.info(name)));
  } catch (error) {
    if (!(error instanceof GdpError) || error.code !== 600) throw error;
  }
  allowCreate(gw, client.address);
  return json(infoObject(await gw.backend.create(name)), 201);
}

/** `GET /logs/NAME/events?start=&count=`: the log as Server-Sent Events (event_stream.ts). */
export async function eventStream(ctx: RouteContext): Promise<Response> {
  const { gw, params, grant, request, url, client } = ctx;
  const { config, backend, hub, connections } = gw;
  const name = lognameParam(gw, params);
  permit(grant, "read", name);
  const subscription = parseEventsRequest(name, url, request.headers, config.limits);
  // 204 tells a browser's EventSource to stop reconnecting.
  if (subscription === "done") return new Response(null, { status: 204 });
  const address = client.address;
  const full = connections.admit(address, client.label);
  if (full) return errorAnswer(full.error);
  // A missing log is a 404 before the stream starts, so EventSource does not retry it forever.
  await backend.info(name);
  const release = connections.hold(address);
  // A stream must not outlive its token: at `exp` it ends with a 401 FAILURE event.
  const cancelExpiry = atExpiry(
    grant,
    () => stream.fail(GdpError.of(401, "the token has expired")),
  );
  const stream: EventStream = new EventStream(hub, subscription, config.limits, () => {
    cancelExpiry();
    connections.streams.delete(stream);
    release();
  });
  connections.streams.add(stream);
  return stream.response;
}

/** The route's `:name`, checked as any logname is (400 naming the rule). */
export function lognameParam(
  gw: GatewayContext,
  params: Readonly<Record<string, string>>,
): string {
  return checkLogname(params.name ?? "", gw.config.limits.maxLognameLength);
}

/** The request body, refused (413) as soon as it passes `max` bytes: never buffered whole. */
async function readBody(request: Request, max: number, refusals: Refusals): Promise<Uint8Array> {
  const tooBig = () =>
    countRefusal(
      refusals,
      "maxRecordBytes",
      GdpError.of(413, `the body is over the ${max}-byte limit`),
    );
  if (Number(request.headers.get("content-length") ?? 0) > max) throw tooBig();
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw tooBig();
    }
    chunks.push(value);
  }
  return concat(chunks);
}
