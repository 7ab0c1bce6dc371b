// xxh3-128 from the system's libxxhash through FFI, where this process may
// load it: the same digests as hash-wasm's, ~3x faster here (55 ms a GiB
// against ~180). Processes without --allow-ffi (the sandboxed daemon), or
// machines without the library, keep the wasm hasher.

/** What a content hasher does (the subset of hash-wasm's IHasher used). */
export interface NativeHasher {
  /** Starts a new digest. */
  init(): NativeHasher;
  /** Adds bytes to it. */
  update(data: Uint8Array): NativeHasher;
  /** The digest of the bytes added since `init` (16 bytes). */
  digest(format: "binary"): Uint8Array;
  /**
   * A copy of the digest's state so far, for {@linkcode NativeHasher.loadState}
   * on another hasher of this process (any thread), or undefined where it
   * can't be taken (the wasm hasher has none).
   */
  saveState?(): Uint8Array | undefined;
  /**
   * Goes on from a state {@linkcode NativeHasher.saveState} took in this
   * process, as if its bytes had been added here; false where it can't.
   */
  loadState?(state: Uint8Array): boolean;
}

import { findLibrary, loadLibc } from "./_libc.ts";
import { type Bindings, bindNow, lazySymbols } from "./_lazy_ffi.ts";

const SYMBOLS = {
  XXH3_createState: { parameters: [], result: "pointer" },
  XXH3_freeState: { parameters: ["pointer"], result: "i32" },
  XXH3_128bits_reset: { parameters: ["pointer"], result: "i32" },
  XXH3_128bits_reset_withSeed: {
    parameters: ["pointer", "u64"],
    result: "i32",
  },
  XXH3_128bits_update: {
    parameters: ["pointer", "buffer", "usize"],
    result: "i32",
  },
  XXH3_128bits_digest: {
    parameters: ["pointer"],
    result: { struct: ["u64", "u64"] },
  },
  XXH3_64bits_withSeed: {
    parameters: ["buffer", "usize", "u64"],
    result: "u64",
  },
  XXH_versionNumber: { parameters: [], result: "u32" },
} as const;

/**
 * The size of libxxhash 0.8's XXH3_state_t (its accumulators, secret,
 * buffer and counters; the pointer to its secret is the library's own
 * static one, the same on every thread of a process).
 */
const STATE_BYTES_0_8 = 576;

let stateBytes: number | undefined;

/** Bytes of a state to copy: 0 where the library is not a 0.8 one. */
function stateSize(lib: Lib): number {
  if (stateBytes !== undefined) return stateBytes;
  const version = lib.symbols.XXH_versionNumber();
  return stateBytes = version >= 800 && version < 900 ? STATE_BYTES_0_8 : 0;
}

/** The library's symbols, bound as first used. */
type Lib = { symbols: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] };

let loaded: Lib | null | undefined;

/** Where libxxhash may live (the daemon's sandbox scopes --allow-ffi to it). */
const CANDIDATES = [
  "/usr/lib/x86_64-linux-gnu/libxxhash.so.0",
  "/lib/x86_64-linux-gnu/libxxhash.so.0",
  "/usr/lib/aarch64-linux-gnu/libxxhash.so.0",
  "/lib/aarch64-linux-gnu/libxxhash.so.0",
  "/usr/lib64/libxxhash.so.0",
  "/usr/lib/libxxhash.so.0",
  "/usr/local/lib/libxxhash.so.0",
];

/** The env variable naming the libxxhash the sandboxed daemon may load. */
export const XXHASH_ENV = "BLIT_DAEMON_XXHASH";

/**
 * The absolute path of this machine's libxxhash, for `--allow-ffi=PATH`
 * (the sandboxed daemon hashes with it); undefined off Linux or when none
 * is found.
 *
 * Permissions: env BLIT_DAEMON_XXHASH (optional), read on the candidates
 * (by stat).
 *
 * @example
 * ```ts
 * import { findXxhash } from "./native_hash.ts";
 * const path = findXxhash();
 * if (path !== undefined && !path.startsWith("/")) throw new Error("example failed");
 * ```
 */
export function findXxhash(): string | undefined {
  return findLibrary(XXHASH_ENV, CANDIDATES);
}

function library(): Lib | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (Deno.build.os !== "linux") return loaded;
  const found = findXxhash();
  for (const name of [found, "libxxhash.so.0", "libxxhash.so"]) {
    if (!name) continue;
    try {
      loaded = { symbols: lazySymbols(name, SYMBOLS, loadLibc()?.path) };
      break;
    } catch {
      // not allowed here, or not installed: try the next, else wasm
    }
  }
  return loaded;
}

let off: boolean | undefined;

/**
 * The library, unless `BLIT_NATIVE_HASH=0` says to keep to the wasm (read
 * once: a hasher is made for every file).
 */
function allowedLibrary(): Lib | null {
  if (off === undefined) {
    try {
      off = Deno.env.get("BLIT_NATIVE_HASH") === "0";
    } catch {
      off = false; // env not readable: the default
    }
  }
  return off ? null : library();
}

const states = new FinalizationRegistry<Deno.PointerValue>((state) => {
  library()?.symbols.XXH3_freeState(state);
});

/**
 * A native xxh3-128 hasher (seeded with `seed`, a 32-bit word, when
 * given), or undefined when libxxhash can't be loaded (no FFI permission,
 * not Linux, not installed) or `BLIT_NATIVE_HASH=0`. Digests are
 * canonical (big-endian high then low 64 bits), as hash-wasm's.
 *
 * Permissions: ffi (optional), env BLIT_NATIVE_HASH (optional).
 *
 * @example
 * ```ts
 * import { nativeHasher } from "./native_hash.ts";
 * const h = nativeHasher();
 * if (h && h.init().update(new Uint8Array(3)).digest("binary").length !== 16) throw new Error("example failed");
 * ```
 */
