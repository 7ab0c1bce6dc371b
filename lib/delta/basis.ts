// The receiver's description of the old copy of a file it needs (its
// basis): the length and a short salted hash of each content-defined
// chunk. The sender looks its own chunks up in it and sends only those
// the receiver does not hold.
import { openForRead } from "../fs/contained_root.ts";
import { resolveInside, type ResolveOptions } from "../fs/safe_path.ts";
import {
  contentStamp,
  descriptorOf,
  fileIdentity,
  openedStatus,
  type ReadHandle,
  type TreeRoot,
} from "../fs/tree.ts";
import {
  describeFilesOffThread,
  describeOffThread,
  describersWarm,
} from "./basis_pool.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import { KernelFile } from "../fs/kernel_file.ts";
import { openLocalRead } from "../fs/path_tree.ts";
import {
  BLOCKS_MIN_BYTES,
  ChunkDigest,
  describeBlocks,
  type DescribedRange,
  describeRange,
  DIGEST_BYTES,
  hashRead,
  inBlocks,
  runBlocksFor,
  runsOf,
  WHOLE_MAX_BYTES,
} from "./describe.ts";
import {
  avgBitsFor,
  MAX_AVG_BITS,
  MAX_BASIS_CHUNKS,
  MIN_AVG_BITS,
} from "./chunker.ts";

export {
  BLOCKS_MIN_BYTES,
  ChunkDigest,
  describeBlocks,
  type DescribedRange,
  describeRange,
  DIGEST_BYTES,
  WHOLE_MAX_BYTES,
};

/** Hashes the content of old copies described here, one at a time, synchronously. */
let ownHasher: ContentHasher | undefined;

/** Smallest old copy worth describing: under this, files go whole. */
export const DELTA_MIN_BYTES = 1024;
/**
 * An old copy this many times the size the file has now, or more, is not
 * described: its description (a length and a hash a chunk, ~1/180 of an
 * 8 MiB copy, ~1/1000 of a 128 MiB one) would cost about the new file's
 * own bytes or more, and reading it back all the time it takes to send
 * them (a 128 MiB file cut to nothing went with 138 KB on the wire and
 * 219 ms, against rsync's 84 KB and 177-217 ms, at 1 Gbit/s).
 */
export const DESCRIBED_MAX_RATIO = 1024;

/**
 * Whether an old copy of `oldSize` bytes is worth describing for a file
 * now of `newSize`: the new file is at least {@linkcode DELTA_MIN_BYTES}
 * (a smaller one goes whole for less than any description) and the old
 * copy under {@linkcode DESCRIBED_MAX_RATIO} times its size.
 *
 * @example
 * ```ts
 * import { worthDescribing } from "./basis.ts";
 * if (worthDescribing(1 << 20, 0) || !worthDescribing(1 << 20, 4096)) throw new Error("example failed");
 * if (worthDescribing(128 << 20, 100 << 10) !== false) throw new Error("example failed");
 * ```
 */
export function worthDescribing(oldSize: number, newSize: number): boolean {
  return newSize >= DELTA_MIN_BYTES && oldSize < DESCRIBED_MAX_RATIO * newSize;
}
/**
 * Old copies under this size (16 MiB), of the very size the file now
 * has, are offered first by their content hash alone (see
 * {@linkcode BasisOffer}): most such files were only touched (a checkout,
 * a restore, a build), and a hash costs the receiver a read, not a cut
 * and a hash per chunk (~3x less CPU). A sender whose file differs asks
 * for the full description (a describe-again frame): one round trip and
 * one read and hash of the file on each side more for that file,
 * pipelined with the others.
 */
export const HASH_FIRST_MAX_BYTES = 16 << 20;
/**
 * Old copies from this size are described on a worker (where the tree
 * allows); smaller ones here, where a worker's round trip costs more
 * than a millisecond of chunking.
 */
export const OFF_THREAD_MIN_BYTES = 1 << 20;
/**
 * While the describing workers are not running (a client's), old copies
 * under this are described here: starting them (~0.1-0.2 s, this thread
 * blocked part of it, their code cold) costs more than chunking 256 MiB.
 */
const COLD_HERE_MAX_BYTES = 256 << 20;

/** Whether an old copy of `size` bytes is described on the workers. */
function offThread(size: number): boolean {
  return size >= OFF_THREAD_MIN_BYTES &&
    (size >= COLD_HERE_MAX_BYTES || describersWarm());
}

