/**
 * Slots for connections still sending their request (head or body, or kept
 * alive waiting for the next head): at most `max` in all and `maxPerAddress`
 * from one client address, so one client cannot take every slot and leave
 * the others, `/healthz` included, only 503s. An IPv6 client is counted by
 * its /64, the smallest block one subscriber is usually given.
 *
 * @example
 * ```ts
 * const slots = new HeadSlots(1000, 100);
 * const key = addressKey("2001:db8::1"); // "2001:db8:0:0::/64"
 * if (slots.take(key) === "ok") slots.give(key);
 * ```
 *
 * @module
 */

/** Which limit refused a slot. */
export type SlotRefusal = "maxHandshakes" | "maxHandshakesPerAddress";

export class HeadSlots {
  readonly #max: number;
  readonly #maxPerAddress: number;
  readonly #byAddress = new Map<string, number>();
  #size = 0;

  constructor(max: number, maxPerAddress: number) {
    this.#max = max;
    this.#maxPerAddress = maxPerAddress;
  }

  /** Slots taken. */
  get size(): number {
    return this.#size;
  }

  /**
   * Takes a slot for `key` (from {@linkcode addressKey}), or says which limit
   * is reached. Undefined `key`: a peer that speaks for many clients (a
   * trusted proxy), held to the total only.
   */
  take(key: string | undefined): "ok" | SlotRefusal {
    if (this.#size >= this.#max) return "maxHandshakes";
    if (key === undefined) {
      this.#size++;
      return "ok";
    }
    const held = this.#byAddress.get(key) ?? 0;
    if (held >= this.#maxPerAddress) return "maxHandshakesPerAddress";
    this.#byAddress.set(key, held + 1);
    this.#size++;
    return "ok";
  }

  give(key: string | undefined): void {
    this.#size--;
    if (key === undefined) return;
    const held = this.#byAddress.get(key) ?? 0;
    if (held <= 1) this.#byAddress.delete(key);
    else this.#byAddress.set(key, held - 1);
  }
}

/** A client address as counted: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(hostname: string): string {
  if (!hostname.includes(":")) return hostname;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(hostname);
  if (mapped) return mapped[1]!;
  const [head = "", tail] = hostname.toLowerCase().split("::");
  const front = head ? head.split(":") : [];
  const back = tail ? tail.split(":") : [];
  const groups = tail === undefined
    ? front
    : [...front, ...Array<string>(Math.max(0, 8 - front.length - back.length)).fill("0"), ...back];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
