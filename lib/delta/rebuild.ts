// The receiver's half of a delta transfer: the new file rebuilt from the
// sender's instructions, copies from the receiver's own old copy of the
// same file and literal bytes, every instruction checked against both
// files' bounds, every byte hashed for the end-to-end check.
import { type ContentHasher, sameHash } from "../fs/hash.ts";
import type { ReadHandle } from "../fs/tree.ts";

/** An instruction outside the old copy or past the new file's size. */
export class DeltaRangeError extends Error {
  /** What was out of bounds. */
  constructor(message: string) {
    super(message);
    this.name = "DeltaRangeError";
  }
}

/**
 * Most bytes of the old copy's own start a rebuild defers (see
 * `deferSame`): reading them again costs a few ms at most.
 */
export const DEFER_MAX = 8 << 20;

/** The old copy is read in pieces of at most this many bytes. */
const READ_MAX = 1 << 20;
/**
 * The read buffer of every rebuild on this thread (a read fills and hands
 * out its pieces synchronously): a fresh one a file cost its pages' first
 * touch, ~0.3 ms for a 100 KiB file here. Grown to the biggest file's
 * need, at most {@linkcode READ_MAX}.
 */
let scratch: Uint8Array | undefined;

function readScratch(bytes: number): Uint8Array {
  if (!scratch || scratch.length < bytes) scratch = new Uint8Array(bytes);
  return scratch;
}

/**
 * Rebuilds one file: `copy` reads a range of the old copy (`basis`, of
 * `basisSize` bytes, opened by the receiver) and appends it, `literal`
 * appends bytes that came over the wire; `write` gets every byte in
 * order, `hasher` sees them all.
 *
 * @example
 * ```ts
 * import { DeltaRebuild } from "@blit/cli/internals";
 * import { contentHasher, hashBytes } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array([1, 2, 3, 4]));
 * using basis = Deno.openSync(path);
 * const out: number[] = [];
 * const rebuild = new DeltaRebuild(basis, 4, 5, (b) => out.push(...b), await contentHasher());
 * rebuild.copy(2, 2);
 * rebuild.literal(new Uint8Array([9, 9, 9]));
 * const digest = rebuild.finish();
 * if (out.join() !== "3,4,9,9,9" || digest.join() !== (await hashBytes(Uint8Array.of(3, 4, 9, 9, 9))).join()) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
/** The whole old copy, written without reading it (see `DeltaRebuild`). */
export interface WholeCopy {
  /** The content hasher's state after the old copy (`NativeHasher.saveState`). */
  state: Uint8Array;
  /**
   * Appends `length` bytes of the old copy from `offset` to the new file:
   * the bytes it could (the rest are written as read).
   */
  copy(offset: number, length: number): number;
  /**
   * The same on another thread, for a big copy: the bytes count as
   * written at once (what is written next goes after them) and the
   * promise settles once they are in place; undefined where it can't (or
   * need not): then `copy`.
   */
  copyLater?(offset: number, length: number): Promise<void> | undefined;
}

export class DeltaRebuild {
  readonly #basis: ReadHandle;
  readonly #basisSize: number;
  readonly #size: number;
  readonly #write: (bytes: Uint8Array) => void;
  readonly #hasher: ContentHasher;
  #filled = 0;
  /**
   * Every byte so far is the old copy's byte at the same offset, and none
   * was written yet (only with `deferSame`).
   */
  #same: boolean;
  /**
   * The old copy's content hash, known without reading it (see
   * `DeltaTarget.known`): while `#same`, its bytes are neither read nor
   * hashed, only counted.
   */
  readonly #known: Uint8Array | undefined;
  /** The deferred run was counted, not hashed (see `#known`). */
  #skipped: boolean;
  /** How the whole old copy, counted only, is written without reading it. */
  readonly #whole: WholeCopy | undefined;
  /** The old copy being copied on another thread (see `WholeCopy.copyLater`). */
  #pending: Promise<void> | undefined;
  /** The leading run of the new file that is the old copy at its own offsets. */
  #run = 0;
  /** Bytes copied from the old copy. */
  matched = 0;
  /** Bytes that came as literals. */
  literalBytes = 0;

  /**
   * A rebuild of a `size`-byte file from `basis` (`basisSize` bytes). With
   * `deferSame`, a leading run of the old copy at its own offsets (up to
   * {@linkcode DEFER_MAX} bytes) is hashed but not written until
   * something else follows (see {@linkcode DeltaRebuild.unchanged}); with
   * `known` too (the old copy's content hash, its bytes unchanged since
   * hashed), that run, of any length, is not even read unless something
   * else follows; with `whole` too, the whole old copy followed by
   * something else (an append) is not read then either: the kernel copies
   * it and the hash goes on from the state it had after it.
   */
  constructor(
    basis: ReadHandle,
    basisSize: number,
    size: number,
    write: (bytes: Uint8Array) => void,
    hasher: ContentHasher,
    deferSame = false,
    known?: Uint8Array,
    whole?: WholeCopy,
  ) {
    this.#basis = basis;
    this.#basisSize = basisSize;
    this.#size = size;
    this.#write = write;
    this.#hasher = hasher;
    this.#same = deferSame;
    this.#known = deferSame ? known : undefined;
    this.#skipped = this.#known !== undefined;
    this.#whole = this.#known ? whole : undefined;
    hasher.init();
  }

  /**
   * Where the whole old copy is being copied on another thread: settles
   * once it is in the new file (which must not be committed before).
   */
  get pending(): Promise<void> | undefined {
    return this.#pending;
  }

