// The sender's half of a delta transfer: its new file cut into chunks the
// way the receiver cut its old copy, each chunk looked up in the
// receiver's description; what matches leaves as a copy instruction, the
// rest as literal bytes.
import { type ContentHasher, sameHash } from "../fs/hash.ts";
import type { ReadHandle } from "../fs/tree.ts";
import {
  type BasisOffer,
  BasisTable,
  BlockTable,
  type ChunkDigest,
} from "./basis.ts";
import { blockSum, Chunker, rollBlocks, rollSum } from "./chunker.ts";

/**
 * One instruction for rebuilding the new file, in order: copy `length`
 * bytes of the old copy from `offset`, or append literal `bytes` (a view,
 * valid until the next instruction is asked for).
 */
export type DeltaOp =
  | { op: "copy"; offset: number; length: number }
  | { op: "literal"; bytes: Uint8Array };

/** The new file ended before its declared size. */
export class ShrankError extends Error {
  /** Says how short. */
  constructor(message: string) {
    super(message);
    this.name = "ShrankError";
  }
}

/** Literal bytes leave in pieces of at most this many (fewer, bigger frames). */
const LITERAL_MAX = 1 << 20;
/**
 * A copy instruction covers at most this many bytes: a long unchanged run
 * leaves in steps, so the receiver copies while the sender reads on
 * (carriers send a copy this big at once: see `COPY_SOON`).
 */
export const COPY_MAX = 8 << 20;

/**
 * The instructions that rebuild `file` (`size` bytes, read from its
 * current position) from the old copy `offer` describes; `whole` is
 * started afresh and hashes every byte of the new file on the way (for
 * the end-to-end check).
 * Adjacent copies are merged, literal runs gathered; memory is the
 * description's table and a window of a few chunks.
 *
 * @example
 * ```ts
 * import { deltaOps } from "@blit/cli/internals";
 * import { ChunkDigest, describeBasis } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const old = new Uint8Array(200_000).map((_, i) => (i * 2654435761) >>> 24);
 * Deno.writeFileSync(`${root}/old`, old);
 * const copy = (await describeBasis(root, "old"))!;
 * const next = old.slice();
 * next[100_000] ^= 1;
 * Deno.writeFileSync(`${root}/new`, next);
 * using file = Deno.openSync(`${root}/new`);
 * let literal = 0;
 * for (const op of deltaOps(file, next.length, copy.offer, await ChunkDigest.create(copy.offer.seed), await contentHasher())) {
 *   if (op.op === "literal") literal += op.bytes.length;
 * }
 * if (literal === 0 || literal > 20_000) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {ShrankError} when the file has fewer than `size` bytes left.
 */
