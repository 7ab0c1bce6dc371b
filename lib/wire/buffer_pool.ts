// Big buffers (a MiB or so) that one transfer's data path reads into and
// writes from, kept for the next transfer of this process. A daemon used
// to make them afresh for every session: each new one counts as external
// memory to V8, and a few MiB of it per session set off a full garbage
// collection of the daemon's heap about every session (measured on the
// stdlib tree with a line appended to 40% of its files, pushed over a
// 1 Gbit/s link, medians of 15 interleaved runs: the daemon's V8 helper
// threads 31.5 -> 15.0 ms a push with the decompressing reader's buffers
// kept, its total CPU 167 -> 138 ms).

/** Buffers kept at most (about 9 MiB at the usual size). */
const KEEP = 8;
/** Bigger buffers are not kept. */
const KEEP_MAX_BYTES = 4 << 20;

const free: Uint8Array[] = [];

/**
 * A buffer of at least `size` bytes, all zero: a kept one when one is
 * that big, else a new one of `size` bytes.
 *
 * @example
 * ```ts
 * import { giveBuffer, takeBuffer } from "./buffer_pool.ts";
 * const a = takeBuffer(1 << 20);
 * a[5] = 1;
 * giveBuffer(a);
 * const b = takeBuffer(1000);
 * if (b.length < 1000 || b[5] !== 0) throw new Error("example failed");
 * giveBuffer(b);
 * ```
 */
export function takeBuffer(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
  // The smallest kept one that is big enough.
  let best = -1;
  for (let i = 0; i < free.length; i++) {
    if (
      free[i].length >= size && (best < 0 || free[i].length < free[best].length)
    ) best = i;
  }
  if (best < 0) return new Uint8Array(size);
  const [buffer] = free.splice(best, 1);
  // Zeroed here, when it is used again, not when given back: a process
  // that ends after its one transfer (a client) never pays for it.
  buffer.fill(0);
  return buffer;
}

/**
 * Gives back `buffer`, a whole buffer from {@linkcode takeBuffer} (or
 * made by the caller) that nothing holds a view of any more: kept when
 * there is room (zeroed before it is handed out again: nothing of one
 * transfer is left for the next). A view into part of a buffer, one given
 * back already (through any view of the whole of it) or a big one is let
 * go.
 *
 * @example
 * ```ts
 * import { giveBuffer, keptBuffers } from "./buffer_pool.ts";
 * const before = keptBuffers();
 * giveBuffer(new Uint8Array(10).subarray(2));
 * if (keptBuffers() !== before) throw new Error("example failed");
 * ```
 */
export function giveBuffer(buffer: Uint8Array): void {
  if (
    buffer.byteOffset !== 0 || buffer.length !== buffer.buffer.byteLength ||
    buffer.length === 0 || buffer.length > KEEP_MAX_BYTES ||
    free.length >= KEEP || free.some((kept) => kept.buffer === buffer.buffer)
  ) return;
  free.push(buffer);
}

/**
 * How many buffers are kept now (for tests).
 *
 * @example
 * ```ts
 * import { keptBuffers } from "./buffer_pool.ts";
 * if (keptBuffers() < 0) throw new Error("example failed");
 * ```
 */
export function keptBuffers(): number {
  return free.length;
}
