// Content-defined chunking (a gear hash, as FastCDC cuts): both ends of a
// delta transfer cut their own copy of a file into chunks where the
// content says so, independently, so an insertion or deletion moves the
// cuts after it along with the bytes and only the chunks around the edit
// differ.

/**
 * Smallest average chunk: 2 KiB (small files' descriptions cost half what
 * 1 KiB chunks did; an edit costs a chunk or two more of literal bytes,
 * which compress: on a tree of source files the bytes on the wire went
 * down, 301 KB to 284 KB for Python's library with every mtime changed
 * and 10% of the files edited).
 */
export const MIN_AVG_BITS = 11;
/** Largest average chunk: 16 MiB. */
export const MAX_AVG_BITS = 24;
/**
 * Most chunks a basis description may list: a file's chunks are made big
 * enough that it never needs more (a chunk is at least a quarter of the
 * average), so a description is at most ~2 MiB whatever the file size
 * (4 bytes of hash and a length a chunk). 2^18: a 1 GiB file keeps its
 * 16 KiB chunks (half its square root), so an edit costs ~20 KB of
 * literal bytes, not ~40 (with 2^17, rsync's bytes were 1.3x smaller
 * for scattered edits there).
 */
export const MAX_BASIS_CHUNKS = 1 << 18;

// The gear table: 256 fixed pseudo-random 32-bit words (xorshift32 from a
// fixed seed), the same on every side and every version.
const GEAR = (() => {
  const table = new Int32Array(256);
  let s = 0x2545f491;
  for (let i = 0; i < 256; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    table[i] = s;
  }
  return table;
})();

// The gear loop in WebAssembly: ~2x the speed of the same loop in
// JavaScript here (0.7 against 1.5 ns a byte), and as fast in a fresh
// Worker as in a warm one (JavaScript's loop runs slowly until the JIT
// has seen it). Its source is gear.wat beside this file (assembled with
// wabt's wat2wasm; nothing needs it to build or run), 966 bytes, with the
// block sums of a description in fixed blocks (see `blockSum`) and the
// rolling loop that looks for them (see `rollBlocks`):
//   memory 0: [0, 1024) the gear table (256 little-endian i32), then data
//   global 0 (mutable i32): the hash when `find` returns
//   func find(i, end, hash, mask) -> i32: for each byte at i..end-1 in
//     order, hash = (hash << 1) + table[byte]; at the first where
//     (hash & mask) == 0, returns its address + 1; else -1 at `end`
//     (four bytes a turn of the loop, read as one word and each byte's
//     table entry addressed from it by a shift and a mask: ~10% faster
//     than four loads of a byte; then one at a time).
//   func weak(p, len) -> i32: `blockSum` of the bytes at p..p+len-1.
//   func roll(...): `rollBlocks`'s loop.
const GEAR_WASM =
  "AGFzbQEAAAABHANgBH9/f38Bf2ACf38Bf2AJf39/f39/f39/AX8DBAMAAQIFAwEAAQYGAX8BQQALByAFA21lbQIAAWgDAARmaW5kAAAEd2VhawABBHJvbGwAAgroBgOBAgEBfwJAA0AgAEEEaiABSw0BIAAoAgAhBCACQQF0IARB/wFxQQJ0KAIAaiECIAIgA3FFBEAgAiQAIABBAWoPCyACQQF0IARBBnZB/AdxKAIAaiECIAIgA3FFBEAgAiQAIABBAmoPCyACQQF0IARBDnZB/AdxKAIAaiECIAIgA3FFBEAgAiQAIABBA2oPCyACQQF0IARBGHZBAnQoAgBqIQIgAiADcUUEQCACJAAgAEEEag8LIABBBGohAAwACwsCQANAIAAgAU8NASACQQF0IAAtAABBAnQoAgBqIQIgAiADcUUEQCACJAAgAEEBag8LIABBAWohAAwACwsgAiQAQX8L7AIDAX8GewZ/IAAgAUFwcWohAgJAA0AgACACTw0BIAD9AAQAIQMgA/0M/wD/AP8A/wD/AP8A/wD/AP1OIQQgA0EI/Y0BIQUgByAG/a4BIQcgBiAEIAX9jgH9DAEAAQABAAEAAQABAAEAAQD9ugH9rgEhBiAIIAT9DAAAAgAEAAYACAAKAAwADgD9ugEgBf0MAQADAAUABwAJAAsADQAPAP26Af2uAf2uASEIIABBEGohAAwACwsgAUEEdiEJIAb9GwAgBv0bAWogBv0bAiAG/RsDamohCiAH/RsAIAf9GwFqIAf9GwIgB/0bA2pqIQsgCP0bACAI/RsBaiAI/RsCIAj9GwNqaiEMIAEgCmwgCUEBayAKbCALa0EEdCAMamshDSAJQQR0IQ4CQANAIA4gAU8NASAALQAAIQwgCiAMaiEKIA0gASAOayAMbGohDSAAQQFqIQAgDkEBaiEODAALCyAKQf//A3EgDUEQdHIL9AEBBn8gA0H//wNxIQ0gA0EQdiEOA0AgDUH//wNxIA5BEHRyIQMgA0Gx893xeWwgBXYhCSAEIAlBBXZBAnRqKAIAQQEgCXRxBEAgA0H3lK+veGwgBXYhCSAEIAlBBXZBAnRqKAIAQQEgCXRxBEAgA0Gx893xeWwgCHYhCgJAA0AgBiAKQQN0aiELIAsoAgBFDQEgCygCBCADRgRAIAMkACAADwsgCkEBaiAHcSEKDAALCwsLIAAgAU8EQCADJABBfyAAaw8LIAAtAAAhDCANIAAgAmotAAAgDGtqIQ0gDiANIAIgDGxraiEOIABBAWohAAwACwAL";