export function* deltaOps(
  file: ReadHandle,
  size: number,
  offer: BasisOffer,
  digest: ChunkDigest,
  whole: ContentHasher,
  window?: Uint8Array,
): Generator<DeltaOp> {
  whole.init();
  if (digest.seed !== offer.seed) {
    throw new RangeError(
      `the chunk digest is seeded ${digest.seed}, the description ${offer.seed}`,
    );
  }
  if (offer.weak) {
    yield* blockOps(file, size, offer, digest, whole, window);
    return;
  }
  const chunker = new Chunker(offer.avgBits);
  // Room for a whole chunk plus a read of at least as much again.
  const least = Math.max(1 << 20, 2 * chunker.maxChunk);
  const buffer = window && window.length >= least
    ? window
    : new Uint8Array(least);
  let left = size;
  let filled = 0;
  // An old copy in chunks under 16 MiB may come with its whole hash (blit's
  // receivers send one with each copy under 1 MiB cut in more than one
  // chunk): a file of its size is hashed first, a window at a time, and
  // when it is that very content it goes as copy instructions with no chunk
  // cut or looked up (the common case: only the mtime changed). When it
  // differs, a file that fit the window is matched from there; a bigger one
  // is read again from the start (one extra read, against a hash per chunk
  // saved when same).
  if (offer.whole && size === offer.size) {
    const start = size <= buffer.length
      ? undefined
      : file.seekSync(0, Deno.SeekMode.Current);
    const salted = digest.wholeHasher().init();
    for (let rest = size; rest > 0;) {
      const piece = buffer.subarray(0, Math.min(buffer.length, rest));
      readExactly(file, piece, size);
      salted.update(piece);
      whole.update(piece);
      rest -= piece.length;
    }
    if (sameHash(salted.digest("binary"), offer.whole)) {
      for (let at = 0; at < size; at += COPY_MAX) {
        yield { op: "copy", offset: at, length: Math.min(COPY_MAX, size - at) };
      }
      return;
    }
    if (start === undefined) {
      filled = size;
      left = 0;
    } else {
      file.seekSync(start, Deno.SeekMode.Start);
      whole.init();
    }
  }
  const table = new BasisTable(offer);
  /** Where the current chunk starts in the buffer. */
  let chunk = 0;
  /** How far the chunker has looked (gear mode). */
  let scanned = 0;
  /** The literal run not yet handed out: [literalFrom, chunk). */
  let literalFrom = 0;
  /**
   * The old copy's chunk expected next (after a match, the one that
   * followed it there), or -1: while the new file goes on as the old one
   * did, each of its chunks is checked by length and digest alone, with
   * no cutting; the first that differs sends the chunker back to work
   * from where it starts.
   */
  let next = table.count > 0 ? 0 : -1;
  const copies = new Copies();
  const literal = function* (): Generator<DeltaOp> {
    for (let at = literalFrom; at < chunk; at += LITERAL_MAX) {
      const bytes = buffer.subarray(at, Math.min(chunk, at + LITERAL_MAX));
      yield { op: "literal", bytes };
    }
    literalFrom = chunk;
  };
  /** Chunks `first` to `index` of the old copy, now [chunk, end). */
  const copied = function* (
    index: number,
    end: number,
    first = index,
  ): Generator<DeltaOp> {
    yield* literal();
    yield* copies.add(table.offsetOf(first), end - chunk);
    literalFrom = chunk = scanned = end;
    next = index + 1 < table.count ? index + 1 : -1;
    chunker.reset();
  };
  /** Reads on: the decided bytes leave, the open ones move to the front. */
  const refill = function* (): Generator<DeltaOp> {
    yield* literal();
    buffer.copyWithin(0, chunk, filled);
    filled -= chunk;
    scanned = Math.max(0, scanned - chunk);
    chunk = literalFrom = 0;
    const want = Math.min(buffer.length - filled, left);
    readExactly(file, buffer.subarray(filled, filled + want), size);
    whole.update(buffer.subarray(filled, filled + want));
    filled += want;
    left -= want;
  };
  /** Gear mode from the current chunk on. */
  const cutFromHere = () => {
    next = -1;
    chunker.reset();
    scanned = chunk;
  };
  for (;;) {
    if (next >= 0) {
      // The chunks expected next, as many as the buffer holds in a row
      // that match: one digest each, one copy instruction for them all.
      let i = next;
      let at = chunk;
      while (i < table.count) {
        const end = at + table.lengthOf(i);
        if (end > filled) break;
        digest.of(buffer.subarray(at, end));
        if (!table.matches(i, digest.word)) break;
        at = end;
        i++;
      }
      if (i > next) yield* copied(i - 1, at, next);
      else if (chunk + table.lengthOf(next) <= filled) cutFromHere(); // differs
      else if (left > 0) yield* refill(); // not all read yet
      else cutFromHere(); // the file ends first
      continue;
    }
    if (scanned === filled) {
      if (left === 0) break;
      yield* refill();
      continue;
    }
    const end = chunker.scan(buffer.subarray(0, filled), scanned);
    if (end < 0) {
      scanned = filled;
      continue;
    }
    yield* take(end);
  }
  if (chunk < filled) yield* take(filled);
  yield* literal();
  yield* copies.flush();

  /** The chunk [chunk, end) the chunker cut: a copy if the old copy has it. */
  function* take(end: number): Generator<DeltaOp> {
    const bytes = buffer.subarray(chunk, end);
    digest.of(bytes);
    const index = table.indexOf(digest.word, bytes.length);
    if (index >= 0) yield* copied(index, end);
    else {
      yield* copies.flush();
      chunk = scanned = end;
    }
  }
}

/**
 * Strong digests a rolling search may find wrong (a window whose sum some
 * block has, and not its digest) before it gives up on the file: so many,
 * plus one a KiB rolled. Honest data rarely has any; a description made to
 * collide (a hostile receiver's) costs the sender this many digests, then
 * the rest of the file goes as it is (its bytes are the receiver's loss).
 */
