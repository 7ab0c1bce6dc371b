// Content hashes for `--checksum`: xxh3-128 from hash-wasm.
//
// xxh3 is a non-cryptographic hash running at memory speed in wasm; for
// "did this file change" a 128-bit xxh3 has negligible collision odds and is
// several times faster than BLAKE3/SHA-256 here. Authenticity comes from the
// transport, not from this hash.
import { loadHashWasm } from "../deps/hash_wasm.ts";
import { type NativeHasher, nativeHasher } from "./native_hash.ts";
import type { ReadHandle } from "./tree.ts";
import { hashOnWorker } from "./hash_pool.ts";

type IHasher = Awaited<
  ReturnType<Awaited<ReturnType<typeof loadHashWasm>>["createXXHash128"]>
>;

/** Read size for hashing: big sync reads keep the syscall count low. */
const READ_SIZE = 1 << 20;

let hasher: Promise<IHasher> | undefined;

function sharedHasher(): Promise<IHasher> {
  // Loaded on first use: the wasm module costs ~35 ms of start-up that
  // transfers without --checksum never need.
  hasher ??= loadHashWasm().then((m) => m.createXXHash128());
  return hasher;
}

/** An incremental xxh3-128 hasher (init, update, digest; all sync). */
export type ContentHasher = NativeHasher;

/**
 * A hasher of its own, for one stream of bodies at a time (the data
 * plane's senders and receivers keep one each).
 *
 * @example
 * ```ts
 * import { contentHasher, hashBytes } from "@blit/cli/internals";
 * const h = await contentHasher();
 * h.init();
 * h.update(new TextEncoder().encode("hi"));
 * const a = h.digest("binary");
 * const b = await hashBytes(new TextEncoder().encode("hi"));
 * if (!a.every((v, i) => v === b[i])) throw new Error("example failed");
 * ```
 */
export async function contentHasher(): Promise<ContentHasher> {
  // The system's libxxhash where FFI is allowed (same digests, ~3x faster).
  const native = nativeHasher();
  if (native) return native;
  return (await loadHashWasm()).createXXHash128();
}

/**
 * Hashes a byte array (xxh3-128, 16 bytes).
 *
 * @example
 * ```ts
 * import { hashBytes } from "@blit/cli/internals";
 * const h = await hashBytes(new TextEncoder().encode("hi"));
 * if (!(h.length === 16)) throw new Error("example failed");
 * ```
 */
export async function hashBytes(data: Uint8Array): Promise<Uint8Array> {
  const h = await sharedHasher();
  h.init();
  h.update(data);
  return h.digest("binary");
}

/**
 * Hashes a file's content (xxh3-128, 16 bytes) with 1 MiB sync reads.
 *
 * Permissions: read on `absPath`.
 *
 * @example
 * ```ts
 * import { hashBytes, hashFile } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "hi");
 * const a = await hashFile(path);
 * const b = await hashBytes(new TextEncoder().encode("hi"));
 * if (!(a.every((v, i) => v === b[i]))) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 * @throws {Deno.errors.NotFound} when the file does not exist.
 */
export async function hashFile(
  absPath: string | ReadHandle,
): Promise<Uint8Array> {
  if (typeof absPath !== "string") {
    // A tree's handle with a descriptor is hashed on a worker: the thread
    // that answers other clients never reads a file a client named.
    let digests: Uint8Array[] | undefined;
    try {
      digests = await hashOnWorker(absPath, [{ offset: 0, length: -1 }]);
    } catch (error) {
      absPath.close();
      throw error;
    }
    if (digests) {
      absPath.close();
      return digests[0];
    }
  }
  const h = await sharedHasher();
  // An open file (a contained root's checked handle) is read and closed.
  const file = typeof absPath === "string"
    ? Deno.openSync(absPath, { read: true })
    : absPath;
  try {
    h.init();
    const buffer = new Uint8Array(READ_SIZE);
    for (;;) {
      const n = file.readSync(buffer);
      if (n === null || n === 0) break;
      h.update(buffer.subarray(0, n));
    }
    return h.digest("binary");
  } finally {
    file.close();
  }
}

/**
 * Compares two hashes byte by byte.
 *
 * @example
 * ```ts
 * import { sameHash } from "@blit/cli/internals";
 * if (!(sameHash(new Uint8Array([1]), new Uint8Array([1])))) throw new Error("example failed");
 * ```
 */
export function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