/** What a receiver sends for a needed file it holds an older copy of. */
export interface BasisOffer {
  /** Chunks are cut with an average of `2^avgBits` bytes (see `Chunker`). */
  avgBits: number;
  /** Salts the chunk hashes (random: per description, or per batching transfer). */
  seed: number;
  /** The old copy's size. */
  size: number;
  /** Each chunk's length, in order. */
  lengths: Uint32Array;
  /** Each chunk's salted hash, {@linkcode DIGEST_BYTES} each, in order. */
  digests: Uint8Array;
  /**
   * For a description in fixed blocks (old copies from
   * {@linkcode BLOCKS_MIN_BYTES}): each block's rolling sum (see
   * `blockSum`), {@linkcode DIGEST_BYTES} each, big-endian, in order. The
   * blocks are `2^avgBits` bytes (the last one shorter): `lengths` says so
   * too, and is not sent.
   */
  weak?: Uint8Array;
  /**
   * In fixed blocks, optionally: the digest of each whole run of
   * `runBlocksFor(avgBits)` full blocks from the start (a chunk digest of
   * the run's bytes), {@linkcode DIGEST_BYTES} each, in order: a sender
   * checks a run its file holds where the old copy had it with one hash.
   */
  runs?: Uint8Array;
  /**
   * The whole old copy's xxh3-128 salted with `seed` (see
   * `ChunkDigest.whole`), for copies under {@linkcode WHOLE_MAX_BYTES} cut
   * in more than one chunk. With no chunks listed (an offer by hash
   * alone, see {@linkcode offeredByHash}): the old copy's plain content
   * hash, as the end-to-end check's.
   */
  whole?: Uint8Array;
}

/**
 * Whether `offer` gives the old copy by its content hash alone (no
 * chunks: see {@linkcode HASH_FIRST_MAX_BYTES}).
 */
export function offeredByHash(offer: BasisOffer): boolean {
  return offer.lengths.length === 0;
}

/** Bytes of `BasisOffer.whole`. */
export const WHOLE_BYTES = 16;

/** A description and the old copy it describes (kept by the receiver). */
export interface BasisCopy {
  /** What goes to the sender. */
  offer: BasisOffer;
  /** Which file was described (see `fileIdentity`): rebuilt from only if unchanged. */
  identity: string;
  /**
   * The old copy's content hash (xxh3-128, as the end-to-end check's) and
   * the status it had when opened to be read (see
   * {@linkcode contentStamp}), for a copy hashed whole: while the status
   * is the same, so is the content, and a new file that is the old copy
   * itself needs no reading back. `state`: the hasher's state after the
   * whole copy (see `NativeHasher.saveState`), where it could be taken: a new
   * file that begins with the whole old copy is hashed from there on.
   */
  content?: { digest: Uint8Array; stamp: string; state?: Uint8Array };
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
  options: ResolveOptions & { hashFirst?: HashFirst } = {},
): Promise<BasisCopy | undefined> {
  let file: ReadHandle;
  // Where Deno's own open was made (no libc), which follows a link: the
  // name is checked not to be one, and the open must be that very file.
  // (Through libc, and in a tree, the open itself refuses links.)
  let named: Deno.FileInfo | undefined;
  try {
    if (typeof root === "string") {
      const path = resolveInside(root, rel, options);
      file = openLocalRead(path);
      if (!(file instanceof KernelFile)) {
        named = Deno.lstatSync(path);
        if (!named.isFile) {
          file.close();
          return undefined;
        }
      }
    } else file = openForRead(root, rel, options);
  } catch {
    return undefined; // nothing there (or not ours to read): send it whole
  }
  let info: Deno.FileInfo;
  try {
    info = openedStatus(file);
  } catch {
    file.close();
    return undefined;
  }
  if (named && fileIdentity(named) !== fileIdentity(info)) {
    file.close();
    return undefined;
  }
  if (byHash(info, options.hashFirst)) {
    return await hashOpen(file, info, options.hashFirst!.seed);
  }
  if (typeof root === "string" && offThread(info.size)) {
    const copy = await describeBeneath(root, rel, options);
    // Described through a directory handle: it must be the file opened.
    if (copy) {
      file.close();
      return copy.identity === fileIdentity(info) ? copy : undefined;
    }
  }
  return await describeOpen(file, info);
}

/**
 * Asks for an offer by content hash alone where the old copy turns out
 * to be a regular file of `size` bytes (the size the file now has), under
 * {@linkcode HASH_FIRST_MAX_BYTES}, or with `grown`, of fewer bytes (a
 * file appended to: the sender compares the start of its file); `seed`
 * goes in the offer.
 */