const WRONG_DIGESTS = 1024;

/**
 * {@linkcode deltaOps} against a description in fixed blocks, as rsync
 * matches: each block expected next (after a match, the one that followed
 * it in the old copy) is checked where it would be, then the one after it
 * (a block overwritten in place); where neither is there, a block's
 * rolling sum slides along the file a byte at a time, and a window whose
 * sum and digest are some block's is that block, wherever it was.
 */
function* blockOps(
  file: ReadHandle,
  size: number,
  offer: BasisOffer,
  digest: ChunkDigest,
  whole: ContentHasher,
  window?: Uint8Array,
): Generator<DeltaOp> {
  const table = new BlockTable(offer);
  const block = table.block;
  // Room for a few blocks and a read: a window never waits on a read.
  const least = Math.max(1 << 20, 4 * block);
  const buffer = window && window.length >= least
    ? window
    : new Uint8Array(least);
  let filled = 0;
  let left = size;
  /** Where the bytes not yet matched start. */
  let pos = 0;
  /** The literal run not yet handed out: [literalFrom, pos). */
  let literalFrom = 0;
  /** The old copy's block expected at `pos`, or -1 (search by sum). */
  let next = table.count > 0 ? 0 : -1;
  const copies = new Copies();
  const seek = { at: 0, wrong: 0, limit: 0 };
  let rolled = 0;
  let searching = true;
  // Runs of blocks with a digest each (see runBlocksFor): checked whole
  // where the file goes on as the old copy did.
  const per = table.runBlocks;
  const runBytes = per * block;
  /** A run begins next and the window holds less than it: read on first. */
  let wantRefill = false;
  /** The copy waiting to grow, then the literal run up to `end`. */
  const literal = function* (end: number): Generator<DeltaOp> {
    if (literalFrom >= end) return;
    yield* copies.flush();
    for (let at = literalFrom; at < end; at += LITERAL_MAX) {
      yield {
        op: "literal",
        bytes: buffer.subarray(at, Math.min(end, at + LITERAL_MAX)),
      };
    }
    literalFrom = end;
  };
  /** Blocks `index` to `last` of the old copy are [at, at + length) here. */
  const copied = function* (
    index: number,
    at: number,
    length: number,
    last = index,
  ): Generator<DeltaOp> {
    yield* literal(at);
    yield* copies.add(table.offsetOf(index), length);
    pos = literalFrom = at + length;
    next = last + 1 < table.count ? last + 1 : -1;
  };
  /** Reads on: what is decided leaves, the rest moves to the front. */
  const refill = function* (): Generator<DeltaOp> {
    yield* literal(pos);
    buffer.copyWithin(0, pos, filled);
    filled -= pos;
    pos = literalFrom = 0;
    const want = Math.min(buffer.length - filled, left);
    readExactly(file, buffer.subarray(filled, filled + want), size);
    whole.update(buffer.subarray(filled, filled + want));
    filled += want;
    left -= want;
  };
  /** Whether [at, at + length) is block `index`. */
  const holds = (index: number, at: number): boolean => {
    const length = table.lengthOf(index);
    return at + length <= filled &&
      table.matches(index, digest.of(buffer.subarray(at, at + length)).word);
  };
  for (;;) {
    if ((wantRefill || filled - pos < block) && left > 0) {
      wantRefill = false;
      yield* refill();
      continue;
    }
    wantRefill = false;
    if (pos >= filled) break;
    if (next >= 0) {
      // The blocks expected next, as many as the buffer holds in a row
      // that are there: a digest a whole run (one a block of a run that
      // differs, and of blocks outside whole runs), one copy for them all.
      let i = next;
      let at = pos;
      while (i < table.count) {
        if (per > 1 && i % per === 0 && table.hasRun(i / per)) {
          if (at + runBytes > filled) {
            // Read on first, unless the file has nothing more.
            if (left > 0) {
              wantRefill = true;
              break;
            }
          } else if (
            table.runMatches(
              i / per,
              digest.of(buffer.subarray(at, at + runBytes)).word,
            )
          ) {
            at += runBytes;
            i += per;
            continue;
          }
        }
        if (!holds(i, at)) break;
        at += table.lengthOf(i++);
      }
      if (i > next) {
        yield* copied(next, pos, at - pos, i - 1);
        continue;
      }
      if (wantRefill) continue;
      // Overwritten in place: the block after it is where it was.
      const after = pos + table.lengthOf(next);
      if (next + 1 < table.count && holds(next + 1, after)) {
        yield* copied(next + 1, after, table.lengthOf(next + 1));
        continue;
      }
      next = -1;
    }
    if (filled - pos < block || !searching) {
      // Less than a block left (the old copy's short last block, maybe),
      // or searching given up on: the rest is literal but for blocks
      // found in order.
      const last = table.count - 1;
      if (
        filled - pos === table.lengthOf(last) && holds(last, pos)
      ) {
        yield* copied(last, pos, filled - pos);
        continue;
      }
      if (!searching && filled - pos >= block) {
        pos += block;
        continue;
      }
      pos = filled;
      break;
    }
    // A block's rolling sum along the file from here, to the buffer's end.
    seek.limit = WRONG_DIGESTS + (rolled + filled - pos) / 1024;
    const found = search(buffer, pos, filled, table, digest, seek);
    const p = seek.at;
    if (seek.wrong > seek.limit) searching = false;
    rolled += p - pos;
    if (found >= 0) {
      yield* copied(found, p, block);
      continue;
    }
    if (!searching) continue;
    // No block in this buffer: on after what was read (the window stays).
    pos = p;
    if (left > 0) {
      yield* refill();
      continue;
    }
    // The end of the file: its last bytes, shorter than a block.
    pos = p + 1;
  }
  yield* literal(filled);
  yield* copies.flush();
}