  /** Bytes of the new file rebuilt so far. */
  get filled(): number {
    return this.#filled;
  }

  /**
   * Whether the new file is, so far, the old copy itself, none of it
   * written (with `deferSame` only); once `finish` has checked the size,
   * true means the new file is exactly the old copy, and nothing was
   * written unless {@linkcode DeltaRebuild.materialize} is called.
   */
  get unchanged(): boolean {
    return this.#same && this.#filled === this.#basisSize;
  }

  /**
   * Whether the new file is longer than the old copy and begins with all
   * of it (an append), so far: once `finish` has checked the size, what
   * the file was.
   */
  get appended(): boolean {
    return this.#size > this.#basisSize && this.#run === this.#basisSize;
  }

  /**
   * Writes what was deferred (the leading run of the old copy) and writes
   * everything from now on as it comes.
   */
  materialize(): void {
    if (!this.#same) return;
    // A run only counted is hashed on the same read that writes it.
    const hash = this.#skipped;
    this.#skipped = false;
    this.#same = false;
    if (hash && this.#filled === this.#basisSize && this.#copyWhole()) return;
    this.#read(0, this.#filled, (piece) => {
      if (hash) this.#hasher.update(piece);
      this.#write(piece);
    });
  }

  /**
   * The whole old copy, counted only, written by the kernel and its hash
   * taken from the state it had (checked against its digest): false,
   * nothing written, where that can't be done.
   */
  #copyWhole(): boolean {
    const whole = this.#whole;
    const hasher = this.#hasher;
    if (!whole || !hasher.loadState?.(whole.state)) return false;
    if (!sameHash(hasher.digest("binary"), this.#known!)) {
      hasher.init();
      return false;
    }
    const later = whole.copyLater?.(0, this.#filled);
    if (later) {
      // Awaited by whoever commits; never a rejection nobody handles.
      later.catch(() => {});
      this.#pending = later;
      return true;
    }
    const copied = whole.copy(0, this.#filled);
    // What the kernel did not copy, copied here (hashed already).
    if (copied < this.#filled) {
      this.#read(copied, this.#filled - copied, (piece) => this.#write(piece));
    }
    return true;
  }

  /** The deferred run is hashed now if it was only counted. */
  #hashSkipped(): void {
    if (!this.#skipped) return;
    this.#skipped = false;
    this.#read(0, this.#filled, (piece) => this.#hasher.update(piece));
  }

  /**
   * Appends `length` bytes of the old copy from `offset`.
   *
   * @throws {DeltaRangeError} outside the old copy or past the new size.
   */
  copy(offset: number, length: number): void {
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) ||
      offset < 0 || length <= 0 || offset + length > this.#basisSize
    ) {
      throw new DeltaRangeError(
        `copy of ${length} bytes at ${offset} is outside the old copy's ${this.#basisSize} bytes`,
      );
    }
    this.#room(length);
    if (offset === this.#filled && this.#run === this.#filled) {
      this.#run += length;
    }
    // Deferred only while cheap to read again: a big file's old start is
    // written as it comes, like the rest.
    // (Counted only, with its hash known, it is read once whenever it is
    // written: deferred at no cost, whatever its length.)
    if (
      this.#same &&
      (offset !== this.#filled ||
        (!this.#skipped && this.#filled + length > DEFER_MAX))
    ) this.materialize();
    if (this.#same && this.#skipped) {
      // The old copy itself, its hash known: not even read.
      this.#filled += length;
    } else if (this.#same) {
      // Still the old copy itself: hashed, not written.
      this.#read(offset, length, (piece) => {
        this.#hasher.update(piece);
        this.#filled += piece.length;
      });
    } else this.#read(offset, length, (piece) => this.#append(piece));
    this.matched += length;
  }

  /** Reads `length` bytes of the old copy from `offset`, piece by piece. */
  #read(offset: number, length: number, take: (piece: Uint8Array) => void) {
    if (length === 0) return;
    this.#basis.seekSync(offset, Deno.SeekMode.Start);
    const scratch = readScratch(
      Math.min(READ_MAX, Math.max(this.#size, this.#basisSize)),
    );
    for (let left = length; left > 0;) {
      const piece = scratch.subarray(0, Math.min(left, scratch.length));
      for (let got = 0; got < piece.length;) {
        const n = this.#basis.readSync(piece.subarray(got));
        if (n === null || n === 0) {
          throw new DeltaRangeError("the old copy shrank during the transfer");
        }
        got += n;
      }
      take(piece);
      left -= piece.length;
    }
  }

  /**
   * Appends bytes that came over the wire.
   *
   * @throws {DeltaRangeError} past the new size.
   */
  literal(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.materialize();
    this.#append(bytes);
    this.literalBytes += bytes.length;
  }

  /**
   * The new file is complete: its content hash, to compare with the
   * sender's.
   *
   * @throws {DeltaRangeError} when it is short of its size.
   */
  finish(): Uint8Array {
    if (this.#filled !== this.#size) {
      throw new DeltaRangeError(
        `the file ended at ${this.#filled} of its ${this.#size} bytes`,
      );
    }
    if (this.#skipped) {
      if (this.#filled === this.#basisSize) return this.#known!.slice();
      this.#hashSkipped(); // a shorter start of the old copy
    }
    return this.#hasher.digest("binary");
  }

  #room(length: number): void {
    if (this.#filled + length > this.#size) {
      throw new DeltaRangeError(
        `instructions go past the file's ${this.#size} bytes`,
      );
    }
  }

  #append(bytes: Uint8Array): void {
    this.#hasher.update(bytes);
    this.#write(bytes);
    this.#filled += bytes.length;
  }
}