/**
 * Base64 (standard alphabet, padded) to bytes, here rather than `atob`:
 * the runtime loads its base64 code on the first `atob` of a process
 * (~2 ms a command, for the one string this module decodes).
 */
function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const digits = new Int8Array(128).fill(-1);
  const alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) digits[alphabet.charCodeAt(i)] = i;
  const body = text.replace(/=+$/, "");
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let count = 0;
  let at = 0;
  for (let i = 0; i < body.length; i++) {
    const d = digits[body.charCodeAt(i) & 127];
    if (d < 0) throw new RangeError(`not base64 at ${i}`);
    bits = (bits << 6) | d;
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[at++] = (bits >> count) & 0xff;
    }
  }
  return out;
}

/** Where the gear table sits in a chunker's memory; data follows it. */
const TABLE_BYTES = 1024;
/** Bytes from outside the data area are scanned this many at a time. */
const SLICE_BYTES = 1 << 20;
const PAGE = 65536;

interface GearInstance {
  memory: WebAssembly.Memory;
  find: (i: number, end: number, hash: number, mask: number) => number;
  hash: WebAssembly.Global;
  weak: (at: number, length: number) => number;
  roll: (
    p: number,
    last: number,
    block: number,
    sum: number,
    filter: number,
    filterShift: number,
    slots: number,
    slotMask: number,
    slotShift: number,
  ) => number;
}

/**
 * The gear loop, one instance for every chunker of this thread (an
 * instance and its memory cost ~0.2 ms to make: too much a small file).
 * Its data area is shared: a scan copies there what it scans (unless the
 * bytes are already in it), so it holds only what one synchronous run
 * put there (see {@linkcode Chunker.buffer}).
 */
let shared: GearInstance | undefined;

/** The shared gear loop, its data area at least `bytes` long. */
function gearWith(bytes: number): GearInstance {
  if (!shared) {
    const module = new WebAssembly.Module(fromBase64(GEAR_WASM));
    const exports = new WebAssembly.Instance(module).exports;
    shared = {
      memory: exports.mem as WebAssembly.Memory,
      find: exports.find as GearInstance["find"],
      hash: exports.h as WebAssembly.Global,
      weak: exports.weak as GearInstance["weak"],
      roll: exports.roll as GearInstance["roll"],
    };
    new Int32Array(shared.memory.buffer, 0, 256).set(GEAR);
  }
  const have = shared.memory.buffer.byteLength;
  const need = TABLE_BYTES + bytes;
  if (need > have) shared.memory.grow(Math.ceil((need - have) / PAGE));
  return shared;
}

