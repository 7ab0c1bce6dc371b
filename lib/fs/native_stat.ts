// lstat through libc's statx(2), for processes allowed FFI: a name
// relative to the working directory stays relative (Deno's own lstat,
// under any permission check, turns it into getcwd() + name and readlinks
// every component first), so a contained root's lookups cost one system
// call instead of a dozen, and are made in the directory the checked walk
// entered, not on a path string.

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
const S_IFMT = 0o170000;

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

function time(view: DataView, offset: number): Date {
  const seconds = Number(view.getBigInt64(offset, true));
  const nanos = view.getUint32(offset + 8, true);
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}

function makedev(major: number, minor: number): number {
  const dev = ((BigInt(major) & 0xfffff000n) << 32n) |
    ((BigInt(major) & 0xfffn) << 8n) |
    ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);
  return Number(dev);
}

/** A Deno.FileInfo from a statx buffer (the layout is the same everywhere). */
function fileInfo(buf: Uint8Array): Deno.FileInfo {
  const view = new DataView(buf.buffer);
  const mode = view.getUint16(28, true);
  const type = mode & S_IFMT;
  const hasBirth = (view.getUint32(0, true) & 0x800) !== 0;
  return {
    isFile: type === 0o100000,
    isDirectory: type === 0o040000,
    isSymlink: type === 0o120000,
    isBlockDevice: type === 0o060000,
    isCharDevice: type === 0o020000,
    isFifo: type === 0o010000,
    isSocket: type === 0o140000,
    size: Number(view.getBigUint64(40, true)),
    atime: time(view, 64),
    birthtime: hasBirth ? time(view, 80) : null,
    ctime: time(view, 96),
    mtime: time(view, 112),
    dev: makedev(view.getUint32(136, true), view.getUint32(140, true)),
    ino: Number(view.getBigUint64(32, true)),
    mode,
    nlink: view.getUint32(16, true),
    uid: view.getUint32(20, true),
    gid: view.getUint32(24, true),
    rdev: makedev(view.getUint32(128, true), view.getUint32(132, true)),
    blksize: view.getUint32(4, true),
    blocks: Number(view.getBigUint64(48, true)),
  };
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
          return fileInfo(buf);
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
