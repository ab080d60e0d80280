/**
 * The rows of the logs the store has found by name, kept so that an append
 * does not look its log up again (a SHA-256 of a human name and a read
 * transaction, with its file locks, per append). A log's row never changes
 * once made: logs are neither renamed nor removed, and the human name is set
 * only when the row is made. So a row found stays right. A name not found is
 * not kept: another process (the CLI) may create the log at any time. Past
 * `max` names the oldest one kept is forgotten, and looked up again when next
 * asked for.
 *
 * @example
 * ```ts
 * const rows = new LogRows<number>(2);
 * rows.get("a", () => 1); // 1, looked up
 * rows.get("a", () => 2); // 1, kept
 * rows.get("b", () => undefined); // undefined, and not kept
 * console.log(rows.size); // 1
 * ```
 *
 * @module
 */

export class LogRows<Row> {
  readonly #max: number;
  readonly #rows = new Map<string, Row>();

  /** Keeps at most `max` names. */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  /** Names kept now. */
  get size(): number {
    return this.#rows.size;
  }

  /** The row asked for by `name`: the one kept, else `find`'s (kept unless undefined). */
  get(name: string, find: (name: string) => Row | undefined): Row | undefined {
    const kept = this.#rows.get(name);
    if (kept !== undefined) return kept;
    const row = find(name);
    if (row === undefined) return undefined;
    if (this.#rows.size >= this.#max) this.#rows.delete(this.#rows.keys().next().value!);
    this.#rows.set(name, row);
    return row;
  }
}
