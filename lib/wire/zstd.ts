// zstd for the wire: the system's libzstd through FFI where this process
// may load it (~3 ms to load; its async calls run off the event loop's
// thread), else node:zlib's (loading it brings in Deno's Node
// compatibility layer: ~35 ms of a command's main thread). Both make and
// read the same frames.
import { findLibrary, loadLibc } from "../fs/_libc.ts";
import { type Bindings, lazySymbols } from "../fs/_lazy_ffi.ts";

/**
 * What blit compresses and decompresses with. The calls that take `into`
 * answer a view of it when it is big enough (`bound` for compression;
 * node:zlib's result is copied there), else a new buffer: a stream that
 * reuses its buffers spares the fresh pages a new one costs each block
 * (~3 ms a MiB in a young process on the VMs measured here).
 */
export interface Zstd {
  /** `bytes` compressed at `level` (1-19), into `into` when it has room. */
  compressSync(
    bytes: Uint8Array,
    level: number,
    into?: Uint8Array,
  ): Uint8Array;
  /** The same, off the main thread where it can be. */
  compress(
    bytes: Uint8Array,
    level: number,
    into?: Uint8Array,
  ): Promise<Uint8Array>;
  /** Room `compress` needs in `into` for `length` bytes (worst case). */
  bound(length: number): number;
  /**
   * `bytes` decompressed into at most `size` bytes (into `into` when it
   * has room).
   *
   * @throws {Error} when they are not zstd, or unpack past `size`.
   */
  decompressSync(
    bytes: Uint8Array,
    size: number,
    into?: Uint8Array,
  ): Uint8Array;
  /** The same, off the main thread where it can be. */
  decompress(
    bytes: Uint8Array,
    size: number,
    into?: Uint8Array,
  ): Promise<Uint8Array>;
  /** "libzstd" or "node:zlib". */
  readonly kind: string;
}

const SYMBOLS = {
  ZSTD_compressBound: { parameters: ["usize"], result: "usize" },
  ZSTD_isError: { parameters: ["usize"], result: "u32" },
  ZSTD_compress: {
    parameters: ["buffer", "usize", "buffer", "usize", "i32"],
    result: "usize",
  },
  ZSTD_decompress: {
    parameters: ["buffer", "usize", "buffer", "usize"],
    result: "usize",
  },
  ZSTD_createCCtx: { parameters: [], result: "pointer" },
  ZSTD_freeCCtx: { parameters: ["pointer"], result: "usize" },
  ZSTD_createDCtx: { parameters: [], result: "pointer" },
  ZSTD_freeDCtx: { parameters: ["pointer"], result: "usize" },
  ZSTD_compressCCtx: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize", "i32"],
    result: "usize",
  },
  ZSTD_decompressDCtx: {
    parameters: ["pointer", "buffer", "usize", "buffer", "usize"],
    result: "usize",
  },
  ZSTD_compressCCtx_async: {
    name: "ZSTD_compressCCtx",
    parameters: ["pointer", "buffer", "usize", "buffer", "usize", "i32"],
    result: "usize",
    nonblocking: true,
  },
  ZSTD_decompressDCtx_async: {
    name: "ZSTD_decompressDCtx",
    parameters: ["pointer", "buffer", "usize", "buffer", "usize"],
    result: "usize",
    nonblocking: true,
  },
  ZSTD_compress_async: {
    name: "ZSTD_compress",
    parameters: ["buffer", "usize", "buffer", "usize", "i32"],
    result: "usize",
    nonblocking: true,
  },
  ZSTD_decompress_async: {
    name: "ZSTD_decompress",
    parameters: ["buffer", "usize", "buffer", "usize"],
    result: "usize",
    nonblocking: true,
  },
} as const;

/** Where libzstd may live (the daemon's sandbox scopes --allow-ffi to it). */
const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libzstd.so.1",
  "/lib/x86_64-linux-gnu/libzstd.so.1",
  "/usr/lib/aarch64-linux-gnu/libzstd.so.1",
  "/lib/aarch64-linux-gnu/libzstd.so.1",
  "/usr/lib64/libzstd.so.1",
  "/usr/lib/libzstd.so.1",
  "/usr/local/lib/libzstd.so.1",
];

/** The env variable naming the libzstd the sandboxed daemon may load. */
export const ZSTD_ENV = "BLIT_DAEMON_ZSTD";

/**
 * The absolute path of this machine's libzstd, for `--allow-ffi=PATH`;
 * undefined off Linux or when none is found.
 *
 * Permissions: env BLIT_DAEMON_ZSTD (optional), read on the candidates.
 *
 * @example
 * ```ts
 * import { findZstd } from "./zstd.ts";
 * const path = findZstd();
 * if (path !== undefined && !path.startsWith("/")) throw new Error("example failed");
 * ```
 */
export function findZstd(): string | undefined {
  return findLibrary(ZSTD_ENV, CANDIDATES);
}

/** The library's symbols, bound as first used. */
type Lib = { symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] };

function big(n: number | bigint): bigint {
  return typeof n === "bigint" ? n : BigInt(n);
}

