// node:zlib (for its zstd), loaded on first need: importing it brings in
// Deno's Node compatibility layer, ~20-30 ms of a command's start-up that
// a transfer which never compresses (every loopback one) need not pay.
type Zlib = typeof import("node:zlib");

let zlib: Zlib | undefined;
let loading: Promise<Zlib> | undefined;

/**
 * Loads node:zlib once; after it resolves, {@linkcode zstd} may be called.
 *
 * @example
 * ```ts
 * import { loadZstd, zstd } from "./zstd.ts";
 * await loadZstd();
 * if (zstd().zstdDecompressSync(zstd().zstdCompressSync(new Uint8Array(9))).length !== 9) throw new Error("example failed");
 * ```
 */
export function loadZstd(): Promise<Zlib> {
  return loading ??= import("node:zlib").then((z) => zlib = z);
}

/**
 * node:zlib, loaded by an earlier {@linkcode loadZstd}.
 *
 * @throws {Error} when it was not loaded (a bug: every path that packs or
 * unpacks awaits `loadZstd()` first).
 */
export function zstd(): Zlib {
  if (!zlib) throw new Error("internal error: zstd used before it was loaded");
  return zlib;
}
