// The few libc calls the kernel-contained tree needs, through Deno FFI:
// openat2(2) and the fd-relative *at calls, plus read/write on raw
// descriptors. Every call here is synchronous, so errno is read on the
// same thread right after it (nonblocking FFI calls lose errno). Even so
// the runtime may run on this thread between the call and the read (a
// lock's futex wait, binding a symbol): see `Libc.failed`.

import { asciiInto } from "../text.ts";
import { type Bindings, bindNow, lazySymbols } from "./_lazy_ffi.ts";

const SYMBOLS = {
  syscall: {
    parameters: ["i64", "i32", "buffer", "buffer", "usize"],
    result: "i64",
  },
  close: { parameters: ["i32"], result: "i32" },
  // The same close off the calling thread (see `KernelFile.closeLater`).
  closeOffThread: {
    name: "close",
    parameters: ["i32"],
    result: "i32",
    nonblocking: true,
  },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
  ftruncate: { parameters: ["i32", "i64"], result: "i32" },
  fchmod: { parameters: ["i32", "u32"], result: "i32" },
  futimens: { parameters: ["i32", "buffer"], result: "i32" },
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  statx: {
    parameters: ["i32", "buffer", "i32", "u32", "buffer"],
    result: "i32",
  },
  mkdirat: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  unlinkat: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
  },
  symlinkat: { parameters: ["buffer", "i32", "buffer"], result: "i32" },
  readlinkat: {
    parameters: ["i32", "buffer", "buffer", "usize"],
    result: "isize",
  },
  getdents64: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  __errno_location: { parameters: [], result: "pointer" },
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  // The same the other way: into memory a library gave out.
  memcpyTo: {
    name: "memcpy",
    parameters: ["pointer", "buffer", "usize"],
    result: "pointer",
  },
  copy_file_range: {
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
  },
  // The same off the calling thread (see `KernelFile.copyFromLater`).
  copyOffThread: {
    name: "copy_file_range",
    parameters: ["i32", "buffer", "i32", "buffer", "usize", "u32"],
    result: "isize",
    nonblocking: true,
  },
} as const;

/** openat2 calls made for one lookup the kernel asks to have again. */
const OPENAT2_TRIES = 16;

/**
 * Calls made again, at most, for one failure whose errno reads as
 * something the runtime left (see {@linkcode Libc.failed}).
 */
export const UNSURE_TRIES = 8;

/**
 * errno values read after a failed call that may be the runtime's own
 * rather than the call's: none (0), or what a futex wait leaves (EAGAIN,
 * EINTR, ETIMEDOUT). The calls made here don't fail so on their own, or
 * (EAGAIN from openat2, EINTR from a read) are rightly made again.
 */
export function unsure(errno: number): boolean {
  return errno === 0 || errno === ERRNO.EAGAIN || errno === ERRNO.EINTR ||
    errno === ETIMEDOUT;
}

const ETIMEDOUT = 110;

/** The bound libc functions. */
export type LibcSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Flags whose values differ between architectures. */
interface ArchFlags {
  directory: number;
  noFollow: number;
}
const ARCH: Record<string, ArchFlags> = {
  x86_64: { directory: 0o200000, noFollow: 0o400000 },
  aarch64: { directory: 0o40000, noFollow: 0o100000 },
};

/** open(2) flags and related constants for this machine. */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NOCTTY: 0o400,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
  PATH: 0o10000000,
  DIRECTORY: (ARCH[Deno.build.arch] ?? ARCH.x86_64).directory,
  NOFOLLOW: (ARCH[Deno.build.arch] ?? ARCH.x86_64).noFollow,
} as const;

/** openat2 resolve flags. */
export const RESOLVE = {
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
} as const;

/** *at flags. */
export const AT = {
  FDCWD: -100,
  SYMLINK_NOFOLLOW: 0x100,
  REMOVEDIR: 0x200,
  EMPTY_PATH: 0x1000,
} as const;

/** errno values the tree tells apart. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENOSPC: 28,
  EROFS: 30,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
} as const;

const SYS_OPENAT2 = 437n;
const STATX_MASK = 0x7ff | 0x800; // STATX_BASIC_STATS | STATX_BTIME

/** Where the C library may live (the sandbox scopes --allow-ffi to one). */
const LIBC_CANDIDATES = [
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/lib/libc.so.6",
  "/usr/lib/libc.so.6",
];