export interface HashFirst {
  /** The size the needed file now has. */
  size: number;
  /** The seed the offer names (the transfer's, where it has one). */
  seed: number;
  /** An old copy smaller than `size` is offered by its hash too. */
  grown?: boolean;
}

/** Whether an old copy with status `info` is offered by its hash alone. */
function byHash(info: Deno.FileInfo, hashFirst: HashFirst | undefined) {
  return hashFirst !== undefined && info.isFile &&
    (info.size === hashFirst.size ||
      (hashFirst.grown === true && info.size < hashFirst.size)) &&
    info.size >= DELTA_MIN_BYTES && info.size < HASH_FIRST_MAX_BYTES;
}

/**
 * An old copy already open as `file` (its status `info`, a regular file
 * under {@linkcode HASH_FIRST_MAX_BYTES}) offered by its content hash
 * alone; undefined when it turns out another size (it changed while
 * read). Closes it.
 */
async function hashOpen(
  file: ReadHandle,
  info: Deno.FileInfo,
  seed: number,
): Promise<BasisCopy | undefined> {
  try {
    const hasher = ownHasher ??= await contentHasher();
    const digest = hashRead(file, info.size, hasher);
    return digest && hashCopy(info, seed, digest, hasher.saveState?.());
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

/** An old copy (its status `info` as opened) offered by its content hash alone. */
function hashCopy(
  info: Deno.FileInfo,
  seed: number,
  digest: Uint8Array,
  state?: Uint8Array,
): BasisCopy {
  const offer: BasisOffer = {
    avgBits: avgBitsFor(info.size),
    seed,
    size: info.size,
    lengths: new Uint32Array(0),
    digests: new Uint8Array(0),
    whole: digest,
  };
  // With the hasher's state after it: a file that begins with the whole
  // old copy (an append) is hashed on from there, its run copied unread.
  return copyOf(info, contentStamp(info), offer, digest, state);
}

/**
 * {@linkcode describeBasis} of an old copy already open as `file` (its
 * status `info` as opened), which this closes.
 */
async function describeOpen(
  file: ReadHandle,
  info: Deno.FileInfo,
): Promise<BasisCopy | undefined> {
  try {
    if (!info.isFile || info.size < DELTA_MIN_BYTES) return undefined;
    // On a worker where the handle's descriptor can be shared (the
    // daemon's kernel tree), else here.
    const digest = await ChunkDigest.create();
    // Where the status says to the nanosecond when the copy last changed,
    // a copy under 16 MiB has its content hashed too, on the same reads
    // (a bigger one is described in stretches, or here as if it were).
    const stamp = info.size < WHOLE_MAX_BYTES ? contentStamp(info) : undefined;
    const away = offThread(info.size)
      ? await describeOffThread(
        file,
        info.size,
        digest.seed,
        stamp !== undefined,
      )
      : "here";
    let described:
      | { offer: BasisOffer; content?: Uint8Array; state?: Uint8Array }
      | undefined;
    if (away !== "here") described = away;
    else {
      const hasher = stamp === undefined
        ? undefined
        : ownHasher ??= await contentHasher();
      const offer = describeHandle(file, info.size, digest, hasher);
      described = offer && {
        offer,
        content: hasher?.digest("binary"),
        state: hasher?.saveState?.(),
      };
    }
    if (!described) return undefined;
    return copyOf(
      info,
      stamp,
      described.offer,
      described.content,
      described.state,
    );
  } finally {
    file.close();
  }
}

/**
 * The old copy (its status `info` when opened, `stamp` its
 * {@linkcode contentStamp} then) described as `offer`, with its `content`
 * hash (and its hasher's `state`) and that stamp. The hash stands for the copy only while the copy's
 * status still has that stamp: whoever uses it checks the status then (a
 * write during the reads moved the change time, which never goes back).
 */
function copyOf(
  info: Deno.FileInfo,
  stamp: string | undefined,
  offer: BasisOffer,
  content: Uint8Array | undefined,
  state?: Uint8Array,
): BasisCopy {
  const copy: BasisCopy = { offer, identity: fileIdentity(info) };
  if (content && stamp !== undefined) {
    copy.content = { digest: content, stamp, ...(state ? { state } : {}) };
  }
  return copy;
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
  content?: ContentHasher,
): BasisOffer | undefined {
  const avgBits = avgBitsFor(size);
  if (inBlocks(size)) {
    content?.init();
    // Past its size, it is changing: described as nothing.
    const part = describeBlocks(
      file,
      size,
      avgBits,
      digest,
      content && ((bytes) => content.update(bytes)),
      true,
    );
    return part && { avgBits, seed: digest.seed, size, ...part };
  }
  return describeInChunks(file, size, digest, content);
}

/**
 * {@linkcode describeHandle} in content-defined chunks whatever the size
 * (what it does under {@linkcode BLOCKS_MIN_BYTES}; a sender takes such a
 * description of any size), with the whole-copy hash under
 * {@linkcode WHOLE_MAX_BYTES}.
 *
 * @example
 * ```ts
 * import { ChunkDigest, describeInChunks } from "./basis.ts";
 * const bytes = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
 * let at = 0;
 * const file = { readSync(p: Uint8Array) { const n = Math.min(p.length, bytes.length - at); if (n === 0) return null; p.set(bytes.subarray(at, at + n)); at += n; return n; } };
 * const offer = describeInChunks(file, bytes.length, await ChunkDigest.create())!;
 * if (offer.weak !== undefined || offer.whole?.length !== 16) throw new Error("example failed");
 * ```
 */
export function describeInChunks(
  file: Pick<ReadHandle, "readSync">,
  size: number,
  digest: ChunkDigest,
  content?: ContentHasher,
): BasisOffer | undefined {
  const avgBits = avgBitsFor(size);
  const whole = size < WHOLE_MAX_BYTES
    ? digest.wholeHasher().init()
    : undefined;
  content?.init();
  // Past its size, it is changing: described as nothing.
  const part = describeRange(file, size, avgBits, digest, (bytes) => {
    content?.update(bytes);
    whole?.update(bytes);
  }, true);
  return part && {
    avgBits,
    seed: digest.seed,
    size,
    lengths: part.lengths,
    digests: part.digests,
    // One chunk's own hash says as much (and costs the wire less).
    ...(whole && part.lengths.length > 1
      ? { whole: whole.digest("binary") }
      : {}),
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
 * const ok = { avgBits: 11, seed: 1, size: 5000, lengths: Uint32Array.of(3000, 2000), digests: new Uint8Array(8) };
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
  const whole = offer.whole?.length ?? 0;
  if (offer.weak === undefined && (offer.runs?.length ?? 0) > 0) {
    return "it has run hashes, but is not in fixed blocks";
  }
  if (offer.weak !== undefined) {
    // In fixed blocks: 2^avgBits bytes each, the last one shorter.
    if (!inBlocks(size)) {
      return `it is in fixed blocks, but ${size} bytes is under ${BLOCKS_MIN_BYTES}`;
    }
    const block = 2 ** avgBits;
    const count = Math.ceil(size / block);
    if (
      lengths.length !== count || digests.length !== count * DIGEST_BYTES ||
      offer.weak.length !== count * DIGEST_BYTES || whole !== 0
    ) {
      return `it is not ${count} blocks of ${block} bytes, a hash and a sum each`;
    }
    for (let i = 0; i < count; i++) {
      const want = i < count - 1 ? block : size - (count - 1) * block;
      if (lengths[i] !== want) {
        return `its block ${i} is ${lengths[i]} bytes, not ${want}`;
      }
    }
    const runs = offer.runs?.length ?? 0;
    const want = DIGEST_BYTES * runsOf(size, avgBits);
    if (runs !== 0 && runs !== want) {
      return `it has ${runs} bytes of run hashes, not ${want} or none`;
    }
    return undefined;
  }
  if (lengths.length === 0) {
    // By its content hash alone: a small old copy, its hash and nothing else.
    if (
      whole !== WHOLE_BYTES || digests.length !== 0 ||
      size >= HASH_FIRST_MAX_BYTES
    ) {
      return `it lists no chunks, but is not a copy under ${HASH_FIRST_MAX_BYTES} bytes given by its ${WHOLE_BYTES}-byte hash`;
    }
    return undefined;
  }
  if (lengths.length > MAX_BASIS_CHUNKS) {
    return `it lists ${lengths.length} chunks (0-${MAX_BASIS_CHUNKS})`;
  }
  if (digests.length !== lengths.length * DIGEST_BYTES) {
    return `it has ${digests.length} bytes of hashes for ${lengths.length} chunks`;
  }
  if (whole !== 0 && (whole !== WHOLE_BYTES || size >= WHOLE_MAX_BYTES)) {
    return `its whole-copy hash of ${whole} bytes is not one for ${size} bytes`;
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
 * A description's chunks (or fixed blocks) by index, as its lookup tables
 * read them: each one's length and digest.
 */
export class DescribedChunks {
  /** Each chunk's length, by index. */
  protected readonly lengths: Uint32Array;
  /** Each chunk's digest, by index. */
  protected readonly words: Uint32Array;

  /** The chunks of a valid description (see {@linkcode basisProblem}). */
  constructor(offer: BasisOffer) {
    const count = offer.lengths.length;
    this.lengths = offer.lengths;
    this.words = new Uint32Array(count);
    const view = new DataView(
      offer.digests.buffer,
      offer.digests.byteOffset,
      offer.digests.length,
    );
    for (let i = 0; i < count; i++) {
      this.words[i] = view.getUint32(i * DIGEST_BYTES);
    }
  }

  /** How many chunks the description lists. */
  get count(): number {
    return this.lengths.length;
  }

  /** Chunk `index`'s length. */
  lengthOf(index: number): number {
    return this.lengths[index];
  }

  /** Whether chunk `index` has this digest. */
  matches(index: number, word: number): boolean {
    return this.words[index] === word;
  }
}

/**
 * A description as a lookup table: where in the old copy a chunk with a
 * given digest and length starts (the length is part of the key: two
 * chunks whose 32-bit digests collide are told apart by it). Open
 * addressing over typed arrays: a description of
 * {@linkcode MAX_BASIS_CHUNKS} chunks costs ~5 MiB.
 *
 * @example
 * ```ts
 * import { BasisTable, ChunkDigest } from "@blit/cli/internals";
 * const d = (await ChunkDigest.create(7)).of(new Uint8Array(3000));
 * const digests = new Uint8Array(8);
 * new DataView(digests.buffer).setUint32(4, d.word);
 * const table = new BasisTable({ avgBits: 11, seed: 7, size: 5000, lengths: Uint32Array.of(2000, 3000), digests });
 * if (table.find(d.word, 3000) !== 2000) throw new Error("example failed");
 * ```
 */
export class BasisTable extends DescribedChunks {
  readonly #mask: number;
  /** Chunk index + 1 in each slot; 0: empty. */
  readonly #slots: Int32Array;
  readonly #offsets: Float64Array;

  /** The table of a valid description (see {@linkcode basisProblem}). */
  constructor(offer: BasisOffer) {
    super(offer);
    const count = offer.lengths.length;
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.#mask = capacity - 1;
    this.#slots = new Int32Array(capacity);
    this.#offsets = new Float64Array(count);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      this.#offsets[i] = offset;
      offset += offer.lengths[i];
      const word = this.words[i];
      // The first chunk with a digest and length keeps its slot.
      for (let s = word & this.#mask;; s = (s + 1) & this.#mask) {
        const slot = this.#slots[s];
        if (slot === 0) {
          this.#slots[s] = i + 1;
          break;
        }
        if (
          this.words[slot - 1] === word &&
          this.lengths[slot - 1] === offer.lengths[i]
        ) break;
      }
    }
  }

  /** Where a chunk of `length` bytes with this digest starts, or -1. */
  find(word: number, length: number): number {
    const index = this.indexOf(word, length);
    return index < 0 ? -1 : this.#offsets[index];
  }

  /** Which chunk (its index) has `length` bytes and this digest, or -1. */
  indexOf(word: number, length: number): number {
    for (let s = word & this.#mask;; s = (s + 1) & this.#mask) {
      const slot = this.#slots[s];
      if (slot === 0) return -1;
      if (
        this.words[slot - 1] === word && this.lengths[slot - 1] === length
      ) {
        return slot - 1;
      }
    }
  }

  /** Where chunk `index` starts in the old copy. */
  offsetOf(index: number): number {
    return this.#offsets[index];
  }
}

/**
 * A description in fixed blocks (see {@linkcode describeBlocks}) as the
 * sender looks it up while it rolls a block's sum along its file: a sum
 * no block has is told by two bits of a filter (all but ~0.5% of the
 * windows), or else one probe of a table by sum
 * ({@linkcode BlockTable.hasSum}); a window's digest is computed only
 * when some block has its very sum. Blocks with the same sum and digest:
 * the first; with the same sum and other digests: the first
 * {@linkcode SAME_SUM_MAX} (a lookup costs a few probes, whatever a peer
 * described).
 */
export class BlockTable extends DescribedChunks {
  /** The blocks' size (the last may be shorter). */
  readonly block: number;
  /** See {@linkcode BlockTable.filter}. */
  readonly filterShift: number;
  /** See {@linkcode BlockTable.slots}. */
  readonly slotShift: number;
  /** Blocks a run holds (see {@linkcode BlockTable.runMatches}); 1: none. */
  readonly runBlocks: number;
  readonly #sums: DataView;
  readonly #runs: DataView | undefined;
  #filter: Int32Array | undefined;
  #slots: Int32Array | undefined;

  /**
   * The table of a valid description in fixed blocks (see
   * {@linkcode basisProblem}). Its index by sum is made the first time a
   * search needs it: a file that matches its old copy in order (appended
   * to, truncated, edited in place) never does.
   */
  constructor(offer: BasisOffer) {
    super(offer);
    this.block = 2 ** offer.avgBits;
    this.#sums = new DataView(
      offer.weak!.buffer,
      offer.weak!.byteOffset,
      offer.weak!.length,
    );
    const runs = offer.runs;
    this.#runs = runs && runs.length > 0
      ? new DataView(runs.buffer, runs.byteOffset, runs.length)
      : undefined;
    this.runBlocks = this.#runs ? runBlocksFor(offer.avgBits) : 1;
    const bits = Math.ceil(Math.log2(offer.lengths.length + 1));
    this.filterShift = 32 - Math.max(10, bits + 5);
    // Two slots a block.
    this.slotShift = 32 - Math.max(4, bits + 1);
  }

  /**
   * ~32 bits a block: bits `f & 31` of words `f >>> 5`, for
   * `f = Math.imul(sum, FILTER_MIX[k]) >>> filterShift` with k 0 and 1,
   * both set for every block's sum (read in a rolling loop directly:
   * see {@linkcode BlockTable.has}).
   */
  get filter(): Int32Array {
    if (!this.#filter) this.#index();
    return this.#filter!;
  }

  /**
   * Two words a slot, by sum: the block's index + 1 (0: empty) and its
   * sum (one cache line a probe); the first slot of a sum is
   * `Math.imul(sum, SLOT_MIX) >>> slotShift`, then the ones after it (read
   * in a rolling loop directly: see {@linkcode BlockTable.hasSum}).
   */
  get slots(): Int32Array {
    if (!this.#slots) this.#index();
    return this.#slots!;
  }

  #index(): void {
    const count = this.count;
    const filter = new Int32Array(2 ** (27 - this.filterShift));
    const slots = new Int32Array(2 * 2 ** (32 - this.slotShift));
    const mask = slots.length / 2 - 1;
    const [mix0, mix1] = FILTER_MIX;
    for (let i = 0; i < count; i++) {
      // A short last block is found in order only (a window is a block).
      if (this.lengths[i] !== this.block) continue;
      const sum = this.#sums.getInt32(i * DIGEST_BYTES);
      const word = this.words[i];
      let same = 0;
      for (let s = this.slotOf(sum);; s = (s + 1) & mask) {
        const slot = slots[2 * s];
        if (slot === 0) {
          slots[2 * s] = i + 1;
          slots[2 * s + 1] = sum;
          const f = Math.imul(sum, mix0) >>> this.filterShift;
          filter[f >>> 5] |= 1 << (f & 31);
          const g = Math.imul(sum, mix1) >>> this.filterShift;
          filter[g >>> 5] |= 1 << (g & 31);
          break;
        }
        if (slots[2 * s + 1] !== sum) continue;
        if (this.words[slot - 1] === word || ++same >= SAME_SUM_MAX) break;
      }
    }
    this.#filter = filter;
    this.#slots = slots;
  }

  /** Whether the description lists the digest of run `run`. */
  hasRun(run: number): boolean {
    return this.#runs !== undefined &&
      (run + 1) * DIGEST_BYTES <= this.#runs.byteLength;
  }

  /**
   * Whether run `run` (blocks `run * runBlocks` on, all full) has this
   * digest; false when the description lists no such run.
   */
  runMatches(run: number, word: number): boolean {
    return this.hasRun(run) &&
      this.#runs!.getUint32(run * DIGEST_BYTES) === word;
  }

  /** The first slot of `sum` (see {@linkcode BlockTable.slots}). */
  slotOf(sum: number): number {
    return Math.imul(sum, SLOT_MIX) >>> this.slotShift;
  }

  /** Whether some block may have this rolling sum (false: none has). */
  has(sum: number): boolean {
    const filter = this.filter;
    const f = Math.imul(sum | 0, FILTER_MIX[0]) >>> this.filterShift;
    const g = Math.imul(sum | 0, FILTER_MIX[1]) >>> this.filterShift;
    return (filter[f >>> 5] & (1 << (f & 31))) !== 0 &&
      (filter[g >>> 5] & (1 << (g & 31))) !== 0;
  }

  /** Whether some full-size block has this very rolling sum. */
  hasSum(sum: number): boolean {
    sum |= 0;
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    for (let s = this.slotOf(sum);; s = (s + 1) & mask) {
      if (slots[2 * s] === 0) return false;
      if (slots[2 * s + 1] === sum) return true;
    }
  }

  /** Which full-size block has this rolling sum and digest, or -1. */
  find(sum: number, word: number): number {
    sum |= 0;
    const slots = this.slots;
    const mask = slots.length / 2 - 1;
    for (let s = this.slotOf(sum);; s = (s + 1) & mask) {
      const slot = slots[2 * s];
      if (slot === 0) return -1;
      if (slots[2 * s + 1] === sum && this.words[slot - 1] === word) {
        return slot - 1;
      }
    }
  }

  /** Where block `index` starts in the old copy. */
  offsetOf(index: number): number {
    return index * this.block;
  }
}

/** Blocks of one rolling sum (and other digests) a lookup may try. */
export const SAME_SUM_MAX = 8;
/** Spreads a sum over a table's slots (the golden ratio, odd). */
const GOLDEN = 0x9e3779b1 | 0;
/** See {@linkcode BlockTable.slots}. */
export const SLOT_MIX = GOLDEN;
/** Spread a sum over the filter twice (see {@linkcode BlockTable.filter}). */
export const FILTER_MIX: readonly [number, number] = [
  GOLDEN,
  0x85ebca77 | 0,
];

/** Old copies gathered before a batch goes to a worker. */
const BATCH_FILES = 32;
/** Or once they hold this many bytes. */
const BATCH_BYTES = 4 << 20;
/**
 * Descriptions one transfer asks for before it starts the workers itself
 * (starting them blocks this thread ~30 ms each; a daemon keeps them).
 */
const WARM_AFTER = 256;
/**
 * Old copies held open by every batcher of the process together (each
 * until described): past this, one more is described at once, here, so
 * many transfers at a time never run a daemon out of descriptors.
 */
const GATHERED_OPEN_MAX = 256;
let gatheredOpen = 0;

interface Gathered {
  file: ReadHandle;
  /** Closes it (once) and counts it out of {@linkcode GATHERED_OPEN_MAX}. */
  release: () => void;
  fd: number;
  info: Deno.FileInfo;
  stamp: string | undefined;
  /** Offered by its content hash alone (read and hashed, not cut). */
  byHash: boolean;
  resolve: (copy: BasisCopy | undefined) => void;
}

/**
 * Describes one transfer's old copies a batch at a time on the describing
 * workers, where its tree's descriptors can be shared with them (a
 * kernel tree) and they are running (or the transfer asks for enough to
 * start them): the thread that asks goes on deciding (and writing) while
 * they read and chunk. Each old copy is opened here, through the
 * contained file layer (never a link), and kept open until described.
 * One seed for the transfer's descriptions. Elsewhere, or for a big old
 * copy, as {@linkcode describeBasis}.
 *
 * @example
 * ```ts
 * import { BasisBatcher } from "./basis.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeFileSync(`${root}/f`, new Uint8Array(5000).map((_, i) => i * 7));
 * const batcher = new BasisBatcher(root);
 * const copy = batcher.describe("f");
 * batcher.flush();
 * if ((await copy)?.offer.size !== 5000) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class BasisBatcher {
  readonly #root: TreeRoot;
  readonly #seed = crypto.getRandomValues(new Uint32Array(1))[0];
  /**
   * A local directory's directories already checked on the way to an old
   * copy (each once a transfer, as the need list checks them; the open
   * itself never follows a link at the last name).
   */
  readonly #verified = new Set<string>();
  #digest: ChunkDigest | undefined;
  #group: Gathered[] = [];
  #groupBytes = 0;
  #asked = 0;

  /** A batcher for old copies under `root`. */
  constructor(root: TreeRoot) {
    this.#root = root;
  }

  /** Old copies every batcher of the process holds open right now. */
  static get held(): number {
    return gatheredOpen;
  }

  /**
   * The description of `rel`'s old copy, as {@linkcode describeBasis}
   * (never rejects); with `size` (the file's now), an old copy of that
   * size, or with `grown` of fewer bytes, is offered by its hash alone.
   * Gathered into a batch: {@linkcode BasisBatcher.flush} sends a batch
   * before it is full (when its answer is awaited).
   */
  describe(
    rel: string,
    size?: number,
    grown = false,
  ): Promise<BasisCopy | undefined> {
    const root = this.#root;
    // With the size the file now has: an old copy of that size (or,
    // `grown`, a smaller one) is offered by its hash alone (see
    // HASH_FIRST_MAX_BYTES).
    const hashFirst = size === undefined
      ? undefined
      : { size, seed: this.#seed, grown };
    // A local directory, or workers not worth starting: one at a time.
    if (
      typeof root === "string" || gatheredOpen >= GATHERED_OPEN_MAX ||
      (++this.#asked < WARM_AFTER && !describersWarm())
    ) {
      return describeBasis(root, rel, { verified: this.#verified, hashFirst });
    }
    let file: ReadHandle;
    try {
      file = openForRead(root, rel);
    } catch {
      return Promise.resolve(undefined); // nothing there: send it whole
    }
    let info: Deno.FileInfo;
    try {
      info = openedStatus(file);
    } catch {
      file.close();
      return Promise.resolve(undefined);
    }
    const hashed = byHash(info, hashFirst);
    const fd = descriptorOf(file);
    if (fd === undefined && hashed) return hashOpen(file, info, this.#seed);
    // Nothing to describe, no descriptor to share, or a big copy (in
    // stretches, on the workers): as one at a time. (A copy offered by its
    // hash, of any size, is read in a batch.)
    if (
      !info.isFile || info.size < DELTA_MIN_BYTES || fd === undefined ||
      (info.size >= OFF_THREAD_MIN_BYTES && !hashed)
    ) return describeOpen(file, info);
    gatheredOpen++;
    let open = true;
    const release = () => {
      if (!open) return;
      open = false;
      file.close();
      gatheredOpen--;
    };
    return new Promise((resolve) => {
      this.#group.push({
        release,
        fd,
        info,
        stamp: contentStamp(info),
        byHash: hashed,
        resolve,
        file,
      });
      this.#groupBytes += info.size;
      if (
        this.#group.length >= BATCH_FILES || this.#groupBytes >= BATCH_BYTES
      ) this.flush();
    });
  }

  /** Sends the old copies gathered so far to be described. */
  flush(): void {
    if (this.#group.length === 0) return;
    const group = this.#group;
    this.#group = [];
    this.#groupBytes = 0;
    this.#send(group).catch(() => {
      // Whatever went wrong, each old copy is closed and answered.
      for (const one of group) {
        one.release();
        one.resolve(undefined);
      }
    });
  }

  /** The transfer ends: old copies gathered and not sent are let go. */
  abandon(): void {
    for (const one of this.#group) {
      one.release();
      one.resolve(undefined);
    }
    this.#group = [];
    this.#groupBytes = 0;
  }

  async #send(group: Gathered[]): Promise<void> {
    const seed = this.#seed;
    const got = await describeFilesOffThread(
      group.map(({ fd, info, stamp, byHash }) => ({
        fd,
        size: info.size,
        content: stamp !== undefined,
        byHash,
      })),
      seed,
    );
    for (let i = 0; i < group.length; i++) {
      const { file, info, stamp, resolve, release, byHash } = group[i];
      let copy: BasisCopy | undefined;
      try {
        if (byHash) {
          const here = got === "here";
          const digest = here
            ? hashRead(file, info.size, ownHasher ??= await contentHasher())
            : got[i].byHash;
          const state = here ? ownHasher?.saveState?.() : got[i].state;
          if (digest) copy = hashCopy(info, seed, digest, state);
        } else if (got === "here") {
          // No workers after all: described here, one after another.
          const digest = this.#digest ??= await ChunkDigest.create(seed);
          const hasher = stamp === undefined
            ? undefined
            : ownHasher ??= await contentHasher();
          const offer = describeHandle(file, info.size, digest, hasher);
          if (offer) {
            copy = copyOf(
              info,
              stamp,
              offer,
              hasher?.digest("binary"),
              hasher?.saveState?.(),
            );
          }
        } else {
          const { part, whole, content, state } = got[i];
          if (part) {
            const offer: BasisOffer = {
              avgBits: avgBitsFor(info.size),
              seed,
              size: info.size,
              ...part,
              ...(whole ? { whole } : {}),
            };
            copy = copyOf(info, stamp, offer, content, state);
          }
        }
      } catch {
        copy = undefined;
      } finally {
        release();
        resolve(copy);
      }
    }
  }
}
