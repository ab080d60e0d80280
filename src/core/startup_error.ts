/**
 * A start-up failure that names what failed: the flag and its value, then the
 * reason in a few words (`--port 8080: address already in use`), instead of
 * the runtime's wording, which names neither the flag nor, sometimes, the
 * value, or names it three times.
 *
 * @example
 * ```ts
 * try {
 *   Deno.listen({ port: 8080 });
 * } catch (error) {
 *   throw new StartupError("--port", "8080", error); // "--port 8080: address already in use"
 * }
 * ```
 *
 * @module
 */

/** A failure to start, attributed to the flag (and value) that caused it. */
export class StartupError extends Error {
  override name = "StartupError";
  readonly flag: string;
  readonly value: string;

  constructor(flag: string, value: string, cause: unknown) {
    super(`${flag} ${value}: ${reasonOf(cause, value)}`, { cause });
    this.flag = flag;
    this.value = value;
  }
}

/** What operating-system errors mean, by Node-style code or Deno error class name. */
const REASONS: Readonly<Record<string, string>> = {
  AddrInUse: "address already in use",
  EADDRINUSE: "address already in use",
  AddrNotAvailable: "no such address on this machine",
  EADDRNOTAVAIL: "no such address on this machine",
  NotFound: "no such file or directory",
  ENOENT: "no such file or directory",
  AlreadyExists: "exists and is not a folder",
  EEXIST: "exists and is not a folder",
  NotADirectory: "a part of the path is not a folder",
  ENOTDIR: "a part of the path is not a folder",
  IsADirectory: "is a folder, not a file",
  EISDIR: "is a folder, not a file",
  PermissionDenied: "permission denied",
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
};

/**
 * The reason of `error` in a few words: an operating-system error by its kind,
 * else the innermost message, without `(os error N)`, the value repeated, or a
 * loader's doubled prefix.
 */
export function reasonOf(error: unknown, value = ""): string {
  let inner: unknown = error;
  for (let depth = 0; inner instanceof Error && inner.cause !== undefined && depth < 8; depth++) {
    inner = inner.cause;
  }
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    const known = REASONS[typeof code === "string" ? code : ""] ?? REASONS[e.name];
    if (known) return known;
    e = e.cause;
  }
  let text = inner instanceof Error ? inner.message : String(inner);
  text = text.replaceAll("Could not open library: ", "").replace(/\s*\(os error \d+\)/g, "");
  if (value) {
    text = text.replaceAll(`${value}: `, "").replaceAll(` in ${value}`, "")
      .replaceAll(`'${value}'`, "it");
  }
  return text.trim() || "failed";
}
