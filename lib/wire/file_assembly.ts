// What the sinks of one transfer share: the negotiated files, which have
// arrived, files arriving in ranges on several streams, and the totals.
import type { FileEntry } from "../fs/entry.ts";
import { AtomicFile } from "../fs/atomic_file.ts";
import { WritePool } from "../fs/write_pool.ts";
import type { TreeRoot } from "../fs/tree.ts";
import { FileTable } from "../fs/path_table.ts";
import {
  type FileRange,
  FrameProtocolError,
  MAX_RANGES_PER_FILE,
} from "./frame_codec.ts";
import { blockRuns, type KeptBlocks, type PartialCopy } from "../fs/resume.ts";
import { type BasisCopy, offeredByHash } from "../delta/basis.ts";
import { openForRead } from "../fs/contained_root.ts";
import { KernelFile } from "../fs/kernel_file.ts";
import { openLocalRead, PathFile } from "../fs/path_tree.ts";
import { resolveInside } from "../fs/safe_path.ts";
import {
  contentStamp,
  fileIdentity,
  openedStatus,
  type ReadHandle,
} from "../fs/tree.ts";

/** What a {@linkcode ReceiveSink} committed. */
export interface ReceiveStats {
  /** Files committed. */
  files: number;
  /** Body bytes committed. */
  bytes: number;
  /** Of those, bytes kept from partial copies instead of being sent again. */
  resumed: number;
  /** Of those, bytes copied from old copies (delta) instead of being sent. */
  matched: number;
}

/**
 * The destination's old copy of a file changed between its description
 * and the rebuild (a local user wrote to it): nothing was written; the
 * next run describes it again.
 */
export class BasisChangedError extends Error {
  /** Names the file. */
  constructor(path: string) {
    super(
      `${path} changed at the destination during the transfer; run the command again`,
    );
    this.name = "BasisChangedError";
  }
}

/** Options for {@linkcode ReceiveSink}. */
export interface ReceiveSinkOptions {
  /** Called after each committed file (progress). */
  onFile?: (entry: FileEntry) => void;
  /** Called with body byte counts as they arrive (progress). */
  onBytes?: (n: number) => void;
  /** Files up to this size are gathered in memory and written in one go. Default: 1 MiB. */
  smallFileBytes?: number;
  /**
   * Workers writing those small files with sync calls, off the event loop
   * (a local destination only: a contained root's checked walk moves the
   * process's working directory, which threads share). Default: 0.
   */
  writers?: number;
  /**
   * The partial copies offered to the sender for resuming, by offered
   * path (see resume.ts): a resume frame is taken only for a file offered
   * here, and only as offered. Default: none (resume frames refused).
   */
  resumes?: Map<string, PartialCopy>;
  /**
   * The old copies described to the sender for delta transfer, by offered
   * path (see lib/delta): a delta frame is taken only for a file described
   * here, once, and rebuilt only from that same file. Default: none
   * (delta frames refused).
   */
  bases?: Map<string, BasisCopy>;
  /**
   * Takes a describe-again frame's file (offered path): one whose old
   * copy is in `bases` offered by its hash alone, and not yet arriving;
   * the receiver names it again with a full description. Default: none
   * (describe-again frames refused).
   */
  onDescribeAgain?: (key: string) => void;
  /** Told each offered path as its file begins to arrive (any frame). */
  onTaken?: (key: string) => void;
  /**
   * Told, for each file (offered path) that came as a delta and is longer
   * than its old copy, whether it began with all of the old copy (an
   * append), once it is whole and checked.
   */
  onGrown?: (key: string, appended: boolean) => void;
}

/** Sets an old copy's mode and mtime (on its descriptor, or its checked name). */
export interface AttributeSetter {
  /** Sets the permission bits. */
  chmodSync(mode: number): void;
  /** Sets the mtime (and atime) to the nanosecond where it can. */
  utimeSync(mtimeMs: number, mtimeNs?: number): void;
}

