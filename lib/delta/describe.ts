// The core of describing an old copy: its chunks cut by the gear hash
// and each hashed with the description's seed. Kept apart from the
// file-layer code (basis.ts) so the Workers that describe load little.
import { loadHashWasm } from "../deps/hash_wasm.ts";
import { nativeHasher, nativeSeededXxh3 } from "../fs/native_hash.ts";
import type { ContentHasher } from "../fs/hash.ts";
import { contentStamp, openedStatus, type ReadHandle } from "../fs/tree.ts";
import { blockSum, Chunker, dataArea, MAX_BASIS_CHUNKS } from "./chunker.ts";

/**
 * Old copies under this size are also hashed whole (`BasisOffer.whole`):
 * they are described in one piece (here or on one worker), and a sender
 * holding the same content then sends copy instructions for all of it
 * without cutting its file.
 */
export const WHOLE_MAX_BYTES = 16 << 20;

/**
 * Old copies from this size (1 MiB) are described in fixed blocks with
 * rolling sums (see {@linkcode describeBlocks}), as rsync describes a
 * file: a read and two cheap sums a byte, where content-defined chunks
 * cost a gear hash of every byte on top (~2.5x the CPU, and the receiver
 * pays it whether or not the sender's file moved anything). The sender
 * finds the blocks wherever they went by rolling a block's sum along its
 * file, only where its file stops matching in order: an edit costs the
 * blocks it touches, an insertion or deletion a block or two. Smaller
 * copies (a source tree's files, described many at a time on a worker)
 * keep content-defined chunks and a whole-copy hash.
 */
export const BLOCKS_MIN_BYTES = 1 << 20;

/** Whether an old copy of `size` bytes is described in fixed blocks. */
export function inBlocks(size: number): boolean {
  return size >= BLOCKS_MIN_BYTES;
}

/** Bytes of a chunk's hash in a description. */
export const DIGEST_BYTES = 4;

/**
 * The salted hash of one chunk: the first {@linkcode DIGEST_BYTES} of
 * xxh3-64 seeded with the description's seed (big-endian), as a word.
 * One call a chunk: the system's libxxhash where FFI may load it, else
 * hash-wasm's (the same digests).
 */
export class ChunkDigest {
  /** The description's seed (32 bits). */
  readonly seed: number;
  readonly #hash: (bytes: Uint8Array, into: ChunkDigest) => void;
  readonly #wholeHasher: () => ContentHasher;
  /** The last digest: the xxh3-64's first 4 bytes (big-endian). */
  word = 0;

  private constructor(
    seed: number,
    hash: (bytes: Uint8Array, into: ChunkDigest) => void,
    wholeHasher: () => ContentHasher,
  ) {
    this.seed = seed;
    this.#hash = hash;
    this.#wholeHasher = wholeHasher;
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
   * if (a.of(bytes).word === b.of(bytes).word) throw new Error("example failed");
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
      return new ChunkDigest(
        salt,
        (bytes, into) => {
          into.word = Number(BigInt(native(bytes, seed64)) >> 32n);
        },
        () => nativeHasher(salt)!,
      );
    }
    const hashes = await loadHashWasm();
    const wasm = await hashes.createXXHash3(salt, 0);
    const wasm128 = await hashes.createXXHash128(salt, 0);
    return new ChunkDigest(
      salt,
      (bytes, into) => {
        wasm.init();
        wasm.update(bytes);
        const d = wasm.digest("binary");
        into.word = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
      },
      () => wasm128,
    );
  }

  /** The digest of `bytes` as one chunk: `word` holds it. */
  of(bytes: Uint8Array): this {
    this.#hash(bytes, this);
    return this;
  }

  /**
   * The xxh3-128 of `bytes` seeded with the seed (canonical, 16 bytes): a
   * small old copy's whole-copy hash (`BasisOffer.whole`).
   *
   * @example
   * ```ts
   * import { ChunkDigest } from "@blit/cli/internals";
   * const bytes = new Uint8Array(3000).fill(1);
   * const a = (await ChunkDigest.create(7)).whole(bytes);
   * if (a.length !== 16 || a.join() === (await ChunkDigest.create(8)).whole(bytes).join()) throw new Error("example failed");
   * ```
   */
  whole(bytes: Uint8Array): Uint8Array {
    return this.wholeHasher().init().update(bytes).digest("binary");
  }

  /**
   * The same hash as {@linkcode ChunkDigest.whole}, over bytes that come
   * in pieces: one hasher per digest, reused (`init` starts it afresh;
   * `whole` uses it too, so one stream at a time).
   *
   * @example
   * ```ts
   * import { ChunkDigest } from "@blit/cli/internals";
   * const d = await ChunkDigest.create(7);
   * const h = d.wholeHasher().init().update(new Uint8Array(2)).update(new Uint8Array(1));
   * if (h.digest("binary").join() !== d.whole(new Uint8Array(3)).join()) throw new Error("example failed");
   * ```
   */
  wholeHasher(): ContentHasher {
    return this.#streaming ??= this.#wholeHasher();
  }
  #streaming: ContentHasher | undefined;
}

