// The receiver's description of the old copy of a file it needs (its
// basis): the length and a short salted hash of each content-defined
// chunk. The sender looks its own chunks up in it and sends only those
// the receiver does not hold.
import type { ContentHasher } from "../fs/hash.ts";
import { openForRead } from "../fs/contained_root.ts";
import { resolveInside, type ResolveOptions } from "../fs/safe_path.ts";
import { fileIdentity, type ReadHandle, type TreeRoot } from "../fs/tree.ts";
import { describeOffThread } from "./basis_pool.ts";
import {
  avgBitsFor,
  Chunker,
  MAX_AVG_BITS,
  MAX_BASIS_CHUNKS,
  MIN_AVG_BITS,
} from "./chunker.ts";

/** Bytes of a chunk's hash in a description. */
export const DIGEST_BYTES = 6;
/** Smallest old copy worth describing: under this, files go whole. */
export const DELTA_MIN_BYTES = 4096;
/**
 * Old copies from this size are described on a worker (where the tree
 * allows); smaller ones here, where a worker's round trip costs more
 * than a millisecond of chunking.
 */
export const OFF_THREAD_MIN_BYTES = 1 << 20;

/** What a receiver sends for a needed file it holds an older copy of. */
export interface BasisOffer {
  /** Chunks are cut with an average of `2^avgBits` bytes (see `Chunker`). */
  avgBits: number;
  /** Salts the chunk hashes (a new one per description). */
  seed: number;
  /** The old copy's size. */
  size: number;
  /** Each chunk's length, in order. */
  lengths: Uint32Array;
  /** Each chunk's salted hash, {@linkcode DIGEST_BYTES} each, in order. */
  digests: Uint8Array;
}

/** A description and the old copy it describes (kept by the receiver). */
export interface BasisCopy {
  /** What goes to the sender. */
  offer: BasisOffer;
  /** Which file was described (see `fileIdentity`): rebuilt from only if unchanged. */
  identity: string;
}

/**
 * The salted hash of one chunk (the first {@linkcode DIGEST_BYTES} of
 * xxh3-128 over the seed and the bytes), as two 32-bit words.
 */
export class ChunkDigest {
  readonly #hasher: ContentHasher;
  readonly #salt = new Uint8Array(4);
  /** The first 4 bytes of the last digest (big-endian). */
  hi = 0;
  /** Its next 2 bytes (big-endian). */
  lo = 0;

