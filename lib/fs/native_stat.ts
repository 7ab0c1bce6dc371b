// lstat through libc's statx(2), for processes allowed FFI: a name
// relative to the working directory stays relative (Deno's own lstat,
// under any permission check, turns it into getcwd() + name and readlinks
// every component first), so a contained root's lookups cost one system
// call instead of a dozen, and are made in the directory the checked walk
// entered, not on a path string.
import {
  AT,
  cString,
  fileInfoOf,
  type Libc,
  loadLibc,
  setTimespecs,
  SyscallError,
  unsure,
  UNSURE_TRIES,
} from "./_libc.ts";

const SYMBOLS = {
  statx: {
    parameters: ["i32", "buffer", "i32", "u32", "buffer"],
    result: "i32",
  },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** STATX_BASIC_STATS | STATX_BTIME */
const MASK = 0x7ff | 0x800;
const ENOENT = 2;
const ENOTDIR = 20;
const EACCES = 13;

/** lstat by libc (see {@linkcode loadNativeStat}). */
export interface NativeStat {
  /**
   * lstat of `name` (relative to the working directory, or absolute), or
   * undefined when it or a parent is missing.
   *
   * @throws {Error} for any other failure, naming the errno.
   */
  lstat(name: string): Deno.FileInfo | undefined;
  /**
   * Sets the access and modification times of `name` to `mtimeMs` plus
   * `mtimeNs` nanoseconds; `link`: of a symlink itself, not its target.
   *
   * @throws {Error} naming the errno.
   */
  utimens(name: string, mtimeMs: number, mtimeNs: number, link: boolean): void;
}

let loaded: NativeStat | undefined | null = null;

/**
 * statx-based lstat when this process can call libc (Linux, FFI allowed);
 * undefined otherwise. Calls are synchronous, so errno is read on the same
 * thread right after the call.
 *
 * Permissions: ffi (queried, never prompted).
 *
 * @example
 * ```ts
 * import { loadNativeStat } from "@blit/cli/internals";
 * const native = loadNativeStat();
 * if (native && native.lstat("/definitely/not/here") !== undefined) throw new Error("example failed");
 * ```
 */
export function loadNativeStat(): NativeStat | undefined {
  if (loaded !== null) return loaded;
  loaded = undefined;
  if (Deno.build.os !== "linux") return loaded;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return loaded;
    }
    // The process's one binding of libc when it has one (a second
    // dlopen costs ~2 ms a command), else a small one of our own (a
    // kernel without openat2 still has statx).
    loaded = nativeStatOn(loadLibc());
  } catch {
    loaded = undefined;
  }
  return loaded;
}

/**
 * The modification time in ms: libc's statx carries it as a number
 * (`mtimeMs`, no Date made: a walk's stat makes none); Deno's stat as its
 * Date. 0 when the stat had none.
 *
 * @example
 * ```ts
 * import { mtimeMsOf } from "./native_stat.ts";
 * const info = Deno.statSync(".");
 * if (mtimeMsOf(info) !== info.mtime!.getTime()) throw new Error("example failed");
 * ```
 */
export function mtimeMsOf(info: Deno.FileInfo): number {
  const ms = (info as { mtimeMs?: unknown }).mtimeMs;
  return typeof ms === "number" ? ms : info.mtime?.getTime() ?? 0;
}

/**
 * The nanoseconds past the millisecond of `info`'s modification time, when
 * the stat that made it knew them (libc's statx: see `loadNativeStat`);
 * undefined for Deno's own stat, whose Date holds milliseconds only.
 *
 * @example
 * ```ts
 * import { mtimeNsOf } from "./native_stat.ts";
 * if (mtimeNsOf(Deno.statSync(".")) !== undefined) throw new Error("example failed");
 * ```
 */
export function mtimeNsOf(info: Deno.FileInfo): number | undefined {
  const ns = (info as { mtimeNs?: number }).mtimeNs;
  return typeof ns === "number" ? ns : undefined;
}

/**
 * lstat of `path` to the nanosecond where libc may be called (see
 * {@linkcode loadNativeStat}), else Deno's; undefined when it or a parent
 * is missing.
 *
 * Permissions: read; ffi (queried).
 *
 * @example
 * ```ts
 * import { preciseLstat } from "@blit/cli/internals";
 * if (preciseLstat("/definitely/not/here") !== undefined) throw new Error("example failed");
 * ```
 */