/**
 * Copies of an old copy from this size (an append to a big file) are made
 * by the kernel on another thread (see `DeltaTarget.appendBasisLater`):
 * the thread that receives and plans goes on meanwhile (a 13 MB old copy
 * costs ~5-10 ms to copy here, on tmpfs); smaller ones at once.
 */
export const COPY_LATER_MIN_BYTES = 1 << 20;

/** A file being rebuilt from its old copy: the pieces a sink needs. */
export class DeltaTarget {
  /** The negotiated entry. */
  readonly entry: FileEntry;
  /** The old copy, open for reading (the sink closes it). */
  readonly basis: ReadHandle;
  /** The old copy's size, as described. */
  readonly basisSize: number;
  /**
   * The old copy's content hash, where it was hashed whole when described
   * and its status has not changed since: its bytes need no reading back
   * to be checked.
   */
  readonly known: Uint8Array | undefined;
  /**
   * With `known`: the content hasher's state after the whole old copy
   * (see `NativeHasher.saveState`), where it was taken.
   */
  readonly knownState: Uint8Array | undefined;
  /** The old copy's status (`contentStamp`) when `known` was taken. */
  readonly #stamp: string | undefined;
  /** The old copy's mode, as opened. */
  readonly #basisMode: number | null;
  /** How the old copy takes new attributes; absent: it can't. */
  readonly #attributes: AttributeSetter | undefined;
  readonly #open: () => AtomicFile;
  #file: AtomicFile | undefined;

  /**
   * The target of `entry`, rebuilt from `basis` (`info`: its status as
   * opened); its temp file is made by `open` when first needed. With
   * `attributes`, an old copy with no other name may take the new mode
   * and mtime itself (see {@linkcode DeltaTarget.keepInPlace}); `known`:
   * the old copy's content hash, the status it was taken under and the
   * hasher's state after it (see {@linkcode DeltaTarget.known}).
   */
  constructor(
    entry: FileEntry,
    basis: ReadHandle,
    info: Deno.FileInfo,
    open: () => AtomicFile,
    attributes?: AttributeSetter,
    known?: { digest: Uint8Array; stamp: string; state?: Uint8Array },
  ) {
    this.entry = entry;
    this.basis = basis;
    this.basisSize = info.size;
    this.known = known?.digest;
    this.knownState = known?.state;
    this.#stamp = known?.stamp;
    this.#basisMode = info.mode;
    this.#open = open;
    // Only a file with no other name: its attributes are this name's alone.
    this.#attributes = info.nlink === 1 ? attributes : undefined;
  }

  /**
   * Appends `length` bytes of the old copy from `offset` to the temp
   * file, copied by the kernel where it can (`AtomicFile.appendFrom`):
   * bytes that are never read here, so the old copy's status must still
   * be the one its known hash was taken under once they are copied (any
   * write moves its change time).
   *
   * @throws {BasisChangedError} when it is not (nothing lands).
   */
  appendBasis(offset: number, length: number): number {
    const n = this.file.appendFrom(this.basis, offset, length);
    this.#unchanged();
    return n;
  }