/** The chunks of a stretch of an old copy (see {@linkcode describeRange}). */
export interface DescribedRange {
  /** Each chunk's length, in order. */
  lengths: Uint32Array;
  /** Each chunk's digest, {@linkcode DIGEST_BYTES} each, in order. */
  digests: Uint8Array;
  /**
   * For a stretch in fixed blocks (see {@linkcode describeBlocks}): each
   * block's rolling sum (`blockSum`), {@linkcode DIGEST_BYTES} each
   * (big-endian), in order.
   */
  weak?: Uint8Array;
  /**
   * For a stretch in fixed blocks: the digest of each whole run of
   * {@linkcode runBlocksFor} full blocks from its start, in order (see
   * {@linkcode describeBlocks}).
   */
  runs?: Uint8Array;
}

/**
 * Blocks a run holds in a description in fixed blocks of `2^blockBits`
 * bytes: 64, or as many as 1 MiB holds (1: no runs). A run's digest (a
 * chunk digest of its bytes) lets a sender whose file goes on as the old
 * copy did check the run with one hash rather than one a block (a call
 * each: ~0.3-1 us, against ~6 us to hash a run of 2 KiB blocks).
 */
export function runBlocksFor(blockBits: number): number {
  return 2 ** Math.max(0, Math.min(6, 20 - blockBits));
}

/**
 * Whole runs (see {@linkcode runBlocksFor}) of full blocks in `size` bytes
 * in fixed blocks of `2^blockBits` bytes: what a description's `runs`
 * lists, when it lists them.
 */
export function runsOf(size: number, blockBits: number): number {
  const per = runBlocksFor(blockBits);
  return per > 1 ? Math.floor(size / (per * 2 ** blockBits)) : 0;
}

