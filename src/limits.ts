/**
 * Counting what the limits refuse, and the rate limiters behind the rate limits.
 * Every numeric limit of {@linkcode Limits} has one plain `{limit, refused}`
 * object here; /readyz shows them and /metrics can export them as they are.
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS } from "./config.ts";
 *
 * const refusals = makeRefusals(DEFAULT_LIMITS);
 * refusals.maxConnections.refused++;
 * ```
 *
 * @module
 */

import type { Limits } from "./config.ts";
import { GdpError } from "./core/errors.ts";

/** One limit: its configured value and how many times it refused something. */
export interface LimitCounter {
  limit: number;
  refused: number;
}

/** A counter per limit, keyed by the {@linkcode Limits} field name. */
export type Refusals = { [K in keyof Limits]: LimitCounter };

/** A limit's name as a metric label: `maxFrameBytes` is `frame_bytes`. */
export function limitLabel(name: keyof Limits): string {
  return name.replace(/^max(?=[A-Z])/, "").replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    .replace(/^_/, "");
}

/** Fresh counters for `limits`. */
export function makeRefusals(limits: Limits): Refusals {
  const entries = Object.entries(limits).map(([name, limit]) => [name, { limit, refused: 0 }]);
  return Object.fromEntries(entries) as Refusals;
}

/** Counts a refusal by `name` and returns `error`, for `throw countRefusal(...)`. */
export function countRefusal(
  refusals: Refusals | undefined,
  name: keyof Limits,
  error: GdpError,
): GdpError {
  if (refusals) refusals[name].refused++;
  return error;
}

/** A token bucket: `rate` tokens per `perMs`, holding at most `rate`. */
export class RateLimit {
  readonly #rate: number;
  readonly #perMs: number;
  #tokens: number;
  #at = performance.now();

  constructor(rate: number, perMs: number) {
    this.#rate = rate;
    this.#perMs = perMs;
    this.#tokens = rate;
  }

  /** Takes one token; false when none is left. */
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + (now - this.#at) * this.#rate / this.#perMs);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /**
   * Takes one token, on credit if none is left: 0 when it was there, else the
   * ms until the bucket is out of debt again, which is when the caller may
   * act. A caller that waits that long before asking again owes at most one.
   */
  reserve(): number {
    const now = performance.now();
    this.#tokens = Math.min(this.#rate, this.#tokens + (now - this.#at) * this.#rate / this.#perMs);
    this.#at = now;
    this.#tokens--;
    return this.#tokens >= 0 ? 0 : -this.#tokens * this.#perMs / this.#rate;
  }

  /** True when the bucket has refilled, so forgetting it changes nothing. */
  get full(): boolean {
    return this.#tokens + (performance.now() - this.#at) * this.#rate / this.#perMs >= this.#rate;
  }
}

/** Rate limits per client address; at most `maxAddresses` are remembered. */
export class AddressRateLimits {
  readonly #buckets = new Map<string, RateLimit>();
  readonly #rate: number;
  readonly #perMs: number;
  readonly #maxAddresses: number;

  constructor(rate: number, perMs: number, maxAddresses = 10_000) {
    this.#rate = rate;
    this.#perMs = perMs;
    this.#maxAddresses = maxAddresses;
  }

  take(address: string): boolean {
    let bucket = this.#buckets.get(address);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxAddresses) this.#forget();
      this.#buckets.set(address, bucket = new RateLimit(this.#rate, this.#perMs));
    }
    return bucket.take();
  }

  /** Drops refilled buckets; if none is, the oldest (the map is bounded either way). */
  #forget(): void {
    for (const [address, bucket] of this.#buckets) {
      if (bucket.full) this.#buckets.delete(address);
    }
    if (this.#buckets.size >= this.#maxAddresses) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
  }
}