  /**
   * Throws {@linkcode BasisChangedError} unless the old copy's status is
   * still the one its known hash was taken under.
   */
  #unchanged(): void {
    let now: string | undefined;
    try {
      now = contentStamp(this.basis.statSync());
    } catch {
      now = undefined;
    }
    if (now === undefined || now !== this.#stamp) {
      throw new BasisChangedError(this.entry.path);
    }
  }

  /**
   * {@linkcode DeltaTarget.appendBasis} on another thread, for a copy of
   * {@linkcode COPY_LATER_MIN_BYTES} or more (see
   * `AtomicFile.appendFromLater`): settles once the bytes are in place
   * and the old copy's status is checked, as there; undefined where it
   * is not done so (then `appendBasis`).
   */
  appendBasisLater(offset: number, length: number): Promise<void> | undefined {
    if (length < COPY_LATER_MIN_BYTES) return undefined;
    const copying = this.file.appendFromLater(this.basis, offset, length);
    // A copy that failed on an old copy changed meanwhile (cut short, say)
    // fails as that.
    return copying?.then(
      () => this.#unchanged(),
      (error) => {
        this.#unchanged();
        throw error;
      },
    );
  }

  /** Whether the old copy may take the new attributes itself. */
  get inPlace(): boolean {
    return this.#attributes !== undefined;
  }

  /** The temp file the new body goes to (made on first use). */
  get file(): AtomicFile {
    return this.#file ??= this.#open();
  }

  /** The temp file, if one was made. */
  get opened(): AtomicFile | undefined {
    return this.#file;
  }

  /**
   * The new file is the old copy byte for byte (its hash checked): the
   * old copy takes the entry's mode and mtime, and nothing is written or
   * renamed. False when it can't (another owner, say): then the caller
   * writes the file as usual.
   */
  keepInPlace(): boolean {
    const attributes = this.#attributes;
    if (!attributes || this.#file) return false;
    try {
      const mode = this.entry.mode & 0o7777;
      if (this.#basisMode === null || (this.#basisMode & 0o7777) !== mode) {
        attributes.chmodSync(mode);
      }
      attributes.utimeSync(this.entry.mtimeMs, this.entry.mtimeNs);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Sets attributes by `path` on the file open as `file`, each time checked
 * (by lstat, in the same synchronous turn) to still be that very file: a
 * local directory of the user's own, reached by path.
 */
class CheckedPathAttributes extends PathFile {
  readonly #path: string;
  readonly #identity: string;

  constructor(file: Deno.FsFile, path: string, identity: string) {
    super(file, path);
    this.#path = path;
    this.#identity = identity;
  }

  #check(): void {
    const info = Deno.lstatSync(this.#path);
    if (!info.isFile || fileIdentity(info) !== this.#identity) {
      throw new Error(`${this.#path} was replaced`);
    }
  }

  override chmodSync(mode: number): void {
    this.#check();
    super.chmodSync(mode);
  }

  override utimeSync(mtimeMs: number, mtimeNs?: number): void {
    this.#check();
    super.utimeSync(mtimeMs, mtimeNs);
  }
}

/** Files split into ranges that may be open at once (a hostile sender's bound). */
const MAX_PARTIAL_FILES = 256;

/** A file arriving in ranges, possibly on several streams at once. */
export interface Partial {
  /** The file's negotiated entry. */
  entry: FileEntry;
  /** Its temp file, written at offsets. */
  file: AtomicFile;
  /** Received ranges as [start, end) pairs, for the overlap check. */
  ranges: [number, number][];
  /** Bytes in so far. */
  received: number;
}

/**
 * What the sinks of one transfer share: the negotiated files, which have
 * arrived, files arriving in ranges, the totals, and how many sinks are
 * still open (the last to close checks nothing is missing). One per
 * transfer, passed to each of its {@linkcode ReceiveSink}s.
 *
 * @example
 * ```ts
 * import { FileAssembly } from "@blit/cli/internals";
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
 * const assembly = new FileAssembly("/tmp", new Map([["a", e]]), {}, 2);
 * if (assembly.take(e) !== e || assembly.open !== 2) throw new Error("example failed");
 * ```
 */
export class FileAssembly {
  /** Where files are written. */
  readonly root: TreeRoot;
  /** The negotiated files, by the path they are announced under. */
  readonly expected: ReadonlyMap<string, FileEntry> | FileTable;
  /** The sinks' options. */
  readonly options: ReceiveSinkOptions;
  /** Bodies up to this size are gathered in memory (`smallFileBytes`). */
  readonly small: number;
  /** Files and bytes committed so far, by every sink. */
  readonly stats: ReceiveStats = { files: 0, bytes: 0, resumed: 0, matched: 0 };
  /** Files already taken (a file arrives once). */
  readonly done: Set<string> = new Set();
  /** Files arriving in ranges, by path. */
  readonly partial: Map<string, Partial> = new Map();
  /**
   * Directories of a string root already checked (see `resolveInside`),
   * once per transfer: a local destination is the user's own tree, and a
   * peer can't turn a checked directory into a link during the transfer
   * (links never replace directories, deletions come after). A contained
   * root checks every walk itself.
   */
  readonly verified: Set<string> | undefined;
  /** Small files' writers (see `writers`), for a local root only. */
  readonly #pool: WritePool | undefined;
  /** Sinks still open. */
  open: number;

  /**
   * The shared state of `sinks` sinks writing exactly `expected` under
   * `root`.
   *
   * @throws {RangeError} for a bad `smallFileBytes` or sink count.
   */
  constructor(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    options: ReceiveSinkOptions,
    sinks: number,
  ) {
    const small = options.smallFileBytes ?? 1 << 20;
    if (!Number.isSafeInteger(small) || small < 0) {
      throw new RangeError(
        `smallFileBytes must be a non-negative integer, got ${small}`,
      );
    }
    if (!Number.isInteger(sinks) || sinks < 1) {
      throw new RangeError(`sinks must be a positive integer, got ${sinks}`);
    }
    this.root = root;
    this.expected = expected;
    this.options = options;
    this.small = small;
    this.open = sinks;
    this.verified = typeof root === "string" ? new Set() : undefined;
    const writers = options.writers ?? 0;
    this.#pool = typeof root === "string" && writers > 0 &&
        expected instanceof FileTable
      ? new WritePool(root, {
        workers: writers,
        verified: this.verified,
        onFile: (entry) => this.committed(entry.path, entry),
      })
      : undefined;
  }

  /**
   * Hands a small file's checked body to the writers, when there are
   * any (it is counted once written): undefined when there are none
   * (write it here), else a promise of room when they are behind.
   */
  toWriters(
    entry: FileEntry,
    body: Uint8Array,
  ): { room?: Promise<void> } | undefined {
    if (!this.#pool) return undefined;
    const room = this.#pool.add(entry, body);
    return room ? { room } : {};
  }

  /** The negotiated entry for an announced file, taken (once only). */
  take(announced: FileEntry): FileEntry {
    const expected = this.expected;
    // A compact table marks its entry taken here; a map, at commit.
    const entry = expected instanceof FileTable
      ? expected.take(announced.path)
      : expected.get(announced.path);
    if (!entry || entry.kind !== "file") {
      if (expected instanceof FileTable && expected.has(announced.path)) {
        throw new FrameProtocolError(`File ${announced.path} was sent twice`);
      }
      throw new FrameProtocolError(
        expected instanceof FileTable
          ? `File ${announced.path} was not asked for, or was already received`
          : `File ${announced.path} was not asked for`,
      );
    }
    if (this.done.has(announced.path)) {
      throw new FrameProtocolError(`File ${entry.path} was sent twice`);
    }
    if (announced.size !== entry.size) {
      throw new FrameProtocolError(
        `File ${entry.path} has ${announced.size} bytes, negotiated ${entry.size}`,
      );
    }
    // Taken once: no delta (nor a describe-again frame) can follow.
    this.options.bases?.delete(announced.path);
    this.options.onTaken?.(announced.path);
    return entry;
  }

  /**
   * A describe-again frame: only for a file whose old copy was offered
   * by its hash alone, once, before any of it arrived (its offer is
   * dropped: the file comes as a delta against the full description, or
   * whole).
   *
   * @throws {FrameProtocolError} for any other file.
   */
  describeAgain(announced: FileEntry): void {
    const key = announced.path;
    const copy = this.options.bases?.get(key);
    const onDescribeAgain = this.options.onDescribeAgain;
    if (!copy || !offeredByHash(copy.offer) || !onDescribeAgain) {
      throw new FrameProtocolError(
        `File ${key} was to be described again, but its old copy was not offered by its hash`,
      );
    }
    this.options.bases!.delete(key);
    onDescribeAgain(key);
  }

  /**
   * Counts a committed file; a compact table forgets it (the table then
   * holds only what is still to come).
   */
  committed(key: string, entry: FileEntry): void {
    if (this.expected instanceof FileTable) this.expected.delete(key);
    else this.done.add(key);
    this.stats.files++;
    this.stats.bytes += entry.size;
    this.options.onFile?.(entry);
  }

  /** The file a range belongs to: opened by its first range. */
  range(announced: FileEntry, range: FileRange): Partial {
    let part = this.partial.get(announced.path);
    if (!part) {
      if (this.partial.size >= MAX_PARTIAL_FILES) {
        throw new FrameProtocolError(
          `More than ${MAX_PARTIAL_FILES} files are arriving in ranges at once`,
        );
      }
      const entry = this.take(announced);
      part = {
        entry,
        file: AtomicFile.open(this.root, entry, { verified: this.verified }),
        ranges: [],
        received: 0,
      };
      this.partial.set(announced.path, part);
    } else if (announced.size !== part.entry.size) {
      throw new FrameProtocolError(
        `File ${announced.path} has ${announced.size} bytes, negotiated ${part.entry.size}`,
      );
    }
    const end = range.offset + range.length;
    if (part.ranges.length >= MAX_RANGES_PER_FILE) {
      throw new FrameProtocolError(
        `File ${announced.path} came in more than ${MAX_RANGES_PER_FILE} ranges`,
      );
    }
    for (const [a, b] of part.ranges) {
      if (range.offset < b && a < end) {
        throw new FrameProtocolError(
          `Range ${range.offset}+${range.length} of ${announced.path} overlaps one already sent`,
        );
      }
    }
    part.ranges.push([range.offset, end]);
    return part;
  }

  /**
   * A file resumed from its partial copy: reopened, the kept blocks
   * counted as received; the rest comes in ranges (or nothing does, when
   * every block was kept). Only as offered, once.
   */
  resume(announced: FileEntry, kept: KeptBlocks): void {
    const key = announced.path;
    const copy = this.options.resumes?.get(key);
    if (!copy) {
      throw new FrameProtocolError(
        `File ${key} was resumed, but no partial copy of it was offered`,
      );
    }
    this.options.resumes!.delete(key);
    if (
      kept.blockSize !== copy.offer.blockSize ||
      kept.blocks !== copy.offer.hashes.length / 16
    ) {
      throw new FrameProtocolError(
        `Resume of ${key} does not match the blocks offered`,
      );
    }
    if (this.partial.has(key)) {
      throw new FrameProtocolError(`File ${key} was resumed after its ranges`);
    }
    if (this.partial.size >= MAX_PARTIAL_FILES) {
      throw new FrameProtocolError(
        `More than ${MAX_PARTIAL_FILES} files are arriving in ranges at once`,
      );
    }
    const entry = this.take(announced);
    const runs = blockRuns(kept, entry.size, true);
    if (runs.length > MAX_RANGES_PER_FILE / 2) {
      throw new FrameProtocolError(`Resume of ${key} is too fragmented`);
    }
    const bytes = runs.reduce((sum, run) => sum + run.length, 0);
    const part: Partial = {
      entry,
      file: AtomicFile.resume(this.root, entry, copy.identity, runs, {
        verified: this.verified,
      }),
      ranges: runs.map((run) => [run.offset, run.offset + run.length]),
      received: 0,
    };
    this.stats.resumed += bytes;
    this.partial.set(key, part);
    this.rangeBytes(key, part, bytes);
  }

  /**
   * A file sent as a delta: only one whose old copy was described, once;
   * the old copy is opened through the contained layer (never a link)
   * and must be the very file described.
   *
   * @throws {FrameProtocolError} for a file not described.
   * @throws {BasisChangedError} when the old copy is not the one described.
   */
  delta(announced: FileEntry): DeltaTarget {
    const key = announced.path;
    const copy = this.options.bases?.get(key);
    if (!copy) {
      throw new FrameProtocolError(
        `File ${key} came as a delta, but no old copy of it was described`,
      );
    }
    this.options.bases!.delete(key);
    const entry = this.take(announced);
    let basis: ReadHandle;
    let path: string | undefined;
    try {
      if (typeof this.root === "string") {
        path = resolveInside(this.root, entry.path, {
          verified: this.verified,
        });
        // Through libc where it can (no link followed, a regular file
        // only, and a status to the nanosecond: an old copy hashed whole
        // when described is then known without reading it back).
        basis = openLocalRead(path);
      } else basis = openForRead(this.root, entry.path);
    } catch {
      throw new BasisChangedError(entry.path);
    }
    const info = openedStatus(basis);
    if (
      !info.isFile || info.size !== copy.offer.size ||
      fileIdentity(info) !== copy.identity
    ) {
      basis.close();
      throw new BasisChangedError(entry.path);
    }
    // Hashed whole when described, and not changed since.
    const known = copy.content && contentStamp(info) === copy.content.stamp
      ? copy.content
      : undefined;
    return new DeltaTarget(
      entry,
      basis,
      info,
      () => AtomicFile.open(this.root, entry, { verified: this.verified }),
      // A kernel tree's handle sets them on its descriptor; a local path's
      // by its name, checked to still be this file.
      basis instanceof KernelFile
        ? basis
        : path !== undefined && basis instanceof Deno.FsFile
        ? new CheckedPathAttributes(basis, path, copy.identity)
        : undefined,
      known,
    );
  }

  /** Counts bytes of a range; commits the file when it is whole. */
  rangeBytes(key: string, part: Partial, n: number): void {
    part.received += n;
    if (part.received < part.entry.size) return;
    this.partial.delete(key);
    part.file.commit();
    this.committed(key, part.entry);
  }

  /**
   * Commits that wait for an old copy being copied on another thread
   * (see `DeltaTarget.appendBasisLater`): `close` and `abort` wait for
   * them (a file whole and checked lands even after an abort, as one
   * committed before it); the first that failed fails `close`.
   */
  readonly #later = new Set<Promise<void>>();
  #laterFailed: { error: unknown } | undefined;

  /** Tracks `work`, a file's commit once its old copy is in place. */
  later(work: Promise<void>): void {
    const tracked: Promise<void> = work.catch((error) => {
      this.#laterFailed ??= { error };
    }).finally(() => this.#later.delete(tracked));
    this.#later.add(tracked);
  }

  async #settleLater(): Promise<void> {
    while (this.#later.size > 0) await Promise.all([...this.#later]);
  }

  /**
   * A sink closed cleanly; the last one waits for the small files' writers
   * and the commits still waiting for a copy, and checks nothing is
   * missing.
   */
  async close(): Promise<void> {
    if (--this.open > 0) return;
    await this.#settleLater();
    if (this.#laterFailed) {
      await this.abort();
      throw this.#laterFailed.error;
    }
    await this.#pool?.finish();
    let missing = this.partial.size;
    await this.abort();
    const expected = this.expected;
    if (expected instanceof FileTable) missing += expected.pending;
    else {
      for (const [path, entry] of expected) {
        if (entry.kind === "file" && !this.done.has(path)) missing++;
      }
    }
    if (missing > 0) {
      throw new FrameProtocolError(`${missing} negotiated files were not sent`);
    }
  }

  /**
   * Removes every file still arriving in ranges (a big one's partial copy
   * stays, for the next transfer to resume); stops the writers (once
   * their batches in flight are written).
   */
  async abort(): Promise<void> {
    const stopped = this.#pool?.close() ?? Promise.resolve();
    for (const part of this.partial.values()) part.file.suspend();
    this.partial.clear();
    await this.#settleLater();
    await stopped;
  }
}