export function nativeHasher(seed?: number): NativeHasher | undefined {
  const lib = allowedLibrary();
  if (!lib) return undefined;
  const state = lib.symbols.XXH3_createState();
  if (state === null) return undefined;
  const seed64 = seed === undefined ? undefined : BigInt(seed);
  const reset = seed64 === undefined
    ? () => lib.symbols.XXH3_128bits_reset(state)
    : () => lib.symbols.XXH3_128bits_reset_withSeed(state, seed64);
  // A new state is uninitialised memory until reset: hashing into it
  // before `init` must not be undefined behaviour.
  reset();
  const hasher: NativeHasher = {
    init() {
      reset();
      return hasher;
    },
    update(data: Uint8Array) {
      lib.symbols.XXH3_128bits_update(
        state,
        data as Uint8Array<ArrayBuffer>,
        BigInt(data.length),
      );
      return hasher;
    },
    digest() {
      return canonical(lib.symbols.XXH3_128bits_digest(state) as Uint8Array);
    },
    saveState() {
      const libc = loadLibc();
      const size = stateSize(lib);
      if (!libc || size === 0) return undefined;
      const out = new Uint8Array(size);
      libc.fn.memcpy(out, state, BigInt(size));
      return out;
    },
    loadState(saved: Uint8Array) {
      const libc = loadLibc();
      const size = stateSize(lib);
      if (!libc || size === 0 || saved.length !== size) return false;
      libc.fn.memcpyTo(state, saved as Uint8Array<ArrayBuffer>, BigInt(size));
      return true;
    },
  };
  states.register(hasher, state);
  return hasher;
}

/**
 * xxh3-64 of `data` seeded with `seed`, in one call, or undefined where
 * libxxhash can't be loaded (see {@linkcode nativeHasher}): the same values
 * as hash-wasm's `createXXHash3(seed)`.
 *
 * Permissions: ffi (optional), env BLIT_NATIVE_HASH (optional).
 *
 * @example
 * ```ts
 * import { nativeSeededXxh3 } from "./native_hash.ts";
 * const xxh3 = nativeSeededXxh3();
 * if (xxh3 && BigInt(xxh3(new Uint8Array(3), 1n)) === BigInt(xxh3(new Uint8Array(3), 2n))) throw new Error("example failed");
 * ```
 */
export function nativeSeededXxh3():
  | ((data: Uint8Array, seed: bigint) => number | bigint)
  | undefined {
  const lib = allowedLibrary();
  if (!lib) return undefined;
  const hash = lib.symbols.XXH3_64bits_withSeed;
  return (data, seed) =>
    hash(data as Uint8Array<ArrayBuffer>, BigInt(data.length), seed);
}

/**
 * Binds every libxxhash function now (each costs ~0.2-0.5 ms to bind the
 * first time it is called: see _lazy_ffi.ts): for a process that is
 * waiting anyway (a pushing client, its manifest sent, before the need
 * list comes), so its first files don't pay for it. Returns how many it
 * bound (0 where the library can't be loaded).
 *
 * Permissions: ffi (optional), env BLIT_NATIVE_HASH (optional).
 *
 * @example
 * ```ts
 * import { primeNativeHash } from "./native_hash.ts";
 * primeNativeHash();
 * if (primeNativeHash() !== 0) throw new Error("example failed");
 * ```
 */
export function primeNativeHash(): number {
  const lib = allowedLibrary();
  if (!lib) return 0;
  return bindNow(lib.symbols, Object.keys(SYMBOLS) as (keyof typeof SYMBOLS)[]);
}

/**
 * The symbols hashing calls (a content hasher's, a chunk digest's), for
 * `bindIdle` (see _lazy_ffi.ts); undefined where libxxhash is not used.
 *
 * @example
 * ```ts
 * import { hashBindings } from "./native_hash.ts";
 * const got = hashBindings();
 * if (got && !got[1].includes("XXH3_128bits_update")) throw new Error("example failed");
 * ```
 */
export function hashBindings(): Bindings | undefined {
  const lib = allowedLibrary();
  return lib
    ? [lib.symbols, [
      "XXH3_createState",
      "XXH3_128bits_reset",
      "XXH3_128bits_update",
      "XXH3_128bits_digest",
      "XXH3_64bits_withSeed",
      "XXH3_128bits_reset_withSeed",
      "XXH_versionNumber",
    ]]
    : undefined;
}

/**
 * An XXH128_hash_t (low then high half, native order) as canonical bytes:
 * reordered in place (the struct the call returned is ours alone; a
 * second typed array would cost more than the reordering).
 */
function canonical(raw: Uint8Array): Uint8Array {
  if (LITTLE_ENDIAN) {
    // Both halves big-endian, high first: the 16 bytes reversed (no
    // BigInt made a file: ~0.6 us of a small file's ~3).
    for (let i = 0; i < 8; i++) {
      const low = raw[i];
      raw[i] = raw[15 - i];
      raw[15 - i] = low;
    }
    return raw;
  }
  const out = new Uint8Array(16);
  const view = new DataView(raw.buffer, raw.byteOffset, 16);
  const bytes = new DataView(out.buffer);
  bytes.setBigUint64(0, view.getBigUint64(8, true));
  bytes.setBigUint64(8, view.getBigUint64(0, true));
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