/** The env variable naming the libc the sandboxed daemon may load. */
export const LIBC_ENV = "BLIT_DAEMON_LIBC";

/**
 * The absolute path of this machine's C library, for `--allow-ffi=PATH`;
 * undefined off Linux or when none is found.
 *
 * Permissions: env BLIT_DAEMON_LIBC, read on the candidates (by stat).
 */
export function findLibc(): string | undefined {
  return findLibrary(LIBC_ENV, LIBC_CANDIDATES);
}

/**
 * The absolute path of a shared library for `--allow-ffi=PATH`: the one
 * the env variable `told` names (the sandboxed daemon is told which its
 * --allow-ffi names), else the first of `candidates` that is a file;
 * undefined off Linux or when none is found.
 *
 * Permissions: env `told`, read on the candidates (by stat).
 *
 * @example
 * ```ts
 * import { findLibrary } from "./_libc.ts";
 * if (findLibrary("BLIT_NO_SUCH_ENV", ["/nonexistent/lib.so"]) !== undefined) throw new Error("example failed");
 * ```
 */
export function findLibrary(
  told: string,
  candidates: readonly string[],
): string | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const path = Deno.env.get(told);
    if (path) return path;
  } catch {
    // env not readable: search
  }
  for (const path of candidates) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here (or not ours to look at)
    }
  }
  return undefined;
}

/** A failed system call: the errno and what was being done. */
export class SyscallError extends Error {
  /** The errno the call left. */
  readonly errno: number;
  /** Says which call on which name failed and why. */
  constructor(call: string, name: string, errno: number) {
    super(`${call} ${JSON.stringify(name)} failed: ${describe(errno)}`);
    this.name = "SyscallError";
    this.errno = errno;
  }
}

/** What the commonest errno values mean, in the words of strerror(3). */
const MEANING: Record<number, string> = {
  [ERRNO.EPERM]: "operation not permitted",
  [ERRNO.ENOENT]: "no such file or directory",
  [ERRNO.EIO]: "input/output error",
  [ERRNO.EACCES]: "permission denied",
  [ERRNO.EEXIST]: "file exists",
  [ERRNO.ENOTDIR]: "not a directory",
  [ERRNO.EISDIR]: "is a directory",
  [ERRNO.ENOSPC]: "no space left on device",
  [ERRNO.EROFS]: "read-only file system",
  [ERRNO.ENAMETOOLONG]: "file name too long",
  [ERRNO.ENOTEMPTY]: "directory not empty",
  [ERRNO.ELOOP]: "too many levels of symbolic links",
};

function describe(errno: number): string {
  for (const [name, value] of Object.entries(ERRNO)) {
    if (value !== errno) continue;
    const meaning = MEANING[errno];
    return meaning
      ? `${meaning} (${name}, errno ${errno})`
      : `${name} (errno ${errno})`;
  }
  return `errno ${errno}`;
}

/**
 * A Deno error of the class a caller expects for `errno` (NotFound,
 * AlreadyExists, ...), naming the call and the name.
 */
export function errnoError(call: string, name: string, errno: number): Error {
  const text = `${call} ${JSON.stringify(name)}: ${describe(errno)}`;
  switch (errno) {
    case ERRNO.ENOENT:
      return new Deno.errors.NotFound(text);
    case ERRNO.EEXIST:
      return new Deno.errors.AlreadyExists(text);
    case ERRNO.EACCES:
    case ERRNO.EPERM:
      return new Deno.errors.PermissionDenied(text);
    case ERRNO.ENOTDIR:
      return new Deno.errors.NotADirectory(text);
    case ERRNO.EISDIR:
      return new Deno.errors.IsADirectory(text);
    case ERRNO.EAGAIN:
      return new Deno.errors.WouldBlock(text);
    default:
      return new SyscallError(call, name, errno);
  }
}

const encoder = new TextEncoder();

function encodeName(name: string): Uint8Array<ArrayBuffer> {
  const bytes = encoder.encode(name + "\0");
  if (bytes.indexOf(0) !== bytes.length - 1) {
    throw new TypeError(`Name contains NUL: ${JSON.stringify(name)}`);
  }
  return bytes;
}

/** A NUL-terminated copy of `name`; a NUL inside is refused. */
export function cString(name: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(name.length + 1);
  return asciiInto(name, out, 0) < 0 ? encodeName(name) : out;
}

/** PATH_MAX: the longest name a call takes, its NUL included. */
const SCRATCH = new Uint8Array(4096);
/** The second name of a call that takes two (a rename's target). */
const SCRATCH_B = new Uint8Array(4096);