  /** Digests salted with `seed`, computed by `hasher`. */
  constructor(hasher: ContentHasher, seed: number) {
    this.#hasher = hasher;
    new DataView(this.#salt.buffer).setUint32(0, seed >>> 0);
  }

  /** Starts a chunk. */
  begin(): void {
    this.#hasher.init();
    this.#hasher.update(this.#salt);
  }

  /** Adds bytes of the chunk. */
  update(bytes: Uint8Array): void {
    this.#hasher.update(bytes);
  }

  /** Ends the chunk: `hi` and `lo` hold its digest. */
  end(): void {
    const digest = this.#hasher.digest("binary");
    const view = new DataView(digest.buffer, digest.byteOffset, 8);
    this.hi = view.getUint32(0);
    this.lo = view.getUint16(4);
  }

  /** The digest of `bytes` as one chunk. */
  of(bytes: Uint8Array): this {
    this.begin();
    this.update(bytes);
    this.end();
    return this;
  }
}

/**
 * Describes the old copy of `rel` under `root` for a delta transfer:
 * undefined when there is none worth describing (missing, not a regular
 * file, under {@linkcode DELTA_MIN_BYTES}, or changing while read). Opened
 * through the contained file layer: a link is never followed. Read on a
 * worker where the tree's descriptor can be shared with one.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { describeBasis } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeFileSync(`${root}/f`, new Uint8Array(100_000).map((_, i) => i * 31));
 * const copy = await describeBasis(root, "f", await contentHasher());
 * if (copy?.offer.lengths.reduce((a, b) => a + b, 0) !== 100_000) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function describeBasis(
  root: TreeRoot,
  rel: string,
  hasher: ContentHasher,
  options: ResolveOptions = {},
): Promise<BasisCopy | undefined> {
  let file: ReadHandle;
  // A local tree's name is checked not to be a link (a tree's own opens
  // refuse links in the kernel); the open must then be that very file.
  let named: Deno.FileInfo | undefined;
  try {
    if (typeof root === "string") {
      named = Deno.lstatSync(resolveInside(root, rel, options));
      if (!named.isFile) return undefined;
    }
    file = openForRead(root, rel, options);
  } catch {
    return undefined; // nothing there (or not ours to read): send it whole
  }
  try {
    const info = file.statSync();
    if (!info.isFile || info.size < DELTA_MIN_BYTES) return undefined;
    if (named && fileIdentity(named) !== fileIdentity(info)) return undefined;
    // On a worker where the handle's descriptor can be shared (the
    // daemon's kernel tree), else here.
    const away = info.size >= OFF_THREAD_MIN_BYTES
      ? await describeOffThread(file, info.size)
      : "here";
    const offer = away === "here"
      ? describeHandle(file, info.size, hasher)
      : away;
    return offer && { offer, identity: fileIdentity(info) };
  } finally {
    file.close();
  }
}

/**
 * Describes an open old copy of `size` bytes, read from its current
 * position to its end; undefined when it turns out another size (it
 * changed while read).
 *
 * @example
 * ```ts
 * import { describeHandle } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(9000).map((_, i) => i * 7));
 * using file = Deno.openSync(path);
 * if (describeHandle(file, 9000, await contentHasher())?.size !== 9000) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function describeHandle(
  file: Pick<ReadHandle, "readSync">,
  size: number,
  hasher: ContentHasher,
): BasisOffer | undefined {
  const avgBits = avgBitsFor(size);
  const seed = crypto.getRandomValues(new Uint32Array(1))[0];
  const chunker = new Chunker(avgBits);
  const digest = new ChunkDigest(hasher, seed);
  const lengths: number[] = [];
  const digests = new Uint8Array(
    DIGEST_BYTES * (Math.ceil(4 * size / 2 ** avgBits) + 2),
  );
  const buffer = new Uint8Array(1 << 20);
  let read = 0;
  let chunkLength = 0;
  const endChunk = () => {
    digest.end();
    const at = lengths.length * DIGEST_BYTES;
    const view = new DataView(digests.buffer, at, DIGEST_BYTES);
    view.setUint32(0, digest.hi);
    view.setUint16(4, digest.lo);
    lengths.push(chunkLength);
    chunkLength = 0;
  };
  digest.begin();
  for (;;) {
    const n = file.readSync(buffer);
    if (n === null || n === 0) break;
    read += n;
    if (read > size || lengths.length >= MAX_BASIS_CHUNKS) return undefined;
    const piece = buffer.subarray(0, n);
    for (let at = 0; at < n;) {
      const end = chunker.scan(piece, at);
      const stop = end < 0 ? n : end;
      digest.update(piece.subarray(at, stop));
      chunkLength += stop - at;
      at = stop;
      if (end >= 0) {
        endChunk();
        digest.begin();
      }
    }
  }
  if (read !== size) return undefined;
  if (chunkLength > 0) endChunk();
  if (lengths.length > MAX_BASIS_CHUNKS) return undefined;
  return {
    avgBits,
    seed,
    size,
    lengths: Uint32Array.from(lengths),
    digests: digests.slice(0, lengths.length * DIGEST_BYTES),
  };
}

/**
 * Why `offer` is not one a receiver makes, or undefined when it is: the
 * chunk size {@linkcode avgBitsFor} gives for its size (never one the
 * peer picks), at most {@linkcode MAX_BASIS_CHUNKS} chunks, each within
 * the chunker's bounds, adding up to the size, one hash each. A sender
 * refuses any other: what a description costs it stays bounded.
 *
 * @example
 * ```ts
 * import { basisProblem } from "@blit/cli/internals";
 * const ok = { avgBits: 10, seed: 1, size: 5000, lengths: Uint32Array.of(3000, 2000), digests: new Uint8Array(12) };
 * if (basisProblem(ok) !== undefined) throw new Error("example failed");
 * if (basisProblem({ ...ok, size: 6000 }) === undefined) throw new Error("example failed");
 * ```
 */
export function basisProblem(offer: BasisOffer): string | undefined {
  const { avgBits, size, lengths, digests } = offer;
  if (!Number.isSafeInteger(size) || size < DELTA_MIN_BYTES) {
    return `its size ${size} is out of range`;
  }
  if (
    !Number.isInteger(avgBits) || avgBits < MIN_AVG_BITS ||
    avgBits > MAX_AVG_BITS || avgBits !== avgBitsFor(size)
  ) {
    return `its chunk size 2^${avgBits} is not the one for ${size} bytes`;
  }
  if (lengths.length === 0 || lengths.length > MAX_BASIS_CHUNKS) {
    return `it lists ${lengths.length} chunks (1-${MAX_BASIS_CHUNKS})`;
  }
  if (digests.length !== lengths.length * DIGEST_BYTES) {
    return `it has ${digests.length} bytes of hashes for ${lengths.length} chunks`;
  }
  const most = 4 << avgBits;
  let sum = 0;
  for (const length of lengths) {
    if (length === 0 || length > most) {
      return `a chunk of ${length} bytes is out of range (1-${most})`;
    }
    sum += length;
  }
  if (sum !== size) return `its chunks add up to ${sum}, not ${size} bytes`;
  return undefined;
}

/**
 * A description as a lookup table: where in the old copy a chunk with a
 * given digest and length starts. Open addressing over typed arrays: a
 * description of {@linkcode MAX_BASIS_CHUNKS} chunks costs ~4 MiB.
 *
 * @example
 * ```ts
 * import { BasisTable, ChunkDigest } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const d = new ChunkDigest(await contentHasher(), 7).of(new Uint8Array(3000));
 * const digests = new Uint8Array(16);
 * new DataView(digests.buffer).setUint32(6, d.hi);
 * new DataView(digests.buffer).setUint16(10, d.lo);
 * const table = new BasisTable({ avgBits: 10, seed: 7, size: 5000, lengths: Uint32Array.of(2000, 3000), digests });
 * if (table.find(d.hi, d.lo, 3000) !== 2000) throw new Error("example failed");
 * ```
 */
export class BasisTable {
  readonly #mask: number;
  readonly #hi: Uint32Array;
  readonly #lo: Uint16Array;
  /** Chunk index + 1 in each slot; 0: empty. */
  readonly #slots: Int32Array;
  readonly #lengths: Uint32Array;
  readonly #offsets: Float64Array;