/**
 * Cuts `length` bytes read from `file`'s current position into chunks
 * (the chunker starts afresh there and the last chunk ends at the end,
 * wherever that falls) with the average `2^avgBits` of the whole file;
 * undefined when the file ends early or goes on past the stretch while
 * it is the whole file, or when there are too many chunks. A big old copy
 * is described a stretch per worker and the stretches joined. `onRead`
 * sees every byte of the stretch, in order, a read at a time (a stretch
 * under 1 MiB in one read), before any is scanned. With `last` (the
 * stretch ends where the file should), a file that goes on past it is
 * undefined too: its last read asks for a byte more (a read of its own
 * only where the buffer has no room for it).
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
  onRead?: (bytes: Uint8Array) => void,
  last = false,
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
    view.setUint32(count * DIGEST_BYTES, digest.word);
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
      const from = filled;
      // The last read of the file asks for a byte more, where it fits.
      const probe = last && want === left && from + want < buffer.length
        ? 1
        : 0;
      let got = 0;
      while (got < want) {
        const n = file.readSync(
          buffer.subarray(filled, from + want + probe),
        );
        if (n === null || n === 0) return undefined; // shorter than told
        filled += n;
        got += n;
      }
      if (got > want) return undefined; // it goes on: it is changing
      left -= want;
      if (last && left === 0 && probe === 0) {
        const n = file.readSync(new Uint8Array(1));
        if (n !== null && n > 0) return undefined;
      }
      onRead?.(buffer.subarray(from, filled));
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

/** Reads of a file hashed whole (see {@linkcode hashRead}). */
/**
 * Reads `length` bytes from `file`'s current position in fixed blocks of
 * `2^blockBits` bytes (the last one shorter), each with its digest and
 * its rolling sum ({@linkcode blockSum}): a big old copy's description,
 * which costs a read and two sums a byte, not a gear hash (the sender
 * finds the blocks at any offset of its file by their rolling sums, as
 * rsync does). `onRead` sees every byte read, in order. Undefined when
 * the file ends early or (`last`) goes on past `length`: it is changing.
 *
 * @example
 * ```ts
 * import { ChunkDigest, describeBlocks } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(5000).fill(3));
 * using file = Deno.openSync(path);
 * const got = describeBlocks(file, 5000, 11, await ChunkDigest.create(1), undefined, true)!;
 * if (got.lengths.join() !== "2048,2048,904" || got.weak!.length !== 12) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function describeBlocks(
  file: Pick<ReadHandle, "readSync">,
  length: number,
  blockBits: number,
  digest: ChunkDigest,
  onRead?: (bytes: Uint8Array) => void,
  last = false,
): DescribedRange | undefined {
  const block = 2 ** blockBits;
  const count = Math.ceil(length / block);
  if (count > MAX_BASIS_CHUNKS) return undefined;
  const lengths = new Uint32Array(count);
  const digests = new Uint8Array(DIGEST_BYTES * count);
  const weak = new Uint8Array(DIGEST_BYTES * count);
  const digestView = new DataView(digests.buffer);
  const weakView = new DataView(weak.buffer);
  // Whole runs of whole blocks, from the start: a read holds whole runs.
  const runBytes = block * runBlocksFor(blockBits);
  const runCount = runsOf(length, blockBits);
  const runs = new Uint8Array(DIGEST_BYTES * runCount);
  const runView = new DataView(runs.buffer);
  // Whole blocks a read (a power of two at least as big as one), in the
  // gear loop's memory: summed where they are.
  const buffer = dataArea(Math.max(1 << 20, block));
  let index = 0;
  let run = 0;
  for (let left = length; left > 0;) {
    const want = Math.min(buffer.length, left);
    for (let got = 0; got < want;) {
      const n = file.readSync(buffer.subarray(got, want));
      if (n === null || n === 0) return undefined; // shorter than told
      got += n;
    }
    const piece = buffer.subarray(0, want);
    onRead?.(piece);
    for (let at = 0; at < want; at += block) {
      const bytes = piece.subarray(at, Math.min(want, at + block));
      digestView.setUint32(index * DIGEST_BYTES, digest.of(bytes).word);
      weakView.setUint32(index * DIGEST_BYTES, blockSum(bytes));
      lengths[index++] = bytes.length;
    }
    for (let at = 0; at + runBytes <= want && run < runCount; at += runBytes) {
      const bytes = piece.subarray(at, at + runBytes);
      runView.setUint32(run++ * DIGEST_BYTES, digest.of(bytes).word);
    }
    left -= want;
  }
  if (last) {
    const n = file.readSync(buffer.subarray(0, 1));
    if (n !== null && n > 0) return undefined; // it goes on: it is changing
  }
  return { lengths, digests, weak, ...(runCount > 0 ? { runs } : {}) };
}

/**
 * The content hash of the `size` bytes of `file` (open, at its start; see
 * {@linkcode hashRead}), only where its status says when it last changed
 * ({@linkcode contentStamp}) and says the same once it is read, asked
 * anew: bytes that changed while read give no hash (undefined).
 *
 * @example
 * ```ts
 * import { hashSteady } from "./describe.ts";
 * import { contentHasher, hashBytes } from "../fs/hash.ts";
 * import { loadLibc, AT, O, cString } from "../fs/_libc.ts";
 * import { KernelFile } from "../fs/kernel_file.ts";
 * const libc = loadLibc();
 * if (libc) {
 *   const path = Deno.makeTempFileSync();
 *   Deno.writeFileSync(path, new Uint8Array(5000).fill(7));
 *   const file = KernelFile.regular(libc, libc.openat2(AT.FDCWD, cString(path), O.RDONLY, 0, 0), "f", false);
 *   const got = hashSteady(file, 5000, await contentHasher());
 *   file.close();
 *   if (got?.join() !== (await hashBytes(new Uint8Array(5000).fill(7))).join()) throw new Error("example failed");
 *   Deno.removeSync(path);
 * }
 * ```
 */
export function hashSteady(
  file: ReadHandle,
  size: number,
  hasher: ContentHasher,
): Uint8Array | undefined {
  const stamp = contentStamp(openedStatus(file));
  if (stamp === undefined) return undefined;
  const digest = hashRead(file, size, hasher);
  // The status now, not the one kept from the open.
  if (!digest || contentStamp(file.statSync()) !== stamp) return undefined;
  return digest;
}

const HASH_READ_BYTES = 1 << 20;
/** Where they go (one file at a time, per thread). */
let hashScratch: Uint8Array | undefined;

/**
 * The content hash (with `hasher`, started afresh) of the `size` bytes
 * `file` holds from its current position, or undefined when it turns out
 * another size: the last read asks for a byte past the size, and one
 * there (or an end before it) says it is changing.
 *
 * @example
 * ```ts
 * import { hashRead } from "./describe.ts";
 * import { contentHasher, hashBytes } from "../fs/hash.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(5000).fill(7));
 * using file = Deno.openSync(path);
 * const digest = hashRead(file, 5000, await contentHasher());
 * if (digest?.join() !== (await hashBytes(new Uint8Array(5000).fill(7))).join()) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function hashRead(
  file: { readSync(p: Uint8Array): number | null },
  size: number,
  hasher: ContentHasher,
): Uint8Array | undefined {
  const buffer = hashScratch ??= new Uint8Array(HASH_READ_BYTES + 1);
  hasher.init();
  for (let left = size; left >= 0;) {
    const want = Math.min(HASH_READ_BYTES, left);
    const n = file.readSync(
      buffer.subarray(0, want + (want < HASH_READ_BYTES ? 1 : 0)),
    );
    if (n === null || n === 0) {
      if (left !== 0) return undefined;
      break;
    }
    if (n > left) return undefined;
    hasher.update(buffer.subarray(0, n));
    left -= n;
  }
  return hasher.digest("binary");
}