/**
 * `name` NUL-terminated in one buffer shared by every caller, without
 * allocating (a typed array costs ~1 us to make here, more than the
 * call's own work in JavaScript): only for a name passed straight to one
 * synchronous call (the next use overwrites it). A NUL inside is refused.
 */
export function cScratch(name: string): Uint8Array<ArrayBuffer> {
  return into(SCRATCH, name);
}

/**
 * As {@linkcode cScratch}, in a second shared buffer: a call's second
 * name (a rename's target), beside a first one in `cScratch`'s.
 */
export function cScratchB(name: string): Uint8Array<ArrayBuffer> {
  return into(SCRATCH_B, name);
}

function into(
  buffer: Uint8Array<ArrayBuffer>,
  name: string,
): Uint8Array<ArrayBuffer> {
  const n = asciiInto(name, buffer, 0);
  if (n < 0 || n === buffer.length) return encodeName(name);
  buffer[n] = 0;
  return buffer;
}

/** The bound library and the helpers around it. */
export class Libc {
  /** The raw symbols. */
  readonly fn: LibcSymbols;
  /** The library path loaded. */
  readonly path: string;
  readonly #how = new BigUint64Array(3);
  readonly #howBytes = new Uint8Array(this.#how.buffer);
  readonly #statBuf = new Uint8Array(256);
  readonly #statView = new DataView(this.#statBuf.buffer);
  readonly #times = new BigInt64Array(4);
  readonly #timesBytes = new Uint8Array(this.#times.buffer);
  readonly #offset = new BigInt64Array(1);
  readonly #offsetBytes = new Uint8Array(this.#offset.buffer);

  /** Binds libc at `path`. @throws when it can't be loaded. */
  constructor(path: string) {
    this.fn = lazySymbols(path, SYMBOLS, path);
    this.path = path;
  }
  /**
   * Binds the functions `names` now (each costs ~0.2-0.5 ms the first time
   * it is called: see _lazy_ffi.ts), for a thread that is waiting anyway;
   * returns how many it bound (0 once all are).
   */
  prime(names: readonly (keyof LibcSymbols & string)[]): number {
    return bindNow(this.fn, names);
  }

  readonly #errno = new Int32Array(1);
  readonly #errnoBytes = new Uint8Array(this.#errno.buffer);
  #errnoAt: Deno.PointerValue | undefined;