/**
 * The first window of a block's size in `buffer[from, end)` that is a
 * block of `table` (sum, then digest): its index, with `seek.at` where
 * it starts; or -1, with `seek.at` the last window's start (or where it
 * stopped: `seek.wrong`, the digests computed in vain, past
 * `seek.limit`).
 */
function search(
  buffer: Uint8Array,
  from: number,
  end: number,
  table: BlockTable,
  digest: ChunkDigest,
  seek: { at: number; wrong: number; limit: number },
): number {
  const block = table.block;
  const last = end - block;
  // Signed 32-bit words throughout (a sum above 2^31 kept unsigned
  // would be a float in the loop).
  const state = Int32Array.of(blockSum(buffer.subarray(from, from + block)));
  for (let p = from;;) {
    const at = rollBlocks(buffer, p, end, state, table);
    if (at < 0) {
      seek.at = -1 - at;
      return -1;
    }
    // A block has this window's sum: its digest says which, if any.
    const found = table.find(
      state[0],
      digest.of(buffer.subarray(at, at + block)).word,
    );
    if (found >= 0) {
      seek.at = at;
      return found;
    }
    if (++seek.wrong > seek.limit || at >= last) {
      seek.at = at;
      return -1;
    }
    state[0] = rollSum(state[0], block, buffer[at], buffer[at + block]);
    p = at + 1;
  }
}

/**
 * Copy instructions in the making: a range that follows the one held joins
 * it; a long run leaves in steps of {@linkcode COPY_MAX}, the rest held.
 */
class Copies {
  #run: { offset: number; length: number } | undefined;

  /** Adds [offset, offset + length) of the old copy; yields what it completes. */
  *add(offset: number, length: number): Generator<DeltaOp> {
    let run = this.#run;
    if (run && run.offset + run.length === offset) run.length += length;
    else {
      if (run) yield { op: "copy", ...run };
      run = { offset, length };
    }
    while (run && run.length >= COPY_MAX) {
      yield { op: "copy", offset: run.offset, length: COPY_MAX };
      run = run.length === COPY_MAX ? undefined : {
        offset: run.offset + COPY_MAX,
        length: run.length - COPY_MAX,
      };
    }
    this.#run = run;
  }

  /** The range held, now (before literal bytes, or at the end). */
  *flush(): Generator<DeltaOp> {
    if (this.#run) yield { op: "copy", ...this.#run };
    this.#run = undefined;
  }
}

function readExactly(file: ReadHandle, into: Uint8Array, size: number): void {
  for (let got = 0; got < into.length;) {
    const n = file.readSync(into.subarray(got));
    if (n === null || n === 0) {
      throw new ShrankError(`the file shrank below its ${size} bytes`);
    }
    got += n;
  }
}