/** The first `size` bytes of `into` when it has them, else a new buffer. */
function outputIn(into: Uint8Array | undefined, size: number): Uint8Array {
  return into && into.length >= size
    ? into.subarray(0, size)
    : new Uint8Array(size);
}

/** `made` in `into` (copied) when it fits there, else `made` itself. */
function placed(made: Uint8Array, into: Uint8Array | undefined): Uint8Array {
  if (!into || into.length < made.length) return made;
  into.set(made);
  return into.subarray(0, made.length);
}

/**
 * zstd contexts kept free at most, of each kind: a one-shot call makes
 * and frees a context (and its tables) every time, ~0.1-1 ms a block on
 * fresh pages here; a kept one is reused warm. Blocks compress two at a
 * time a connection (four kept cover two connections).
 */
const KEPT_CONTEXTS = 4;
/**
 * Levels up to this one compress with a kept context (blit's own choices:
 * 1, 3, 6); a higher level's tables (tens of MiB at 19) are not kept.
 */
const KEPT_LEVEL_MAX = 6;

/** Native contexts of one kind, reused: at most KEPT_CONTEXTS kept free. */
class ContextPool {
  readonly #free: NonNullable<Deno.PointerValue>[] = [];
  readonly #make: () => Deno.PointerValue;
  readonly #drop: (c: NonNullable<Deno.PointerValue>) => void;

  constructor(
    make: () => Deno.PointerValue,
    drop: (c: NonNullable<Deno.PointerValue>) => void,
  ) {
    this.#make = make;
    this.#drop = drop;
  }

  /** A free context, or a new one; null where none could be made. */
  take(): Deno.PointerValue {
    return this.#free.pop() ?? this.#make();
  }

  /** `c` is free again (freed if enough are kept). */
  give(c: NonNullable<Deno.PointerValue>): void {
    if (this.#free.length < KEPT_CONTEXTS) this.#free.push(c);
    else this.#drop(c);
  }
}

function nativeZstd(lib: Lib): Zstd {
  const s = lib.symbols;
  const checked = (result: number | bigint, what: string): number => {
    if (s.ZSTD_isError(big(result)) !== 0) {
      throw new Error(`zstd ${what} failed`);
    }
    return Number(result);
  };
  const bound = (n: number) => Number(s.ZSTD_compressBound(BigInt(n)));
  const level = (n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > 19) {
      throw new RangeError(`zstd level must be 1-19, got ${n}`);
    }
    return n;
  };
  // One call's arguments and what it leaves: the same for the blocking
  // call and the one on FFI's thread.
  const compressing = (bytes: Uint8Array, l: number, into?: Uint8Array) => {
    const out = outputIn(into, bound(bytes.length));
    const args = [
      out,
      BigInt(out.length),
      bytes,
      BigInt(bytes.length),
      level(l),
    ] as const;
    const result = (n: number | bigint) =>
      out.subarray(0, checked(n, "compression"));
    return { args, result };
  };
  const decompressing = (
    bytes: Uint8Array,
    size: number,
    into?: Uint8Array,
  ) => {
    const out = outputIn(into, size);
    const args = [out, BigInt(size), bytes, BigInt(bytes.length)] as const;
    const result = (n: number | bigint) =>
      out.subarray(0, checked(n, "decompression"));
    return { args, result };
  };
  // Contexts kept from call to call (see KEPT_CONTEXTS): each call takes
  // one (or makes one), and gives it back when done.
  const compressors = new ContextPool(
    () => s.ZSTD_createCCtx(),
    (c) => void s.ZSTD_freeCCtx(c),
  );
  const decompressors = new ContextPool(
    () => s.ZSTD_createDCtx(),
    (c) => void s.ZSTD_freeDCtx(c),
  );
  return {
    kind: "libzstd",
    compressSync(bytes, l, into) {
      const { args, result } = compressing(bytes, l, into);
      const c = l <= KEPT_LEVEL_MAX ? compressors.take() : null;
      if (c === null) return result(s.ZSTD_compress(...args));
      try {
        return result(s.ZSTD_compressCCtx(c, ...args));
      } finally {
        compressors.give(c);
      }
    },
    bound,
    async compress(bytes, l, into) {
      const { args, result } = compressing(bytes, l, into);
      const c = l <= KEPT_LEVEL_MAX ? compressors.take() : null;
      if (c === null) return result(await s.ZSTD_compress_async(...args));
      try {
        return result(await s.ZSTD_compressCCtx_async(c, ...args));
      } finally {
        compressors.give(c);
      }
    },
    decompressSync(bytes, size, into) {
      const { args, result } = decompressing(bytes, size, into);
      const c = decompressors.take();
      if (c === null) return result(s.ZSTD_decompress(...args));
      try {
        return result(s.ZSTD_decompressDCtx(c, ...args));
      } finally {
        decompressors.give(c);
      }
    },
    async decompress(bytes, size, into) {
      const { args, result } = decompressing(bytes, size, into);
      const c = decompressors.take();
      if (c === null) return result(await s.ZSTD_decompress_async(...args));
      try {
        return result(await s.ZSTD_decompressDCtx_async(c, ...args));
      } finally {
        decompressors.give(c);
      }
    },
  };
}

