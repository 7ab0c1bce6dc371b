// The one path-safety check: every remote path goes through here.

/** Longest relative path accepted, in UTF-8 bytes. */
export const MAX_PATH_BYTES = 4096;
/** Longest single path component accepted, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;

/**
 * A path that would leave its root: `..`, absolute, NUL, backslash,
 * over-long, or through a symlink pointing outside.
 */
export class PathEscapeError extends Error {
  /** The offending path as given. */
  readonly path: string;
  /** The unsafe `path` as given and why it was refused. */
  constructor(path: string, reason: string) {
    super(`Unsafe path ${JSON.stringify(path)}: ${reason}`);
    this.name = "PathEscapeError";
    this.path = path;
  }
}

const encoder = new TextEncoder();

/** Paths up to this many UTF-16 units are within MAX_PATH_BYTES in UTF-8. */
const FAST_PATH_UNITS = Math.floor(MAX_PATH_BYTES / 3);
/** Names up to this many UTF-16 units are within MAX_NAME_BYTES in UTF-8. */
const FAST_NAME_UNITS = Math.floor(MAX_NAME_BYTES / 3);
const SLASH = 0x2f;
const DOT = 0x2e;
const BACKSLASH = 0x5c;

/**
 * Whether `path` is normal as it is, and short enough in any encoding:
 * names of 1-85 UTF-16 units (at most 255 UTF-8 bytes) joined by single
 * slashes, none "." or "..", no NUL or backslash, 1,365 units at most. A
 * plain scan: ~2.5x faster than the equivalent regular expression here
 * (~30 against ~75 ns a manifest path), called several times a file.
 */
function isNormal(path: string): boolean {
  const n = path.length;
  if (n === 0 || n > FAST_PATH_UNITS) return false;
  let start = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? path.charCodeAt(i) : SLASH;
    if (c === SLASH) {
      const len = i - start;
      if (len === 0 || len > FAST_NAME_UNITS) return false;
      if (
        len <= 2 && path.charCodeAt(start) === DOT &&
        (len === 1 || path.charCodeAt(start + 1) === DOT)
      ) return false;
      start = i + 1;
    } else if (c === 0 || c === BACKSLASH) return false;
  }
  return true;
}

/**
 * Validates and normalises a relative path: drops empty and `.` segments,
 * refuses `..`, absolute paths, NUL, backslashes and over-long paths.
 * Returns `""` for the root itself.
 *
 * @example
 * ```ts
 * import { normalizeRelative } from "@blit/cli/internals";
 * if (!(normalizeRelative("./a//b/") === "a/b")) throw new Error("example failed");
 * if (!(normalizeRelative("") === "")) throw new Error("example failed");
 * ```
 * @throws {PathEscapeError} when the path is unsafe.
 */
export function normalizeRelative(path: string): string {
  if (typeof path !== "string") {
    throw new TypeError(`Path must be a string, got ${typeof path}`);
  }
  // Already normal and short enough in any encoding (the common case: a
  // name from a manifest, checked on every call that touches it).
  if (isNormal(path)) return path;
  if (path.includes("\0")) throw new PathEscapeError(path, "contains NUL");
  if (path.includes("\\")) {
    throw new PathEscapeError(path, "contains a backslash");
  }
  if (path.startsWith("/")) throw new PathEscapeError(path, "is absolute");
  // UTF-8 takes at most 3 bytes per UTF-16 unit: skip encoding short paths.
  if (
    path.length * 3 > MAX_PATH_BYTES &&
    encoder.encode(path).length > MAX_PATH_BYTES
  ) {
    throw new PathEscapeError(path, `is longer than ${MAX_PATH_BYTES} bytes`);
  }
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw new PathEscapeError(path, "contains '..'");
    if (
      part.length * 3 > MAX_NAME_BYTES &&
      encoder.encode(part).length > MAX_NAME_BYTES
    ) {
      throw new PathEscapeError(
        path,
        `has a component longer than ${MAX_NAME_BYTES} bytes`,
      );
    }
    parts.push(part);
  }
  return parts.join("/");
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root ||
    candidate.startsWith(root.endsWith("/") ? root : root + "/");
}

/** Options for {@linkcode resolveInside}. */
export interface ResolveOptions {
  /**
   * Parent directories (relative paths) already checked in this run. Only
   * for trusted local copies: a cache can go stale if someone else swaps a
   * directory for a link meanwhile, so the daemon never passes one.
   */
  verified?: Set<string>;
}

/**
 * Resolves `rel` under `root` (an absolute, already real path) and checks
 * that every existing component resolves inside `root`. The final
 * component is not followed: a symlink there is returned as itself, so
 * callers can list, replace or delete the link without touching its target.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { resolveInside } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * if (!(resolveInside(root, "x/y") === root + "/x/y")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {PathEscapeError} when the path is unsafe or leaves `root`.
 */
export function resolveInside(
  root: string,
  rel: string,
  options: ResolveOptions = {},
): string {
  const normal = normalizeRelative(rel);
  if (normal === "") return root;
  // A name directly in root, or in a directory already checked this run:
  // nothing to look at (the common case: no split, no lstat).
  const slash = normal.lastIndexOf("/");
  const verified = options.verified;
  if (slash < 0 || verified?.has(normal.slice(0, slash))) {
    return `${root}/${normal}`;
  }
  const parts = normal.split("/");
  let current = root;
  for (let i = 0; i < parts.length - 1; i++) {
    current = `${current}/${parts[i]}`;
    if (verified?.has(parts.slice(0, i + 1).join("/"))) continue;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(current);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        // Nothing below a missing component exists yet: nothing can escape.
        return `${root}/${normal}`;
      }
      throw error;
    }
    if (info.isSymlink) {
      let real: string;
      try {
        real = Deno.realPathSync(current);
      } catch {
        throw new PathEscapeError(rel, "goes through a dangling symlink");
      }
      if (!isInside(root, real)) {
        throw new PathEscapeError(
          rel,
          "goes through a symlink that leaves the module",
        );
      }
      const realInfo = Deno.statSync(real);
      if (!realInfo.isDirectory) {
        throw new PathEscapeError(rel, "has a non-directory component");
      }
      verified?.add(parts.slice(0, i + 1).join("/"));
    } else if (info.isDirectory) {
      verified?.add(parts.slice(0, i + 1).join("/"));
    } else {
      // A file where a directory should be: nothing below it exists, so
      // nothing can escape; the caller's lstat/mkdir reports the conflict.
      return `${root}/${normal}`;
    }
  }
  return `${root}/${normal}`;
}