  /**
   * errno of the last failed call on this thread. Copied out by memcpy:
   * a pointer view would need FFI permission beyond this one library.
   */
  errno(): number {
    this.#errnoAt ??= this.fn.__errno_location();
    if (this.#errnoAt === null) return -1;
    this.fn.memcpy(this.#errnoBytes, this.#errnoAt, 4n);
    return this.#errno[0];
  }

  /**
   * The errno of a call that just failed, or 0 when `again` (the same
   * call, made once more: it failed, so it changed nothing) succeeds.
   * The call is made again while the value read can't be trusted: when
   * reading it first bound errno's symbols (binding runs the dynamic
   * loader, which sets errno of its own), or when it reads as a value
   * the runtime's own waits leave (0, EAGAIN, EINTR, ETIMEDOUT); at most
   * a few times, then the value read stands.
   */
  failed(again: () => boolean): number {
    for (let tries = 1;; tries++) {
      const bound = this.#errnoAt !== undefined;
      const errno = this.errno();
      if ((bound && !unsure(errno)) || tries >= UNSURE_TRIES) return errno;
      if (again()) return 0;
    }
  }

  /**
   * `call`, a libc call answering 0 on success, made again while its
   * errno can't be trusted (see {@linkcode Libc.failed}): 0, or the errno.
   */
  attempt(call: () => number): number {
    return call() === 0 ? 0 : this.failed(() => call() === 0);
  }

  /**
   * `call`, a libc call answering a count or -1, made again while its
   * errno can't be trusted (see {@linkcode Libc.failed}): the count, or
   * -errno.
   */
  counted(call: () => number): number {
    let n = call();
    if (n >= 0) return n;
    const errno = this.failed(() => (n = call()) >= 0);
    return errno === 0 ? n : -errno;
  }

  /** openat2(dirfd, name, flags, mode, resolve): fd, or -errno. */
  openat2(
    dirfd: number,
    name: Uint8Array<ArrayBuffer>,
    flags: number,
    mode: number,
    resolve: number,
  ): number {
    this.#how[0] = BigInt(flags);
    this.#how[1] = BigInt(mode);
    this.#how[2] = BigInt(resolve);
    // EAGAIN: a rename or mount anywhere raced a lookup the kernel must
    // keep beneath the directory, and it could not be sure; it asks for
    // the call again (a few times: a real escape is EXDEV, never this).
    // An errno that can't be trusted (see `failed`) is answered alike.
    for (let tries = 1;; tries++) {
      const bound = this.#errnoAt !== undefined;
      const fd = Number(
        this.fn.syscall(SYS_OPENAT2, dirfd, name, this.#howBytes, 24n),
      );
      if (fd >= 0) return fd;
      const errno = this.errno();
      if ((bound && !unsure(errno)) || tries >= OPENAT2_TRIES) return -errno;
    }
  }

  /**
   * copy_file_range(2) of up to `length` bytes of `fdIn` from `offset` to
   * `fdOut` at its file position (which moves on): bytes copied (0 at the
   * end of `fdIn`), or -errno (EXDEV, EINVAL, ENOSYS...: copy another way).
   */
  copyFileRange(
    fdIn: number,
    offset: number,
    fdOut: number,
    length: number,
  ): number {
    this.#offset[0] = BigInt(offset);
    return this.counted(() =>
      Number(
        this.fn.copy_file_range(
          fdIn,
          this.#offsetBytes,
          fdOut,
          null,
          BigInt(length),
          0,
        ),
      )
    );
  }

  /**
   * copy_file_range(2) of up to `length` bytes of `fdIn` from `offset` to
   * `fdOut` at `at` (its file position untouched), on another thread:
   * bytes copied (0 at the end of `fdIn`), or a negative number when it
   * failed (its errno is lost there: copy another way). Both descriptors
   * must stay open until it settles.
   */
  async copyFileRangeOffThread(
    fdIn: number,
    offset: number,
    fdOut: number,
    at: number,
    length: number,
  ): Promise<number> {
    // Offsets of their own: the call reads them on another thread.
    const from = new BigInt64Array([BigInt(offset)]);
    const to = new BigInt64Array([BigInt(at)]);
    const n = await this.fn.copyOffThread(
      fdIn,
      new Uint8Array(from.buffer),
      fdOut,
      new Uint8Array(to.buffer),
      BigInt(length),
      0,
    );
    return Number(n);
  }

  /** pread(fd, buf, length, offset): bytes read, or -errno. */
  pread(
    fd: number,
    buf: Uint8Array<ArrayBuffer>,
    length: number,
    offset: number,
  ): number {
    return this.counted(() =>
      Number(this.fn.pread(fd, buf, BigInt(length), BigInt(offset)))
    );
  }

  /** statx of `name` under `dirfd` (AT_EMPTY_PATH with "" for the fd itself). */
  statx(
    dirfd: number,
    name: Uint8Array<ArrayBuffer>,
    flags: number,
  ): Deno.FileInfo | number {
    if (this.fn.statx(dirfd, name, flags, STATX_MASK, this.#statBuf) !== 0) {
      const errno = this.failed(() =>
        this.fn.statx(dirfd, name, flags, STATX_MASK, this.#statBuf) === 0
      );
      if (errno !== 0) return -errno;
    }
    return new StatxInfo(this.#statView);
  }

  /**
   * futimens with both times `mtimeMs` plus `mtimeNs` nanoseconds (the
   * part of the time under a millisecond, 0-999,999).
   */
  futimens(fd: number, mtimeMs: number, mtimeNs = 0): number {
    setTimespecs(this.#times, mtimeMs, mtimeNs);
    const times = this.#timesBytes;
    // (No closure while it succeeds: a call a received file.)
    if (this.fn.futimens(fd, times) === 0) return 0;
    return -this.failed(() => this.fn.futimens(fd, times) === 0);
  }

  /**
   * utimensat of `name` under `dirfd`, both times `mtimeMs` plus `mtimeNs`;
   * `flags` AT_SYMLINK_NOFOLLOW sets a link's own times.
   */
  utimensat(
    dirfd: number,
    name: Uint8Array<ArrayBuffer>,
    mtimeMs: number,
    mtimeNs: number,
    flags: number,
  ): number {
    setTimespecs(this.#times, mtimeMs, mtimeNs);
    const times = this.#timesBytes;
    return -this.attempt(() => this.fn.utimensat(dirfd, name, times, flags));
  }
}

/**
 * Fills two `struct timespec`s (atime, mtime) with `mtimeMs` (whole
 * milliseconds; a fraction counts too) plus `mtimeNs` nanoseconds.
 */
export function setTimespecs(
  times: BigInt64Array,
  mtimeMs: number,
  mtimeNs = 0,
): void {
  const seconds = Math.floor(mtimeMs / 1000);
  const nanos = Math.round((mtimeMs - seconds * 1000) * 1e6) +
    Math.max(0, Math.min(999_999, Math.trunc(mtimeNs)));
  // Each 64-bit field as two 32-bit halves (little-endian, as the
  // platforms blit runs on): no BigInt made a call.
  const words = wordsOf(times);
  const s = seconds + Math.floor(nanos / 1e9);
  const high = Math.floor(s / 0x1_0000_0000);
  const low = s - high * 0x1_0000_0000;
  words[0] = words[4] = low;
  words[1] = words[5] = high;
  words[2] = words[6] = nanos % 1e9;
  words[3] = words[7] = 0;
}

/** 32-bit views of the timespec buffers, one per buffer. */
const timeWords = new WeakMap<BigInt64Array, Int32Array>();

function wordsOf(times: BigInt64Array): Int32Array {
  let words = timeWords.get(times);
  if (!words) {
    words = new Int32Array(times.buffer, times.byteOffset, 8);
    timeWords.set(times, words);
  }
  return words;
}

function makedev(major: number, minor: number): number {
  const dev = ((BigInt(major) & 0xfffff000n) << 32n) |
    ((BigInt(major) & 0xfffn) << 8n) |
    ((BigInt(minor) & 0xffffff00n) << 12n) | (BigInt(minor) & 0xffn);
  return Number(dev);
}

/** Seconds of a statx timestamp (a signed 64-bit value) read as two halves. */
function seconds(view: DataView, offset: number): number {
  return view.getInt32(offset + 4, true) * 0x1_0000_0000 +
    view.getUint32(offset, true);
}

/** Milliseconds of the statx timestamp at `offset`. */
function millis(view: DataView, offset: number): number {
  return seconds(view, offset) * 1000 +
    Math.floor(view.getUint32(offset + 8, true) / 1e6);
}

/**
 * A Deno.FileInfo read from a statx buffer. What every walk and compare
 * reads (type, size, mode, mtime, inode, links, owner) is copied at once,
 * as plain numbers (`mtimeMs` beside the `mtime` Date); the times and the
 * device numbers are made into Dates or dev_t values only when asked (a
 * Date, an array or a BigInt per field per file was a sizeable share of a
 * stat's cost, and of the collector's work in a walk).
 */
class StatxInfo implements Deno.FileInfo {
  readonly isFile: boolean;
  readonly isDirectory: boolean;
  readonly isSymlink: boolean;
  readonly isBlockDevice: boolean;
  readonly isCharDevice: boolean;
  readonly isFifo: boolean;
  readonly isSocket: boolean;
  readonly size: number;
  /** The modification time in ms (what `mtime` says, with no Date made). */
  readonly mtimeMs: number;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly uid: number;
  readonly gid: number;
  readonly blksize: number;
  readonly blocks: number;
  /** Nanoseconds of the modification time past its millisecond. */
  readonly mtimeNs: number;
  /** Nanoseconds of the status change time past its millisecond. */
  readonly ctimeNs: number;
  readonly #atimeMs: number;
  /** The status change time in ms (what `ctime` says, with no Date made). */
  readonly ctimeMs: number;
  /** The birth time in ms; NaN: the filesystem keeps none. */
  readonly birthtimeMs: number;
  readonly #devMajor: number;
  readonly #devMinor: number;
  readonly #rdevMajor: number;
  readonly #rdevMinor: number;

  constructor(view: DataView) {
    const mode = view.getUint16(28, true);
    const type = mode & 0o170000;
    this.isFile = type === 0o100000;
    this.isDirectory = type === 0o040000;
    this.isSymlink = type === 0o120000;
    this.isBlockDevice = type === 0o060000;
    this.isCharDevice = type === 0o020000;
    this.isFifo = type === 0o010000;
    this.isSocket = type === 0o140000;
    this.size = view.getUint32(44, true) * 0x1_0000_0000 +
      view.getUint32(40, true);
    this.mtimeMs = millis(view, 112);
    this.ino = view.getUint32(36, true) * 0x1_0000_0000 +
      view.getUint32(32, true);
    this.mode = mode;
    this.nlink = view.getUint32(16, true);
    this.uid = view.getUint32(20, true);
    this.gid = view.getUint32(24, true);
    this.blksize = view.getUint32(4, true);
    this.blocks = view.getUint32(52, true) * 0x1_0000_0000 +
      view.getUint32(48, true);
    this.mtimeNs = view.getUint32(112 + 8, true) % 1_000_000;
    this.ctimeNs = view.getUint32(96 + 8, true) % 1_000_000;
    this.#atimeMs = millis(view, 64);
    this.ctimeMs = millis(view, 96);
    this.birthtimeMs = (view.getUint32(0, true) & 0x800) !== 0
      ? millis(view, 80)
      : NaN;
    this.#devMajor = view.getUint32(136, true);
    this.#devMinor = view.getUint32(140, true);
    this.#rdevMajor = view.getUint32(128, true);
    this.#rdevMinor = view.getUint32(132, true);
  }

  get mtime(): Date {
    return new Date(this.mtimeMs);
  }

  get atime(): Date {
    return new Date(this.#atimeMs);
  }

  get ctime(): Date {
    return new Date(this.ctimeMs);
  }

  get birthtime(): Date | null {
    return Number.isNaN(this.birthtimeMs) ? null : new Date(this.birthtimeMs);
  }

  get dev(): number {
    // The usual device numbers with no BigInt: the fields don't overlap,
    // and under a major of 4096 the sum stays below 2^44 (exact).
    const major = this.#devMajor;
    const minor = this.#devMinor;
    if (major < 0x1000) {
      return major * 0x100 + (minor & 0xffffff00) * 0x1000 + (minor & 0xff);
    }
    return makedev(major, minor);
  }

  get rdev(): number {
    return makedev(this.#rdevMajor, this.#rdevMinor);
  }
}

/**
 * A Deno.FileInfo from a statx buffer (the layout is the same everywhere),
 * with `mtimeNs`: the modification time's nanoseconds past its
 * millisecond, which a Date cannot hold (see `mtimeNsOf`).
 */
export function fileInfoOf(buf: Uint8Array): Deno.FileInfo {
  return new StatxInfo(new DataView(buf.buffer, buf.byteOffset, 256));
}

let loaded: Libc | null | undefined;

/**
 * libc with openat2 working, or undefined: not Linux, FFI not allowed,
 * no libc found, or a kernel without openat2 (before 5.6). The path comes
 * from `BLIT_DAEMON_LIBC` when set (the sandbox allows FFI on that file
 * only), else the first candidate found.
 *
 * Permissions: ffi (queried, never prompted), env BLIT_DAEMON_LIBC.
 *
 * @example
 * ```ts
 * import { loadLibc } from "./_libc.ts";
 * const libc = loadLibc();
 * if (libc && libc.errno() < 0) throw new Error("example failed");
 * ```
 */
export function loadLibc(): Libc | undefined {
  if (loaded !== undefined) return loaded ?? undefined;
  loaded = null;
  if (Deno.build.os !== "linux") return undefined;
  let path: string | undefined;
  try {
    path = Deno.env.get(LIBC_ENV);
  } catch {
    // env not readable: search
  }
  try {
    path ||= findLibc();
  } catch {
    // not readable: try the plain name below
  }
  if (!path) return undefined;
  try {
    if (
      Deno.permissions.querySync({ name: "ffi", path }).state !== "granted"
    ) return undefined;
    const libc = new Libc(path);
    // Probe openat2: "." beneath the working directory.
    const fd = libc.openat2(
      AT.FDCWD,
      cString("."),
      O.PATH | O.CLOEXEC | O.DIRECTORY,
      0,
      RESOLVE.BENEATH,
    );
    if (fd < 0) return undefined;
    libc.fn.close(fd);
    loaded = libc;
  } catch {
    loaded = null;
  }
  return loaded ?? undefined;
}

/**
 * libc's symbols `names`, for `bindIdle` (see _lazy_ffi.ts; undefined
 * where libc can't be loaded).
 *
 * @example
 * ```ts
 * import { libcBindings } from "./_libc.ts";
 * const got = libcBindings(["close"]);
 * if (got && got[1][0] !== "close") throw new Error("example failed");
 * ```
 */
export function libcBindings(
  names: readonly (keyof LibcSymbols & string)[],
): Bindings | undefined {
  const libc = loadLibc();
  return libc && [libc.fn, names];
}