export function preciseLstat(path: string): Deno.FileInfo | undefined {
  const native = loadNativeStat();
  if (native) return native.lstat(path);
  return ifExists(() => Deno.lstatSync(path));
}

/**
 * `fn()`, or undefined when what it looked for (or a parent) is missing.
 *
 * @example
 * ```ts
 * import { ifExists } from "@blit/cli/internals";
 * if (ifExists(() => Deno.statSync("/definitely/not/here")) !== undefined) throw new Error("example failed");
 * ```
 */
export function ifExists<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotADirectory
    ) return undefined;
    throw error;
  }
}

/**
 * Sets `path`'s access and modification times to `mtimeMs` plus `mtimeNs`
 * nanoseconds: through libc to the nanosecond where it may be called,
 * else Deno's `utimeSync` (to about a microsecond). `link`: a symlink's
 * own times, which only libc can set (without it they are left alone).
 *
 * Permissions: write; ffi (queried).
 *
 * @example
 * ```ts
 * import { preciseLstat, setPathTimes } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * setPathTimes(path, 1_700_000_000_123, 456_789);
 * const info = preciseLstat(path)!;
 * if (info.mtime!.getTime() !== 1_700_000_000_123) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function setPathTimes(
  path: string,
  mtimeMs: number,
  mtimeNs = 0,
  link = false,
): void {
  const native = loadNativeStat();
  if (native) return native.utimens(path, mtimeMs, mtimeNs, link);
  if (link) return;
  const seconds = mtimeMs / 1000;
  Deno.utimeSync(path, seconds, seconds);
}

/** The lstat's answer for errno `errno` of `name`: missing, or thrown. */
function missingOrThrow(name: string, errno: number): undefined {
  if (errno === ENOENT || errno === ENOTDIR) return undefined;
  if (errno === EACCES) {
    throw new Deno.errors.PermissionDenied(
      `Permission denied (os error 13): lstat '${name}'`,
    );
  }
  throw new SyscallError("lstat", name, errno);
}

/**
 * The native stat over `libc` (the process's shared binding), or over a
 * small binding of its own when there is none.
 *
 * Permissions: ffi.
 *
 * @example
 * ```ts
 * import { nativeStatOn } from "./native_stat.ts";
 * if (nativeStatOn(undefined).lstat("/definitely/not/here") !== undefined) throw new Error("example failed");
 * ```
 */
export function nativeStatOn(libc: Libc | undefined): NativeStat {
  return libc ? overLibc(libc) : ownBinding();
}

function overLibc(libc: Libc): NativeStat {
  return {
    utimens(name, mtimeMs, mtimeNs, link) {
      const r = libc.utimensat(
        AT.FDCWD,
        cString(name),
        mtimeMs,
        mtimeNs,
        link ? AT.SYMLINK_NOFOLLOW : 0,
      );
      if (r < 0) throw new SyscallError("utimensat", name, -r);
    },
    lstat(name) {
      const info = libc.statx(AT.FDCWD, cString(name), AT.SYMLINK_NOFOLLOW);
      return typeof info === "number" ? missingOrThrow(name, -info) : info;
    },
  };
}

function ownBinding(): NativeStat {
  const libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  const buf = new Uint8Array(256);
  const times = new BigInt64Array(4);
  const errno = () => {
    const where = libc.__errno_location();
    return where ? new Deno.UnsafePointerView(where).getInt32() : -1;
  };
  // 0 on success, else errno; made again while errno can't be trusted
  // (the symbols are bound already: see Libc.failed for the rest).
  const attempt = (call: () => number): number => {
    for (let tries = 1;; tries++) {
      if (call() === 0) return 0;
      const e = errno();
      if (!unsure(e) || tries >= UNSURE_TRIES) return e;
    }
  };
  return {
    utimens(name, mtimeMs, mtimeNs, link) {
      setTimespecs(times, mtimeMs, mtimeNs);
      const path = cString(name);
      const flags = link ? AT_SYMLINK_NOFOLLOW : 0;
      const e = attempt(() =>
        libc.utimensat(AT_FDCWD, path, new Uint8Array(times.buffer), flags)
      );
      if (e !== 0) throw new SyscallError("utimensat", name, e);
    },
    lstat(name) {
      const path = cString(name);
      const e = attempt(() =>
        libc.statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, MASK, buf)
      );
      return e === 0 ? fileInfoOf(buf) : missingOrThrow(name, e);
    },
  };
}
