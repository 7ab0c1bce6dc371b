// The sender's half of a delta transfer: its new file cut into chunks the
// way the receiver cut its old copy, each chunk looked up in the
// receiver's description; what matches leaves as a copy instruction, the
// rest as literal bytes.
import { type ContentHasher, sameHash } from "../fs/hash.ts";
import type { ReadHandle } from "../fs/tree.ts";
import { type BasisOffer, BasisTable, type ChunkDigest } from "./basis.ts";
import { Chunker } from "./chunker.ts";

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
  const chunker = new Chunker(offer.avgBits);
  // Room for a whole chunk plus a read of at least as much again.
  const least = Math.max(1 << 20, 2 * chunker.maxChunk);
  const buffer = window && window.length >= least
    ? window
    : new Uint8Array(least);
  let left = size;
  let filled = 0;
  // An old copy under 16 MiB comes with its whole hash: a file of its size
  // is hashed first, a window at a time, and when it is that very content
  // it goes as copy instructions with no chunk cut or looked up (the
  // common case: only the mtime changed). When it differs, a file that
  // fit the window is matched from there; a bigger one is read again from
  // the start (one extra read, against a hash per chunk saved when same).
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
  let copy: { offset: number; length: number } | undefined;
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
    const offset = table.offsetOf(first);
    const length = end - chunk;
    if (copy && copy.offset + copy.length === offset) copy.length += length;
    else {
      if (copy) yield { op: "copy", ...copy };
      copy = { offset, length };
    }
    // A long run leaves in steps of COPY_MAX, the rest kept open.
    while (copy && copy.length >= COPY_MAX) {
      yield { op: "copy", offset: copy.offset, length: COPY_MAX };
      copy = copy.length === COPY_MAX ? undefined : {
        offset: copy.offset + COPY_MAX,
        length: copy.length - COPY_MAX,
      };
    }
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
  if (copy) yield { op: "copy", ...copy };

  /** The chunk [chunk, end) the chunker cut: a copy if the old copy has it. */
  function* take(end: number): Generator<DeltaOp> {
    const bytes = buffer.subarray(chunk, end);
    digest.of(bytes);
    const index = table.indexOf(digest.word, bytes.length);
    if (index >= 0) yield* copied(index, end);
    else {
      if (copy) yield { op: "copy", ...copy };
      copy = undefined;
      chunk = scanned = end;
    }
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