/**
 * The most bytes zstd makes of `n` (its ZSTD_COMPRESSBOUND), for a
 * library that has no call for it (node:zlib allocates its own output).
 *
 * @example
 * ```ts
 * import { zstdBound } from "./zstd.ts";
 * if (zstdBound(1 << 20) !== (1 << 20) + 4096) throw new Error("example failed");
 * ```
 */
export function zstdBound(n: number): number {
  return n + (n >> 8) + (n < 128 << 10 ? ((128 << 10) - n) >> 11 : 0);
}

type Zlib = typeof import("node:zlib");

function nodeZstd(zlib: Zlib): Zstd {
  const params = (level: number) => ({
    params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
  });
  return {
    kind: "node:zlib",
    bound: zstdBound,
    compressSync: (bytes, level, into) =>
      placed(zlib.zstdCompressSync(bytes, params(level)), into),
    compress: (bytes, level, into) =>
      new Promise((resolve, reject) =>
        zlib.zstdCompress(
          bytes,
          params(level),
          (error, out) => error ? reject(error) : resolve(placed(out, into)),
        )
      ),
    decompressSync: (bytes, size, into) =>
      placed(zlib.zstdDecompressSync(bytes, { maxOutputLength: size }), into),
    decompress: (bytes, size, into) =>
      new Promise((resolve, reject) =>
        zlib.zstdDecompress(
          bytes,
          { maxOutputLength: size },
          (error, out) => error ? reject(error) : resolve(placed(out, into)),
        )
      ),
  };
}

let loaded: Zstd | undefined;
let loading: Promise<Zstd> | undefined;
/** libzstd's symbols, once loaded (see {@linkcode zstdBindings}). */
let nativeSymbols: object | undefined;

/**
 * The symbols compressing and decompressing call, for `bindIdle` (see
 * _lazy_ffi.ts): libzstd loaded now if need be; undefined where it can't
 * be (node:zlib then).
 *
 * @example
 * ```ts
 * import { zstdBindings } from "./zstd.ts";
 * const got = zstdBindings();
 * if (got && !got[1].includes("ZSTD_compressCCtx")) throw new Error("example failed");
 * ```
 */
export function zstdBindings(): Bindings | undefined {
  loaded ??= native();
  return nativeSymbols && [nativeSymbols, [
    "ZSTD_compressBound",
    "ZSTD_createCCtx",
    "ZSTD_compressCCtx",
    "ZSTD_isError",
    "ZSTD_createDCtx",
    "ZSTD_decompressDCtx",
  ]];
}

/** libzstd, when it can be loaded here (and `BLIT_NATIVE_ZSTD` isn't 0). */
function native(): Zstd | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    if (Deno.env.get("BLIT_NATIVE_ZSTD") === "0") return undefined;
  } catch {
    // env not readable: the default
  }
  for (const name of [findZstd(), "libzstd.so.1"]) {
    if (!name) continue;
    try {
      const symbols = lazySymbols(name, SYMBOLS, loadLibc()?.path);
      nativeSymbols = symbols;
      return nativeZstd({ symbols });
    } catch {
      // not allowed here, or not installed: the next, else node:zlib
    }
  }
  return undefined;
}

/**
 * zstd, loaded once: libzstd where it can be, else node:zlib. After it
 * resolves, {@linkcode zstd} may be called.
 *
 * @example
 * ```ts
 * import { loadZstd } from "./zstd.ts";
 * const z = await loadZstd();
 * if (z.decompressSync(z.compressSync(new Uint8Array(9), 3), 9).length !== 9) throw new Error("example failed");
 * ```
 */
export function loadZstd(): Promise<Zstd> {
  if (loaded) return Promise.resolve(loaded);
  const now = native();
  if (now) return Promise.resolve(loaded = now);
  return loading ??= import("node:zlib").then((z) => loaded = nodeZstd(z));
}

/**
 * Loads zstd and runs it once on a few bytes both ways: binds what
 * compressing and unpacking call, for a process that is waiting anyway
 * (see `primeNativeHash`).
 *
 * @example
 * ```ts
 * import { primeZstd } from "./zstd.ts";
 * await primeZstd();
 * ```
 */
export async function primeZstd(): Promise<void> {
  const z = await loadZstd();
  const bytes = new Uint8Array(64);
  z.decompressSync(z.compressSync(bytes, 1), bytes.length);
}

/**
 * zstd for synchronous callers: libzstd (loaded now if need be), or the
 * node:zlib an earlier {@linkcode loadZstd} loaded.
 *
 * @throws {Error} when neither is loaded (a bug: every path that packs or
 * unpacks awaits `loadZstd()` first).
 */
export function zstd(): Zstd {
  loaded ??= native();
  if (!loaded) {
    throw new Error("internal error: zstd used before it was loaded");
  }
  return loaded;
}
