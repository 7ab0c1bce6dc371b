// Resuming a big file an interrupted transfer left half-written: the
// receiver hashes the blocks of its partial copy, the sender keeps the
// blocks that match its own file and sends only the rest.
import type { FileEntry } from "./entry.ts";
import { findPartialCopy } from "./partial_copies.ts";
import { openForRead } from "./contained_root.ts";
import type { TreeRoot } from "./tree.ts";
import { treeOf } from "./path_tree.ts";
import { fileIdentity, type ReadHandle } from "./tree.ts";
import { hashOnWorker } from "./hash_pool.ts";
import type { ResolveOptions } from "./safe_path.ts";
import type { ContentHasher } from "./hash.ts";
import { sameHash } from "./hash.ts";

/** Bytes of one block hash (xxh3-128). */
const HASH = 16;
/** Block size of a resume offer for files up to 256 GiB. */
export const RESUME_BLOCK_BYTES = 4 * 1024 * 1024;
/** Most blocks one offer describes (1 MiB of hashes); bigger files get bigger blocks. */
export const MAX_RESUME_BLOCKS = 65_536;
/**
 * Most separate runs of blocks a sender resends for one file: a partial
 * copy more fragmented than that is kept only up to its first gap.
 */
export const MAX_RESUME_GAPS = 4096;

/** What a receiver offers for a file it holds a partial copy of. */
export interface ResumeOffer {
  /** Bytes per block (the file's last block may be shorter). */
  blockSize: number;
  /** xxh3-128 of each block from the start, 16 bytes each. */
  hashes: Uint8Array;
}

/** An offer and the partial copy it describes (kept by the receiver). */
export interface PartialCopy {
  /** What goes to the sender. */
  offer: ResumeOffer;
  /** Which file was hashed (see `fileIdentity`): resumed only if unchanged. */
  identity: string;
  /**
   * Asked for with `compareOld`: the share (0-1) of windows sampled from
   * the last quarter of the kept part that the old copy at the file's own
   * name holds at the same offsets (see {@linkcode OLD_COPY_SAMPLES}):
   * how the bytes still to come likely compare; absent where there is no
   * old copy to read.
   */
  sameAsOld?: number;
}

/**
 * Windows of the kept part of a partial copy compared with the old copy
 * (`PartialCopy.sameAsOld`), at most, of {@linkcode OLD_COPY_WINDOW}
 * bytes each, evenly spread over its last quarter: ~4 MiB read at most,
 * however big the file.
 */
export const OLD_COPY_SAMPLES = 32;
/** Bytes of one window compared (see {@linkcode OLD_COPY_SAMPLES}). */
export const OLD_COPY_WINDOW = 64 * 1024;

/**
 * Whether a file with a partial copy had better go as a delta against its
 * old copy than resume, given the share of the kept part's last quarter
 * that is the old copy's own bytes (`PartialCopy.sameAsOld`): from three
 * quarters, the bytes still to come are likely much the old copy's too (an
 * append, an edit in place), which a delta sends as copies and resuming
 * sends whole; a file being written anew resumes.
 *
 * @example
 * ```ts
 * import { deltaOverResume } from "./resume.ts";
 * if (!deltaOverResume(1) || deltaOverResume(0.5)) throw new Error("example failed");
 * ```
 */
export function deltaOverResume(sameAsOld: number): boolean {
  return sameAsOld >= 0.75;
}

/**
 * Bytes of the file a resume offer keeps (its blocks, up to the file's
 * `size`).
 *
 * @example
 * ```ts
 * import { keptBytes } from "./resume.ts";
 * if (keptBytes({ blockSize: 4, hashes: new Uint8Array(32) }, 7) !== 7) throw new Error("example failed");
 * ```
 */
export function keptBytes(offer: ResumeOffer, size: number): number {
  return Math.min((offer.hashes.length / HASH) * offer.blockSize, size);
}

/**
 * The share of windows of the last quarter of the first `kept` bytes of
 * `partial` that `old` holds at the same offsets (0 where none could be
 * read).
 */
function sameShare(
  partial: ReadHandle,
  old: ReadHandle,
  kept: number,
): number {
  const from = Math.floor(kept * 3 / 4);
  const span = kept - from;
  const count = Math.min(OLD_COPY_SAMPLES, Math.floor(span / OLD_COPY_WINDOW));
  if (count === 0) return 0;
  const mine = new Uint8Array(OLD_COPY_WINDOW);
  const theirs = new Uint8Array(OLD_COPY_WINDOW);
  let same = 0;
  for (let i = 0; i < count; i++) {
    const at = from + Math.floor(i * (span - OLD_COPY_WINDOW) / count);
    partial.seekSync(at, Deno.SeekMode.Start);
    old.seekSync(at, Deno.SeekMode.Start);
    if (!readInto(partial, mine) || !readInto(old, theirs)) continue;
    if (sameHash(mine, theirs)) same++;
  }
  return same / count;
}

