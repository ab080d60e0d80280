/**
 * The log subcommands through a gateway's HTTP API: `PUT /logs/NAME` creates,
 * `POST /logs/NAME` appends, `GET /logs/NAME` informs, `GET /logs` lists
 * (following its `Link: rel="next"` pages), `GET /logs/NAME/records` reads a
 * range (as NDJSON, following its pages too). A failure becomes a
 * {@linkcode CliError} with one line and its exit code: 3 when nothing
 * answers, 4 when the gateway refuses the client, 1 for its other errors.
 *
 * @example
 * ```ts
 * const gateway = new GatewayTarget({ ws: "ws://127.0.0.1:8080/", http: "http://127.0.0.1:8080/" });
 * console.log(await gateway.append("demo", new TextEncoder().encode("21.5"))); // its recno
 * await gateway.close();
 * ```
 *
 * @module
 */

import { lines } from "../io/lines.ts";
import { CliError, EXIT, exitCodeOf } from "./exit_codes.ts";
import type { GatewayAddress } from "./gateway_address.ts";
import type { LogInfoObject, LogTarget } from "./log_target.ts";

/** A gateway's HTTP API. */
export class GatewayTarget implements LogTarget {
  readonly #address: GatewayAddress;

  constructor(address: GatewayAddress) {
    this.#address = address;
  }

  async create(logname: string): Promise<LogInfoObject> {
    return await this.#json("PUT", logPath(logname)) as LogInfoObject;
  }

  async info(logname: string): Promise<LogInfoObject> {
    return await this.#json("GET", logPath(logname)) as LogInfoObject;
  }

  async append(logname: string, data: Uint8Array): Promise<number> {
    const body = new Uint8Array(data); // a copy on its own ArrayBuffer, as fetch takes it
    const answer = await this.#json("POST", logPath(logname), body) as { recno: number };
    return answer.recno;
  }

  async *list(): AsyncIterable<LogInfoObject> {
    let path: string | undefined = "logs";
    while (path !== undefined) {
      const response = await this.#fetch("GET", path);
      const page = await response.json() as LogInfoObject[];
      yield* page;
      path = nextPage(response.headers.get("link"));
    }
  }

  /**
   * A range of records, each an NDJSON line (a DATA event's `datum`), every
   * page of it. An answer cut off partway (the connection closed before its
   * end) throws a CliError naming the last record that arrived.
   */
  async *records(logname: string, query: URLSearchParams): AsyncIterable<string> {
    let path: string | undefined = `${logPath(logname)}/records?${query}`;
    let last = 0;
    while (path !== undefined) {
      const response = await this.#fetch("GET", path, undefined, {
        accept: "application/x-ndjson",
      });
      try {
        for await (const line of lines(response.body!)) {
          if (line === "") continue;
          last = (JSON.parse(line) as { recno: number }).recno;
          yield line;
        }
      } catch (error) {
        throw new CliError(
          EXIT.failed,
          `the answer of ${this.#address.http} was cut off after record ${last}: ` +
            `${networkReason(error)} (read again from --start ${last + 1})`,
        );
      }
      path = nextPage(response.headers.get("link"));
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #json(method: string, path: string, body?: Uint8Array<ArrayBuffer>): Promise<unknown> {
    return await (await this.#fetch(method, path, body)).json();
  }

  /** The gateway's answer when it is a success; else the CliError that says why not. */
  async #fetch(
    method: string,
    path: string,
    body?: Uint8Array<ArrayBuffer>,
    extra: Record<string, string> = {},
  ): Promise<Response> {
    const { http, token } = this.#address;
    const url = new URL(path.replace(/^\//, ""), http);
    const headers: Record<string, string> = token
      ? { authorization: `Bearer ${token}`, ...extra }
      : extra;
    let response: Response;
    try {
      response = await fetch(url, { method, headers, ...(body ? { body } : {}) });
    } catch (error) {
      throw new CliError(
        EXIT.cannotConnect,
        `cannot connect to ${http}: ${networkReason(error)} (is the gateway running? ` +
          "--url names another)",
      );
    }
    if (response.ok) return response;
    throw await answerError(response, http, token !== undefined);
  }
}

/** The error in a gateway's answer, as a CliError. */
async function answerError(response: Response, http: string, hadToken: boolean): Promise<CliError> {
  const text = await response.text();
  let stat: unknown;
  try {
    stat = (JSON.parse(text) as { ep_stat?: unknown }).ep_stat;
  } catch {
    stat = undefined;
  }
  if (!Array.isArray(stat) || typeof stat[0] !== "number" || typeof stat[1] !== "string") {
    return new CliError(
      EXIT.failed,
      `${http} answered HTTP ${response.status} without a gdp-ws status: is it a gdp-ws gateway?`,
    );
  }
  const [code, message] = stat as [number, string];
  const exit = exitCodeOf(code);
  if (exit !== EXIT.refused) return new CliError(exit, message);
  const hint = code === 401 && !hadToken ? " (pass --token or set GDP_WS_TOKEN)" : "";
  return new CliError(exit, `refused by ${http}: ${message}${hint}`);
}

/** The path of one log: its name as one percent-encoded segment. */
function logPath(logname: string): string {
  return `logs/${encodeURIComponent(logname)}`;
}

/** The next page's path in a `Link: <…>; rel="next"` header, if any. */
function nextPage(link: string | null): string | undefined {
  const match = link && /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return match ? match[1]! : undefined;
}

/** A network failure in a few words: "connection refused", "host not found", else its text. */
export function networkReason(error: unknown): string {
  const texts: string[] = [];
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    texts.push(`${(e as { code?: string }).code ?? ""} ${e.message}`);
  }
  const all = texts.join(" ");
  if (/ECONNREFUSED|connection refused/i.test(all)) return "connection refused";
  if (/ENOTFOUND|dns error|failed to lookup|name or service not known/i.test(all)) {
    return "host not found";
  }
  if (/timed out/i.test(all)) return "timed out";
  if (/connection reset/i.test(all)) return "connection reset";
  return error instanceof Error ? error.message : String(error);
}
