/**
 * Deno's op and resource sanitizers are off by default since Deno 2.8; every
 * test here turns them on, so a test that leaves a timer, a socket or a file
 * open fails. Their one exemption is named here: libgdp, once loaded, stays
 * loaded for the process (the backend keeps one `Deno.dlopen` per path, as the
 * compiled gateway does), and so does the double's own handle on it: a module
 * loads it before its first test (`protocolSuite` does, for its suite).
 *
 * @module
 */

import { openLibgdpBackend } from "../../src/backend/libgdp/backend.ts";
import { libgdpDouble } from "./libgdp_double.ts";

/** Test options that turn both sanitizers on. */
export const SANITIZED = { sanitizeOps: true, sanitizeResources: true } as const;

/**
 * Loads the libgdp double, and the backend's copy of it, before a module's
 * first test, so no test is charged with a library that stays loaded on
 * purpose; resolves to {@linkcode SANITIZED}. Await it at the module's top.
 */
export async function sanitizedWithLibgdpLoaded(): Promise<typeof SANITIZED> {
  const double = await libgdpDouble();
  await (await openLibgdpBackend({ path: double.path })).close();
  return SANITIZED;
}