/**
 * The average chunk size (as a power of two) for a basis of `size` bytes:
 * about half the square root of the size (the hashes sent and the literal
 * bytes around an edit then cost about the same: an edit costs the chunk
 * it falls in, and a bigger chunk is likelier to be hit, so chunks are
 * kept under rsync's square-root blocks), at least 2 KiB, and big enough
 * for at most {@linkcode MAX_BASIS_CHUNKS}.
 *
 * @example
 * ```ts
 * import { avgBitsFor } from "@blit/cli/internals";
 * if (avgBitsFor(128 << 20) !== 13) throw new Error("example failed");
 * if (avgBitsFor(1000) !== 11) throw new Error("example failed");
 * ```
 */
export function avgBitsFor(size: number): number {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
  const root = Math.round(Math.log2(Math.max(1, size)) / 2) - 1;
  // Chunks are at least avg/4: 4 * size / avg <= MAX_BASIS_CHUNKS.
  const bound = Math.ceil(Math.log2(Math.max(1, 4 * size / MAX_BASIS_CHUNKS)));
  return Math.min(MAX_AVG_BITS, Math.max(MIN_AVG_BITS, root, bound));
}

/**
 * Cuts a stream of bytes into chunks of `2^avgBits` bytes on average
 * (never under a quarter of that, never over four times): feed it the
 * bytes in order, in pieces of any size; `scan` says where the current
 * chunk ends, if it ends in the piece. The cuts depend only on the bytes.
 *
 * @example
 * ```ts
 * import { Chunker } from "@blit/cli/internals";
 * const bytes = new Uint8Array(64 << 10).map((_, i) => (i * 7919) >> 3);
 * const cuts = (data: Uint8Array) => {
 *   const chunker = new Chunker(11);
 *   const out: number[] = [];
 *   for (let at = 0; at < data.length;) {
 *     const end = chunker.scan(data, at);
 *     if (end < 0) break;
 *     out.push(end);
 *     at = end;
 *   }
 *   return out;
 * };
 * if (cuts(bytes).length < 4) throw new Error("example failed");
 * ```
 */
export class Chunker {
  /** The average chunk size is `2^avgBits` bytes. */
  readonly avgBits: number;
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  // Harder to match before the average, easier after (normalised
  // chunking: sizes cluster around the average). One bit each way of
  // the average's own, not FastCDC's one more before it: chunks come out
  // about the average (not ~1.2x it), so an edit and each join of moved
  // blocks cost less literal data (1 MiB blocks of a 128 MiB file put in
  // reverse order: 2.09 -> 1.62 MB, against rsync's 1.48; 1,000 flipped
  // bytes: 11.7 -> 10.5 MB, rsync 11.0), for ~20% more chunks described.
  readonly #maskSmall: number;
  readonly #maskLarge: number;
  /** Bytes of the current chunk seen so far. */
  #length = 0;
  #hash = 0;

  /** A chunker with chunks of `2^avgBits` bytes on average. */
  constructor(avgBits: number) {
    if (
      !Number.isInteger(avgBits) || avgBits < MIN_AVG_BITS ||
      avgBits > MAX_AVG_BITS
    ) {
      throw new RangeError(
        `avgBits must be an integer ${MIN_AVG_BITS}-${MAX_AVG_BITS}, got ${avgBits}`,
      );
    }
    this.avgBits = avgBits;
    this.#avg = 1 << avgBits;
    this.#min = this.#avg >> 2;
    this.#max = this.#avg * 4;
    // The top bits of the gear hash depend on the last 32 bytes.
    this.#maskSmall = topBits(avgBits);
    this.#maskLarge = topBits(avgBits - 1);
  }

  /** The most bytes one chunk can have. */
  get maxChunk(): number {
    return this.#max;
  }

  /**
   * A buffer of `size` bytes in the gear loop's own memory: bytes scanned
   * from it are scanned where they are, not copied first. It is this
   * thread's one data area, shared by every chunker: it holds what was
   * put in it only until the caller yields (an `await`, a `yield`) or
   * asks for another, and a scan of other bytes overwrites it. For a
   * synchronous run such as a description, start to end (see
   * {@linkcode dataArea}).
   */
  buffer(size: number): Uint8Array {
    return dataArea(size);
  }

