/**
 * The one error class of the gateway: a GDP-style status with a numeric code
 * (GDP's own detail code, or an HTTP-like code of the gateway's) and the text
 * sent as `ep_stat[1]`.
 *
 * @example
 * ```ts
 * throw GdpError.badRequest("numrec", "must be an integer >= 0");
 * ```
 *
 * @module
 */

const REASONS: Readonly<Record<number, string>> = {
  400: "bad request",
  401: "unauthenticated",
  403: "forbidden",
  404: "not found",
  405: "method not allowed",
  408: "request timeout",
  409: "conflict",
  411: "length required",
  413: "request too large",
  421: "misdirected request",
  426: "upgrade required",
  429: "too many requests",
  431: "request header fields too large",
  500: "internal error",
  501: "not implemented",
  503: "service unavailable",
  505: "HTTP version not supported",
  507: "insufficient storage",
  600: "no route available",
};

/** A failure with a GDP-style `[code, text]` status. */
export class GdpError extends Error {
  /** `ep_stat[0]`: GDP's detail code or the gateway's HTTP-like code. */
  readonly code: number;

  constructor(code: number, text: string, options?: ErrorOptions) {
    super(text, options);
    this.name = "GdpError";
    this.code = code;
  }

  /** `ep_stat` as sent on the wire. */
  get epStat(): [number, string] {
    return [this.code, this.message];
  }

  /** An error with the standard text for `code`, plus an optional detail. */
  static of(code: number, detail?: string, options?: ErrorOptions): GdpError {
    const reason = REASONS[code] ?? "error";
    const suffix = code === 600 ? " [Berkeley:Swarm-GDP:600]" : "";
    const text = `ERROR: ${code} ${reason}${suffix}${detail ? `: ${detail}` : ""}`;
    return new GdpError(code, text, options);
  }

  /** 400, naming the field and what is wrong with it. */
  static badRequest(field: string, problem: string): GdpError {
    return GdpError.of(400, `${field} ${problem}`);
  }

  /** 600, as GDP reports a log that does not exist. */
  static noRoute(): GdpError {
    return GdpError.of(600);
  }

  /** Any thrown value as a GdpError (500 unless it already is one). */
  static from(error: unknown): GdpError {
    if (error instanceof GdpError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return GdpError.of(500, message, { cause: error });
  }
}
