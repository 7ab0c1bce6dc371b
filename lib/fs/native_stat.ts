// lstat through libc's statx(2), for processes allowed FFI: a name
// relative to the working directory stays relative (Deno's own lstat,
// under any permission check, turns it into getcwd() + name and readlinks
// every component first), so a contained root's lookups cost one system
// call instead of a dozen, and are made in the directory the checked walk
// entered, not on a path string.
import { fileInfoOf } from "./_libc.ts";

const SYMBOLS = {
  statx: {
    parameters: ["i32", "buffer", "i32", "u32", "buffer"],
    result: "i32",
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** STATX_BASIC_STATS | STATX_BTIME */
const MASK = 0x7ff | 0x800;
const ENOENT = 2;
const ENOTDIR = 20;

const encoder = new TextEncoder();

/** lstat by libc (see {@linkcode loadNativeStat}). */
export interface NativeStat {
  /**
   * lstat of `name` (relative to the working directory, or absolute), or
   * undefined when it or a parent is missing.
   *
   * @throws {Error} for any other failure, naming the errno.
   */
  lstat(name: string): Deno.FileInfo | undefined;
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
 * import { loadNativeStat } from "./native_stat.ts";
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
    const libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    const buf = new Uint8Array(256);
    loaded = {
      lstat(name: string): Deno.FileInfo | undefined {
        const path = encoder.encode(name + "\0");
        if (path.indexOf(0) !== path.length - 1) {
          throw new TypeError("Path contains NUL");
        }
        if (libc.statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, MASK, buf) === 0) {
          return fileInfoOf(buf);
        }
        const where = libc.__errno_location();
        const errno = where ? new Deno.UnsafePointerView(where).getInt32() : -1;
        if (errno === ENOENT || errno === ENOTDIR) return undefined;
        throw new Error(`lstat ${name} failed (errno ${errno})`);
      },
    };
  } catch {
    loaded = undefined;
  }
  return loaded;
}
