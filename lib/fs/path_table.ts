// Compact path sets and file tables: a few dozen bytes a path, so a
// daemon can hold a million-file transfer's lists without holding its
// strings.
//
// A path is kept as a 64-bit hash (two independent 32-bit hashes). Two
// paths with the same hash look the same here; for 1M paths the chance is
// about 3e-8, and the users are built so a collision can only err safely:
// a mirror keeps a file it could have deleted, a push fails as "listed
// twice".
import type { FileEntry } from "./entry.ts";

function hash32(text: string, seed: number): number {
  let h = (seed ^ text.length) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 0x5bd1e995);
    h ^= h >>> 15;
  }
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Open addressing over (hi, lo) hash pairs; slot values are indexes. */
class HashIndex {
  #keys = new Uint32Array(2 * 1024);
  #values = new Int32Array(1024).fill(-1);
  #mask = 1023;
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** The value stored for `path`, or -1. */
  find(path: string): number {
    const hi = hash32(path, 0x9747b28c);
    const lo = (hash32(path, 0x1b873593) | 1) >>> 0; // never 0
    return this.#values[this.#slot(hi, lo)];
  }

  /** Stores `value` for `path`; returns false when it was already there. */
  insert(path: string, value: number): boolean {
    if ((this.#count + 1) * 2 > this.#values.length) this.#grow();
    const hi = hash32(path, 0x9747b28c);
    const lo = (hash32(path, 0x1b873593) | 1) >>> 0;
    const slot = this.#slot(hi, lo);
    if (this.#values[slot] >= 0) return false;
    this.#keys[slot * 2] = hi;
    this.#keys[slot * 2 + 1] = lo;
    this.#values[slot] = value;
    this.#count++;
    return true;
  }

  /**
   * Removes `path`; returns its value, or -1 when it was not there. The
   * entries after it in its probe run move back (no tombstones), so the
   * table stays as fast as if it had never held it.
   */
  remove(path: string): number {
    const hi = hash32(path, 0x9747b28c);
    const lo = (hash32(path, 0x1b873593) | 1) >>> 0;
    let hole = this.#slot(hi, lo);
    const value = this.#values[hole];
    if (value < 0) return -1;
    this.#values[hole] = -1;
    this.#count--;
    const mask = this.#mask;
    // Bounded by the table size, like a probe.
    for (let next = (hole + 1) & mask, n = 0; n <= mask; n++) {
      if (this.#values[next] < 0) break;
      const home = (this.#keys[next * 2] ^ this.#keys[next * 2 + 1]) & mask;
      // Moves back unless its home lies cyclically in (hole, next].
      const stays = hole <= next
        ? hole < home && home <= next
        : hole < home || home <= next;
      if (!stays) {
        this.#keys[hole * 2] = this.#keys[next * 2];
        this.#keys[hole * 2 + 1] = this.#keys[next * 2 + 1];
        this.#values[hole] = this.#values[next];
        this.#values[next] = -1;
        hole = next;
      }
      next = (next + 1) & mask;
    }
    return value;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#keys.byteLength + this.#values.byteLength;
  }

  #slot(hi: number, lo: number): number {
    let slot = (hi ^ lo) & this.#mask;
    // Bounded by the table size; load stays under one half.
    for (let probe = 0; probe <= this.#mask; probe++) {
      if (this.#values[slot] < 0) return slot;
      if (this.#keys[slot * 2] === hi && this.#keys[slot * 2 + 1] === lo) {
        return slot;
      }
      slot = (slot + 1) & this.#mask;
    }
    throw new Error("HashIndex is full"); // unreachable at load < 1/2
  }

  #grow(): void {
    const keys = this.#keys;
    const values = this.#values;
    const size = values.length * 2;
    this.#keys = new Uint32Array(size * 2);
    this.#values = new Int32Array(size).fill(-1);
    this.#mask = size - 1;
    for (let i = 0; i < values.length; i++) {
      if (values[i] < 0) continue;
      const slot = this.#slot(keys[i * 2], keys[i * 2 + 1]);
      this.#keys[slot * 2] = keys[i * 2];
      this.#keys[slot * 2 + 1] = keys[i * 2 + 1];
      this.#values[slot] = values[i];
    }
  }
}

/**
 * A set of paths at about 16 bytes a path (hashes only: it can't list
 * them). `has` may answer true for a path never added when two hashes
 * collide (see the file comment), never false for one that was.
 *
 * @example
 * ```ts
 * import { PathSet } from "@blit/cli/internals";
 * const keep = new PathSet();
 * keep.add("a/b");
 * if (!keep.has("a/b") || keep.has("a/c") || keep.size !== 1) throw new Error();
 * ```
 */
export class PathSet {
  readonly #index = new HashIndex();

  /** Adds `path`; adding it again changes nothing. */
  add(path: string): this {
    this.#index.insert(path, 0);
    return this;
  }

  /** Whether `path` was added. */
  has(path: string): boolean {
    return this.#index.find(path) >= 0;
  }

  /** Paths added. */
  get size(): number {
    return this.#index.count;
  }

  /** Bytes held (for memory budgets). */
  get bytes(): number {
    return this.#index.bytes;
  }
}

const ENTRY_BYTES = 8 + 8 + 4 + 1;

/**
 * Regular-file entries by path at about 45 bytes each: size, mtime and
 * mode in typed arrays, the path only as a hash. `get` rebuilds an entry
 * with the path it is asked for; `take` does too and marks it done, once.
 *
 * @example
 * ```ts
 * import { FileTable } from "@blit/cli/internals";
 * const table = new FileTable();
 * table.set("a", { path: "a", kind: "file", size: 3, mtimeMs: 1000, mode: 0o644 });
 * if (table.take("a")?.size !== 3 || table.take("a") !== undefined) throw new Error();
 * if (table.size !== 1 || table.pending !== 0) throw new Error();
 * ```
 */
export class FileTable {
  readonly #index = new HashIndex();
  #size = new Float64Array(1024);
  #mtime = new Float64Array(1024);
  #mode = new Uint32Array(1024);
  #done = new Uint8Array(1024);
  /** Rows used so far; rows of deleted entries are reused first. */
  #count = 0;
  #free: number[] = [];
  #taken = 0;

  /**
   * Adds a regular file's entry under `path`.
   *
   * @throws {TypeError} when `entry` is not a regular file.
   * @throws {RangeError} when `path` is already in the table.
   */
  set(path: string, entry: FileEntry): this {
    if (entry.kind !== "file") {
      throw new TypeError(`FileTable holds regular files, got ${entry.kind}`);
    }
    if (this.#free.length === 0 && this.#count === this.#size.length) {
      this.#grow();
    }
    const row = this.#free.length > 0 ? this.#free.pop()! : this.#count;
    if (!this.#index.insert(path, row)) {
      if (row !== this.#count) this.#free.push(row);
      throw new RangeError(`${path} is listed twice`);
    }
    if (row === this.#count) this.#count++;
    this.#size[row] = entry.size;
    this.#mtime[row] = entry.mtimeMs;
    // The mtime's nanoseconds share the mode's word (12 bits + 20).
    this.#mode[row] = (((entry.mtimeNs ?? 0) << 12) | (entry.mode & 0o7777)) >>>
      0;
    this.#done[row] = 0;
    return this;
  }

  /**
   * Forgets `path` (its row is reused by the next `set`), so a table
   * that entries leave as they are dealt with stays as small as what is
   * outstanding. Returns whether it was there.
   */
  delete(path: string): boolean {
    const row = this.#index.remove(path);
    if (row < 0) return false;
    if (this.#done[row] === 1) this.#taken--;
    this.#done[row] = 0;
    this.#free.push(row);
    return true;
  }

  /** Whether `path` is in the table. */
  has(path: string): boolean {
    return this.#index.find(path) >= 0;
  }

  /** The entry for `path` (a new object each call), or undefined. */
  get(path: string): FileEntry | undefined {
    const i = this.#index.find(path);
    if (i < 0) return undefined;
    const word = this.#mode[i];
    const ns = word >>> 12;
    return {
      path,
      kind: "file",
      size: this.#size[i],
      mtimeMs: this.#mtime[i],
      ...(ns > 0 ? { mtimeNs: ns } : {}),
      mode: word & 0o7777,
    };
  }

  /** Like `get`, once per path: later calls answer undefined. */
  take(path: string): FileEntry | undefined {
    const i = this.#index.find(path);
    if (i < 0 || this.#done[i] === 1) return undefined;
    this.#done[i] = 1;
    this.#taken++;
    return this.get(path);
  }

  /** Whether `path` was taken. */
  taken(path: string): boolean {
    const i = this.#index.find(path);
    return i >= 0 && this.#done[i] === 1;
  }

  /** Entries in the table. */
  get size(): number {
    return this.#index.count;
  }

  /** Entries not taken yet. */
  get pending(): number {
    return this.#index.count - this.#taken;
  }

  /** Bytes held (for memory budgets). */
  get bytes(): number {
    return this.#index.bytes + this.#size.length * ENTRY_BYTES;
  }

  #grow(): void {
    const n = this.#size.length * 2;
    const size = new Float64Array(n);
    size.set(this.#size);
    this.#size = size;
    const mtime = new Float64Array(n);
    mtime.set(this.#mtime);
    this.#mtime = mtime;
    const mode = new Uint32Array(n);
    mode.set(this.#mode);
    this.#mode = mode;
    const done = new Uint8Array(n);
    done.set(this.#done);
    this.#done = done;
  }
}