  /** The table of a valid description (see {@linkcode basisProblem}). */
  constructor(offer: BasisOffer) {
    const count = offer.lengths.length;
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.#mask = capacity - 1;
    this.#hi = new Uint32Array(capacity);
    this.#lo = new Uint16Array(capacity);
    this.#slots = new Int32Array(capacity);
    this.#lengths = offer.lengths;
    this.#offsets = new Float64Array(count);
    const view = new DataView(
      offer.digests.buffer,
      offer.digests.byteOffset,
      offer.digests.length,
    );
    let offset = 0;
    for (let i = 0; i < count; i++) {
      this.#offsets[i] = offset;
      offset += offer.lengths[i];
      const hi = view.getUint32(i * DIGEST_BYTES);
      const lo = view.getUint16(i * DIGEST_BYTES + 4);
      // The first chunk with a digest keeps its slot.
      for (let s = hi & this.#mask;; s = (s + 1) & this.#mask) {
        if (this.#slots[s] === 0) {
          this.#slots[s] = i + 1;
          this.#hi[s] = hi;
          this.#lo[s] = lo;
          break;
        }
        if (this.#hi[s] === hi && this.#lo[s] === lo) break;
      }
    }
  }

  /** Where a chunk of `length` bytes with this digest starts, or -1. */
  find(hi: number, lo: number, length: number): number {
    for (let s = hi & this.#mask;; s = (s + 1) & this.#mask) {
      const slot = this.#slots[s];
      if (slot === 0) return -1;
      if (this.#hi[s] === hi && this.#lo[s] === lo) {
        return this.#lengths[slot - 1] === length
          ? this.#offsets[slot - 1]
          : -1;
      }
    }
  }
}