/** Which blocks of a file the receiver keeps (the sender's answer). */
export interface KeptBlocks {
  /** Bytes per block, as offered. */
  blockSize: number;
  /** Blocks offered (bits past it are zero). */
  blocks: number;
  /** Bit `i` (byte `i >> 3`, bit `i & 7`) set: block `i` is kept. */
  bitmap: Uint8Array;
}

/**
 * The block size for a file of `size` bytes: 4 MiB, or whole MiB big
 * enough that the file has at most {@linkcode MAX_RESUME_BLOCKS}.
 *
 * @example
 * ```ts
 * import { resumeBlockSize } from "@blit/cli/internals";
 * if (resumeBlockSize(1 << 30) !== 4 << 20) throw new Error("example failed");
 * ```
 */
export function resumeBlockSize(size: number): number {
  const mib = 1024 * 1024;
  const least = Math.ceil(size / MAX_RESUME_BLOCKS / mib) * mib;
  return Math.max(RESUME_BLOCK_BYTES, least);
}

/**
 * Whether `offer` is the one a receiver makes for a file of `size`
 * bytes: the block size {@linkcode resumeBlockSize} gives (never one the
 * peer picks), whole hashes, no more blocks than the file has. A sender
 * ignores any other offer (and sends the whole file), so what an offer
 * makes it hash is bounded by its own file's size.
 *
 * @example
 * ```ts
 * import { validOffer } from "@blit/cli/internals";
 * if (!validOffer({ blockSize: 4 << 20, hashes: new Uint8Array(32) }, 5 << 20)) throw new Error("example failed");
 * if (validOffer({ blockSize: 4 << 20, hashes: new Uint8Array(48) }, 5 << 20)) throw new Error("example failed");
 * ```
 */
export function validOffer(offer: ResumeOffer, size: number): boolean {
  const { blockSize, hashes } = offer;
  if (blockSize !== resumeBlockSize(size)) return false;
  if (hashes.length === 0 || hashes.length % HASH !== 0) return false;
  const blocks = hashes.length / HASH;
  return blocks <= MAX_RESUME_BLOCKS &&
    blocks <= Math.ceil(size / blockSize);
}

/** The byte range of block `i` of a file of `size` bytes. */
function blockRange(
  i: number,
  blockSize: number,
  size: number,
): { offset: number; length: number } {
  const offset = i * blockSize;
  return { offset, length: Math.min(blockSize, size - offset) };
}

/** Reads `view.length` bytes (sync); false at an early end of file. */
function readInto(file: ReadHandle, view: Uint8Array): boolean {
  let filled = 0;
  while (filled < view.length) {
    const n = file.readSync(view.subarray(filled));
    if (n === null || n === 0) return false;
    filled += n;
  }
  return true;
}

/** The hash of the next `length` bytes of `file`; undefined at an early end. */
function hashNext(
  file: ReadHandle,
  length: number,
  hasher: ContentHasher,
  scratch: Uint8Array,
): Uint8Array | undefined {
  hasher.init();
  for (let left = length; left > 0;) {
    const view = scratch.subarray(0, Math.min(left, scratch.length));
    if (!readInto(file, view)) return undefined;
    hasher.update(view);
    left -= view.length;
  }
  return hasher.digest("binary");
}

/**
 * The resume offer for `entry` (a needed file): the hashes of the whole
 * blocks of the partial copy an interrupted transfer left under `root`
 * (the last, short block only when the copy reaches the end); undefined
 * when there is no usable partial copy. Reads the copy once.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { findResume } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeFileSync(`${root}/.big.blit-partial.tmp`, new Uint8Array(5 << 20));
 * const e = { path: "big", kind: "file" as const, size: 64 << 20, mtimeMs: 0, mode: 0o644 };
 * const found = await findResume(root, e, await contentHasher());
 * if (found?.offer.hashes.length !== 16) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function findResume(
  root: TreeRoot,
  entry: FileEntry,
  hasher: ContentHasher,
  options: { compareOld?: boolean } = {},
): Promise<PartialCopy | undefined> {
  const found = findPartialCopy(root, entry.path);
  if (!found) return undefined;
  const blockSize = resumeBlockSize(entry.size);
  // Only bytes the disk really holds count: a sparse copy (one a local
  // user made, say) can't make the receiver hash a hole of any size.
  const allocated = (found.info.blocks ?? Infinity) * 512;
  const have = Math.min(found.info.size, entry.size, allocated);
  let blocks = Math.floor(have / blockSize);
  if (have === entry.size && have % blockSize !== 0) blocks++;
  if (blocks === 0) return undefined;
  let file: ReadHandle;
  try {
    file = treeOf(root).openRead(found.rel);
  } catch {
    return undefined;
  }
  try {
    const identity = fileIdentity(found.info);
    if (fileIdentity(file.statSync()) !== identity) return undefined;
    const digests = await blockDigests(
      file,
      blockSize,
      entry.size,
      blocks,
      hasher,
    );
    // Shrank since the lstat: offer what was read.
    if (digests.length === 0) return undefined;
    const hashes = new Uint8Array(digests.length * HASH);
    digests.forEach((digest, i) => hashes.set(digest, i * HASH));
    const copy: PartialCopy = { offer: { blockSize, hashes }, identity };
    if (options.compareOld) {
      const kept = keptBytes(copy.offer, entry.size);
      let old: ReadHandle | undefined;
      try {
        old = openForRead(root, entry.path);
        if (old.statSync().isFile) copy.sameAsOld = sameShare(file, old, kept);
      } catch {
        // No old copy to compare with (or not one to read).
      } finally {
        old?.close();
      }
    }
    return copy;
  } finally {
    file.close();
  }
}

/**
 * The digests of the first `blocks` blocks of `file`, fewer when it ends
 * first. A handle with a descriptor is hashed on a worker (see
 * hash_pool.ts), so the thread that answers clients never waits on it.
 */
