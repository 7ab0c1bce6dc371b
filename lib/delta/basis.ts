// The receiver's description of the old copy of a file it needs (its
// basis): the length and a short salted hash of each content-defined
// chunk. The sender looks its own chunks up in it and sends only those
// the receiver does not hold.
import { loadHashWasm } from "../deps/hash_wasm.ts";
import { nativeSeededXxh3 } from "../fs/native_hash.ts";
import { openForRead } from "../fs/contained_root.ts";
import { resolveInside, type ResolveOptions } from "../fs/safe_path.ts";
import { fileIdentity, type ReadHandle, type TreeRoot } from "../fs/tree.ts";
import { describeOffThread } from "./basis_pool.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
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
export const DELTA_MIN_BYTES = 1024;
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
 * The salted hash of one chunk: the first {@linkcode DIGEST_BYTES} of
 * xxh3-64 seeded with the description's seed (big-endian), as two words.
 * One call a chunk: the system's libxxhash where FFI may load it, else
 * hash-wasm's (the same digests).
 */
export class ChunkDigest {
  /** The description's seed (32 bits). */
  readonly seed: number;
  readonly #hash: (bytes: Uint8Array, into: ChunkDigest) => void;
  /** The first 4 bytes of the last digest (big-endian). */
  hi = 0;
  /** Its next 2 bytes (big-endian). */
  lo = 0;

  private constructor(
    seed: number,
    hash: (bytes: Uint8Array, into: ChunkDigest) => void,
  ) {
    this.seed = seed;
    this.#hash = hash;
  }

  /**
   * Digests salted with `seed` (a fresh random one when absent).
   *
   * @example
   * ```ts
   * import { ChunkDigest } from "@blit/cli/internals";
   * const a = await ChunkDigest.create(7);
   * const b = await ChunkDigest.create(8);
   * const bytes = new Uint8Array(3000).fill(1);
   * if (a.of(bytes).hi === b.of(bytes).hi) throw new Error("example failed");
   * ```
   */
  static async create(seed?: number): Promise<ChunkDigest> {
    const salt = seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
    if (!Number.isInteger(salt) || salt < 0 || salt > 0xffffffff) {
      throw new RangeError(`a chunk seed is a 32-bit word, got ${salt}`);
    }
    const native = nativeSeededXxh3();
    if (native) {
      const seed64 = BigInt(salt);
      return new ChunkDigest(salt, (bytes, into) => {
        const value = BigInt(native(bytes, seed64));
        into.hi = Number(value >> 32n);
        into.lo = Number((value >> 16n) & 0xffffn);
      });
    }
    const wasm = await (await loadHashWasm()).createXXHash3(salt, 0);
    return new ChunkDigest(salt, (bytes, into) => {
      wasm.init();
      wasm.update(bytes);
      const d = wasm.digest("binary");
      into.hi = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
      into.lo = (d[4] << 8) | d[5];
    });
  }

