/**
 * The real-GDP comparison (filled in below).
 *
 * @module
 */

import type { Plan } from "./plan.ts";

export function realGdpRows(_plan: Plan): Promise<string[]> {
  return Promise.resolve([]);
}