async function blockDigests(
  file: ReadHandle,
  blockSize: number,
  size: number,
  blocks: number,
  hasher: ContentHasher,
): Promise<Uint8Array[]> {
  const ranges = [];
  for (let i = 0; i < blocks; i++) ranges.push(blockRange(i, blockSize, size));
  const onWorker = await hashOnWorker(file, ranges);
  if (onWorker) return onWorker;
  const digests: Uint8Array[] = [];
  const scratch = new Uint8Array(1 << 20);
  for (let i = 0; i < blocks; i++) {
    const { length } = blockRange(i, blockSize, size);
    const digest = hashNext(file, length, hasher, scratch);
    if (!digest) break;
    digests.push(digest);
  }
  return digests;
}

/**
 * The sender's answer to `offer` for its file `entry` under `root`: the
 * blocks whose hash matches its own bytes. When the blocks to resend would
 * form more than {@linkcode MAX_RESUME_GAPS} runs, only the first run of
 * matching blocks is kept. Reads the offered part of the file once.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { keptBlocks } from "@blit/cli/internals";
 * import { contentHasher, hashBytes } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const bytes = new Uint8Array(6 << 20).fill(1);
 * Deno.writeFileSync(`${root}/big`, bytes);
 * const e = { path: "big", kind: "file" as const, size: bytes.length, mtimeMs: 0, mode: 0o644 };
 * const hashes = new Uint8Array(32);
 * hashes.set(await hashBytes(bytes.subarray(0, 4 << 20)));
 * const kept = await keptBlocks(root, e, { blockSize: 4 << 20, hashes }, await contentHasher());
 * if (kept.bitmap[0] !== 1) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function keptBlocks(
  root: TreeRoot,
  entry: FileEntry,
  offer: ResumeOffer,
  hasher: ContentHasher,
  options: ResolveOptions = {},
): Promise<KeptBlocks> {
  const { blockSize } = offer;
  const blocks = offer.hashes.length / HASH;
  const bitmap = new Uint8Array(Math.ceil(blocks / 8));
  const file = openForRead(root, entry.path, options);
  try {
    const digests = await blockDigests(
      file,
      blockSize,
      entry.size,
      blocks,
      hasher,
    );
    // A file that shrank: the rest is resent (and fails).
    for (let i = 0; i < digests.length; i++) {
      if (
        sameHash(digests[i], offer.hashes.subarray(i * HASH, (i + 1) * HASH))
      ) {
        bitmap[i >> 3] |= 1 << (i & 7);
      }
    }
  } finally {
    file.close();
  }
  const kept = { blockSize, blocks, bitmap };
  if (blockRuns(kept, entry.size, false).length <= MAX_RESUME_GAPS) {
    return kept;
  }
  // Too fragmented: keep the first run of matching blocks only.
  let i = 0;
  while (i < blocks && bitmap[i >> 3] & (1 << (i & 7))) i++;
  for (; i < blocks; i++) bitmap[i >> 3] &= ~(1 << (i & 7));
  return kept;
}

/**
 * The runs of kept blocks (`kept` true) or of the bytes still to send
 * (false; blocks past the offer count as not kept) as byte ranges of a
 * file of `size` bytes.
 *
 * @example
 * ```ts
 * import { blockRuns } from "@blit/cli/internals";
 * const kept = { blockSize: 4, blocks: 3, bitmap: new Uint8Array([0b101]) };
 * const send = blockRuns(kept, 14, false);
 * if (JSON.stringify(send) !== '[{"offset":4,"length":4},{"offset":12,"length":2}]') throw new Error("example failed");
 * ```
 */
export function blockRuns(
  kept: KeptBlocks,
  size: number,
  wanted: boolean,
): { offset: number; length: number }[] {
  const { blockSize, blocks, bitmap } = kept;
  const total = Math.ceil(size / blockSize);
  const runs: { offset: number; length: number }[] = [];
  let start = -1;
  for (let i = 0; i <= total; i++) {
    const isKept = i < blocks && (bitmap[i >> 3] & (1 << (i & 7))) !== 0;
    const inRun = i < total && isKept === wanted;
    if (inRun && start < 0) start = i;
    if (!inRun && start >= 0) {
      const offset = start * blockSize;
      runs.push({ offset, length: Math.min(i * blockSize, size) - offset });
      start = -1;
    }
  }
  return runs;
}