  /** The digest of `bytes` as one chunk: `hi` and `lo` hold it. */
  of(bytes: Uint8Array): this {
    this.#hash(bytes, this);
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
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeFileSync(`${root}/f`, new Uint8Array(100_000).map((_, i) => i * 31));
 * const copy = await describeBasis(root, "f");
 * if (copy?.offer.lengths.reduce((a, b) => a + b, 0) !== 100_000) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function describeBasis(
  root: TreeRoot,
  rel: string,
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
    if (named && named.size >= OFF_THREAD_MIN_BYTES) {
      const copy = await describeBeneath(root as string, rel, options);
      // Described through a directory handle: the very file named.
      if (copy) return copy.identity === fileIdentity(named) ? copy : undefined;
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
    const digest = await ChunkDigest.create();
    const away = info.size >= OFF_THREAD_MIN_BYTES
      ? await describeOffThread(file, info.size, digest.seed)
      : "here";
    const offer = away === "here"
      ? describeHandle(file, info.size, digest)
      : away;
    return offer && { offer, identity: fileIdentity(info) };
  } finally {
    file.close();
  }
}

/**
 * A local directory's big old copy, described on the workers through a
 * kernel tree opened on it for the purpose (openat2 beneath the
 * directory, no link followed): undefined where that can't be done.
 */
async function describeBeneath(
  root: string,
  rel: string,
  options: ResolveOptions,
): Promise<BasisCopy | undefined> {
  let tree: KernelTree | undefined;
  try {
    tree = KernelTree.open(root);
  } catch {
    return undefined; // the root itself is a link, or gone: the plain way
  }
  if (!tree) return undefined;
  try {
    return await describeBasis(tree, rel, options);
  } finally {
    tree.close();
  }
}

/**
 * Describes an open old copy of `size` bytes, read from its current
 * position to its end; undefined when it turns out another size (it
 * changed while read).
 *
 * @example
 * ```ts
 * import { ChunkDigest, describeHandle } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(9000).map((_, i) => i * 7));
 * using file = Deno.openSync(path);
 * if (describeHandle(file, 9000, await ChunkDigest.create())?.size !== 9000) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function describeHandle(
  file: Pick<ReadHandle, "readSync">,
  size: number,
  digest: ChunkDigest,
): BasisOffer | undefined {
  const avgBits = avgBitsFor(size);
  const part = describeRange(file, size, avgBits, digest);
  // It went on past its size: it is changing, describe nothing.
  const more = file.readSync(new Uint8Array(1));
  if (more !== null && more > 0) return undefined;
  return part && {
    avgBits,
    seed: digest.seed,
    size,
    lengths: part.lengths,
    digests: part.digests,
  };
}

/** The chunks of a stretch of an old copy (see {@linkcode describeRange}). */
export interface DescribedRange {
  /** Each chunk's length, in order. */
  lengths: Uint32Array;
  /** Each chunk's digest, {@linkcode DIGEST_BYTES} each, in order. */
  digests: Uint8Array;
}

/**
 * Cuts `length` bytes read from `file`'s current position into chunks
 * (the chunker starts afresh there and the last chunk ends at the end,
 * wherever that falls) with the average `2^avgBits` of the whole file;
 * undefined when the file ends early or goes on past the stretch while
 * it is the whole file, or when there are too many chunks. A big old copy
 * is described a stretch per worker and the stretches joined.
 *
 * @example
 * ```ts
 * import { ChunkDigest, describeRange } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(9000).map((_, i) => i * 7));
 * using file = Deno.openSync(path);
 * const part = describeRange(file, 5000, 11, await ChunkDigest.create());
 * if (part?.lengths.reduce((a, b) => a + b, 0) !== 5000) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function describeRange(
  file: Pick<ReadHandle, "readSync">,
  length: number,
  avgBits: number,
  digest: ChunkDigest,
): DescribedRange | undefined {
  const chunker = new Chunker(avgBits);
  const most = Math.min(
    MAX_BASIS_CHUNKS,
    Math.ceil(4 * length / 2 ** avgBits) + 2,
  );
  const lengths = new Uint32Array(most);
  const digests = new Uint8Array(DIGEST_BYTES * most);
  const view = new DataView(digests.buffer);
  let count = 0;
  // A chunk is hashed in one piece: room for the longest and a read more,
  // in the chunker's own memory (read into, scanned where it is).
  const buffer = chunker.buffer(Math.max(1 << 20, 2 * chunker.maxChunk));
  let filled = 0;
  let chunk = 0;
  let scanned = 0;
  let left = length;
  const endChunk = (end: number): boolean => {
    if (count >= most) return false;
    digest.of(buffer.subarray(chunk, end));
    view.setUint32(count * DIGEST_BYTES, digest.hi);
    view.setUint16(count * DIGEST_BYTES + 4, digest.lo);
    lengths[count++] = end - chunk;
    chunk = scanned = end;
    return true;
  };
  for (;;) {
    if (scanned === filled) {
      if (left === 0) break;
      buffer.copyWithin(0, chunk, filled);
      filled -= chunk;
      scanned = filled;
      chunk = 0;
      const want = Math.min(buffer.length - filled, left);
      for (let got = 0; got < want;) {
        const n = file.readSync(buffer.subarray(filled, filled + want - got));
        if (n === null || n === 0) return undefined; // shorter than told
        filled += n;
        got += n;
      }
      left -= want;
      continue;
    }
    const end = chunker.scan(buffer.subarray(0, filled), scanned);
    if (end < 0) scanned = filled;
    else if (!endChunk(end)) return undefined;
  }
  if (chunk < filled && !endChunk(filled)) return undefined;
  return {
    lengths: lengths.slice(0, count),
    digests: digests.slice(0, count * DIGEST_BYTES),
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
 * const ok = { avgBits: 11, seed: 1, size: 5000, lengths: Uint32Array.of(3000, 2000), digests: new Uint8Array(12) };
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
 * description of {@linkcode MAX_BASIS_CHUNKS} chunks costs ~5 MiB.
 *
 * @example
 * ```ts
 * import { BasisTable, ChunkDigest } from "@blit/cli/internals";
 * const d = (await ChunkDigest.create(7)).of(new Uint8Array(3000));
 * const digests = new Uint8Array(16);
 * new DataView(digests.buffer).setUint32(6, d.hi);
 * new DataView(digests.buffer).setUint16(10, d.lo);
 * const table = new BasisTable({ avgBits: 11, seed: 7, size: 5000, lengths: Uint32Array.of(2000, 3000), digests });
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
  /** Each chunk's digest, by index. */
  readonly #chunkHi: Uint32Array;
  readonly #chunkLo: Uint16Array;

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
    this.#chunkHi = new Uint32Array(count);
    this.#chunkLo = new Uint16Array(count);
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
      this.#chunkHi[i] = hi;
      this.#chunkLo[i] = lo;
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
    const index = this.indexOf(hi, lo, length);
    return index < 0 ? -1 : this.#offsets[index];
  }

  /** Which chunk (its index) has `length` bytes and this digest, or -1. */
  indexOf(hi: number, lo: number, length: number): number {
    for (let s = hi & this.#mask;; s = (s + 1) & this.#mask) {
      const slot = this.#slots[s];
      if (slot === 0) return -1;
      if (this.#hi[s] === hi && this.#lo[s] === lo) {
        return this.#lengths[slot - 1] === length ? slot - 1 : -1;
      }
    }
  }

  /** How many chunks the description lists. */
  get count(): number {
    return this.#lengths.length;
  }

  /** Chunk `index`'s length. */
  lengthOf(index: number): number {
    return this.#lengths[index];
  }

  /** Where chunk `index` starts in the old copy. */
  offsetOf(index: number): number {
    return this.#offsets[index];
  }

  /** Whether chunk `index` has this digest. */
  matches(index: number, hi: number, lo: number): boolean {
    return this.#chunkHi[index] === hi && this.#chunkLo[index] === lo;
  }
}