  /**
   * Scans `bytes` from `from`: returns the offset just past the cut that
   * ends the current chunk, or -1 when the chunk goes on past the piece
   * (then every byte from `from` was taken in). At the end of the data,
   * whatever was taken in since the last cut is the last chunk.
   */
  scan(bytes: Uint8Array, from: number): number {
    const n = bytes.length;
    let i = from;
    let length = this.#length;
    if (length < this.#min) {
      const skip = Math.min(this.#min - length, n - i);
      i += skip;
      length += skip;
      if (length < this.#min) {
        this.#length = length;
        return -1;
      }
    }
    // What this chunk may still take of the piece.
    const stop = Math.min(n, i + (this.#max - length));
    // Before the average: the hard mask; after it, the easy one.
    const small = Math.min(stop, i + Math.max(0, this.#avg - length));
    if (i < small) {
      const cut = this.#find(bytes, i, small, this.#maskSmall);
      if (cut >= 0) return this.#cut(cut);
      i = small;
    }
    if (i < stop) {
      const cut = this.#find(bytes, i, stop, this.#maskLarge);
      if (cut >= 0) return this.#cut(cut);
    }
    length = this.#length + (stop - from);
    if (length >= this.#max) return this.#cut(stop);
    this.#length = length;
    return -1;
  }

  /**
   * The first cut in `bytes[from, to)` under `mask`, going on from the
   * chunk's hash so far (an index past the cut's byte), or -1 (then the
   * hash is the one after the last byte). Bytes in the loop's data area
   * are scanned in place; others are copied there a slice at a time, so
   * the area stays small whatever the chunk size a peer asked for.
   */
  #find(bytes: Uint8Array, from: number, to: number, mask: number): number {
    const gear = shared;
    if (gear && bytes.buffer === gear.memory.buffer) {
      const base = bytes.byteOffset;
      const cut = gear.find(base + from, base + to, this.#hash, mask);
      if (cut >= 0) return cut - base;
      this.#hash = gear.hash.value;
      return -1;
    }
    for (let at = from; at < to; at += SLICE_BYTES) {
      const end = Math.min(to, at + SLICE_BYTES);
      const loop = gearWith(end - at);
      new Uint8Array(loop.memory.buffer, TABLE_BYTES, end - at)
        .set(bytes.subarray(at, end));
      const cut = loop.find(
        TABLE_BYTES,
        TABLE_BYTES + (end - at),
        this.#hash,
        mask,
      );
      if (cut >= 0) return at + (cut - TABLE_BYTES);
      this.#hash = loop.hash.value;
    }
    return -1;
  }

  /** Starts a new chunk (after a cut, or for a new file). */
  reset(): void {
    this.#length = 0;
    this.#hash = 0;
  }

  #cut(at: number): number {
    this.reset();
    return at;
  }
}

/**
 * `size` bytes of this thread's gear loop's data area (its WebAssembly
 * memory): bytes scanned ({@linkcode Chunker.scan}) or summed
 * ({@linkcode blockSum}) from it are used where they are, not copied
 * first. Shared by every user on the thread: it holds what was put in it
 * only until the caller yields (an `await`, a `yield`) or asks for
 * another, and a scan or sum of other bytes overwrites it.
 *
 * @example
 * ```ts
 * import { blockSum, dataArea } from "@blit/cli/internals";
 * const area = dataArea(4);
 * area.set([1, 2, 3, 4]);
 * if (blockSum(area) !== (10 | 20 << 16)) throw new Error("example failed");
 * ```
 */
export function dataArea(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
  return new Uint8Array(gearWith(size).memory.buffer, TABLE_BYTES, size);
}

/**
 * A block's rolling sum, as rsync sums a block: `a`, the sum of its
 * bytes, and `b`, the sum of each byte times its distance from the end
 * (the last byte once, the first `length` times), each mod 2^16, as one
 * word (`a | b << 16`, unsigned). Sliding a block's window one byte on
 * updates it in a few operations (see `rollSum`), so a sender finds an
 * old copy's blocks at any offset of its file. Bytes in the gear loop's
 * data area (see {@linkcode Chunker.buffer}) are summed in place; others
 * are copied there first.
 *
 * @example
 * ```ts
 * import { blockSum, rollSum } from "@blit/cli/internals";
 * const bytes = new Uint8Array([1, 2, 3, 4]);
 * if (blockSum(bytes.subarray(0, 3)) !== (6 | (1 * 3 + 2 * 2 + 3) << 16)) throw new Error("example failed");
 * if (rollSum(blockSum(bytes.subarray(0, 3)), 3, 1, 4) !== blockSum(bytes.subarray(1))) throw new Error("example failed");
 * ```
 */
export function blockSum(bytes: Uint8Array): number {
  const gear = shared;
  if (gear && bytes.buffer === gear.memory.buffer) {
    return gear.weak(bytes.byteOffset, bytes.length) >>> 0;
  }
  const loop = gearWith(bytes.length);
  new Uint8Array(loop.memory.buffer, TABLE_BYTES, bytes.length).set(bytes);
  return loop.weak(TABLE_BYTES, bytes.length) >>> 0;
}

/**
 * The {@linkcode blockSum} of a window of `length` bytes moved on by one:
 * `out` its first byte, which leaves, `into` the byte after its end.
 */
export function rollSum(
  sum: number,
  length: number,
  out: number,
  into: number,
): number {
  const a = ((sum & 0xffff) - out + into) & 0xffff;
  const b = ((sum >>> 16) - Math.imul(length, out) + a) & 0xffff;
  return (a | (b << 16)) >>> 0;
}

/** What {@linkcode rollBlocks} reads of a description's table (`BlockTable`). */
export interface RollTable {
  /** The blocks' size. */
  readonly block: number;
  /** Two bits a sum: see `BlockTable.filter`. */
  readonly filter: Int32Array;
  /** See `BlockTable.filter`. */
  readonly filterShift: number;
  /** Index and sum pairs by sum: see `BlockTable.slots`. */
  readonly slots: Int32Array;
  /** See `BlockTable.slots`. */
  readonly slotShift: number;
}

/**
 * A sender's rolling search for an old copy's fixed blocks (see
 * `BlockTable`), in the gear loop's module: from the window of `block`
 * bytes at `from` (its {@linkcode blockSum} in `state[0]`, as a signed
 * word), the first window before `end` whose sum passes `table`'s filter
 * and is some block's sum: its start, its sum in `state[0]`; else
 * `-1 - p` for the last window `p` looked at (its sum in `state[0]`). The
 * bytes and the table are copied into the module's data area first (~0.1
 * ms a MiB), then each byte costs a few operations, not a JavaScript
 * loop's ~10 ns.
 */
export function rollBlocks(
  bytes: Uint8Array,
  from: number,
  end: number,
  state: Int32Array,
  table: RollTable,
): number {
  const { block, filter, filterShift, slots, slotShift } = table;
  const n = end - from;
  const filterAt = TABLE_BYTES + align8(n);
  const slotsAt = filterAt + align8(filter.byteLength);
  const loop = gearWith(slotsAt + slots.byteLength - TABLE_BYTES);
  const memory = loop.memory.buffer;
  new Uint8Array(memory, TABLE_BYTES, n).set(bytes.subarray(from, end));
  new Int32Array(memory, filterAt, filter.length).set(filter);
  new Int32Array(memory, slotsAt, slots.length).set(slots);
  const got = loop.roll(
    TABLE_BYTES,
    TABLE_BYTES + n - block,
    block,
    state[0],
    filterAt,
    filterShift,
    slotsAt,
    (slots.length >> 1) - 1,
    slotShift,
  );
  state[0] = loop.hash.value;
  return got >= 0
    ? from + (got - TABLE_BYTES)
    : -1 - (from + (-1 - got - TABLE_BYTES));
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** A mask of the top `bits` bits of a 32-bit word. */
function topBits(bits: number): number {
  return (~0 << (32 - bits)) | 0;
}
