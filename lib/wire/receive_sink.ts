// The receiving sink: frame events in, files atomically on disk.
import type { FileEntry } from "../fs/entry.ts";
import { AtomicFile, writeFileAtomic } from "../fs/atomic_write.ts";
import { WritePool } from "../fs/write_pool.ts";
import type { TreeRoot } from "../fs/atomic_write.ts";
import { FileTable } from "../fs/path_table.ts";
import {
  type FileRange,
  type FrameEvent,
  FrameProtocolError,
  IntegrityError,
} from "./frame_codec.ts";
import { type ContentHasher, contentHasher, sameHash } from "../fs/hash.ts";
import { blockRuns, type KeptBlocks, type PartialCopy } from "../fs/resume.ts";

/** What a {@linkcode ReceiveSink} committed. */
export interface ReceiveStats {
  /** Files committed. */
  files: number;
  /** Body bytes committed. */
  bytes: number;
  /** Of those, bytes kept from partial copies instead of being sent again. */
  resumed: number;
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
}

/** Files split into ranges that may be open at once (a hostile sender's bound). */
const MAX_PARTIAL_FILES = 256;
/**
 * Ranges one file may arrive in (the overlap check is linear in them, so a
 * peer sending a huge file in tiny ranges is refused, not served slowly).
 * Senders cut at most this many (see `sendItems`).
 */
export const MAX_RANGES_PER_FILE = 16_384;

/** A body (or range) fully received, waiting for its hash frame. */
type Pending =
  | {
    kind: "whole";
    entry: FileEntry;
    key: string;
    /** The temp file a big body went to. */
    file?: AtomicFile;
    /** A small body, gathered or as it came. */
    body?: Uint8Array;
    /** Whether `body` is a view into the source's buffer. */
    view: boolean;
  }
  | { kind: "range"; part: Partial; key: string; length: number };

/** A file arriving in ranges, possibly on several streams at once. */
interface Partial {
  entry: FileEntry;
  file: AtomicFile;
  /** Received ranges as [start, end) pairs, for the overlap check. */
  ranges: [number, number][];
  received: number;
}

/**
 * What the sinks of one transfer share: the negotiated files, which have
 * arrived, files arriving in ranges, the totals, and how many sinks are
 * still open (the last to close checks nothing is missing).
 */
class Assembly {
  readonly root: TreeRoot;
  readonly expected: ReadonlyMap<string, FileEntry> | FileTable;
  readonly options: ReceiveSinkOptions;
  readonly small: number;
  readonly stats: ReceiveStats = { files: 0, bytes: 0, resumed: 0 };
  readonly done = new Set<string>();
  readonly partial = new Map<string, Partial>();
  /**
   * Directories of a string root already checked (see `resolveInside`),
   * once per transfer: a local destination is the user's own tree, and a
   * peer can't turn a checked directory into a link during the transfer
   * (links never replace directories, deletions come after). A contained
   * root checks every walk itself.
   */
  readonly verified: Set<string> | undefined;
  /** Small files' writers (see `writers`), for a local root only. */
  readonly pool: WritePool | undefined;
  open: number;

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
    this.pool = typeof root === "string" && writers > 0 &&
        expected instanceof FileTable
      ? new WritePool(root, {
        workers: writers,
        verified: this.verified,
        onFile: (entry) => this.committed(entry.path, entry),
      })
      : undefined;
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
    return entry;
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

  /** Counts bytes of a range; commits the file when it is whole. */
  rangeBytes(key: string, part: Partial, n: number): void {
    part.received += n;
    if (part.received < part.entry.size) return;
    this.partial.delete(key);
    part.file.commit();
    this.committed(key, part.entry);
  }

  /**
   * A sink closed cleanly; the last one waits for the small files' writers
   * and checks nothing is missing.
   */
  async close(): Promise<void> {
    if (--this.open > 0) return;
    await this.pool?.finish();
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
  abort(): Promise<void> {
    const stopped = this.pool?.close() ?? Promise.resolve();
    for (const part of this.partial.values()) part.file.suspend();
    this.partial.clear();
    return stopped;
  }
}

/** The assembly the next ReceiveSink joins (set only by `group`). */
let joining: Assembly | undefined;

/**
 * Writes received files under `root`: only paths negotiated in `expected`,
 * each at most once, with exactly the negotiated size; mode and mtime come
 * from the negotiated entry. Files go to temp names and are renamed when
 * complete, so an error or abort leaves nothing half-written under a final
 * name. Closing before the end frame, or with negotiated files missing, is
 * an error. A transfer on parallel streams has one sink per connection
 * ({@linkcode ReceiveSink.group}); big files may then arrive as ranges on
 * several of them, and are committed when every byte is in.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { ReceiveSink } from "./receive_sink.ts";
 * import { hashBytes } from "../fs/hash.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 };
 * const sink = new ReceiveSink(root, new Map([["a", e]]));
 * const bytes = new Uint8Array([1, 2]);
 * await ReadableStream.from([
 *   { type: "file" as const, entry: e }, { type: "data" as const, bytes },
 *   { type: "hash" as const, digest: await hashBytes(bytes) }, { type: "end" as const },
 * ]).pipeTo(sink);
 * if (!(sink.stats.files === 1 && Deno.statSync(`${root}/a`).size === 2)) throw new Error("example failed");
 * ```
 */
export class ReceiveSink extends WritableStream<FrameEvent | FrameEvent[]> {
  readonly #assembly: Assembly;

  /** A sink writing under `root` exactly the files in `expected`. */
  constructor(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    options: ReceiveSinkOptions = {},
  ) {
    // Made by group(): join its assembly; else a group of one.
    const assembly = joining ?? new Assembly(root, expected, options, 1);
    joining = undefined;
    const small = assembly.small;
    // This connection's file in progress: whole, or one range of one.
    let current: FileEntry | undefined;
    let currentKey = "";
    let part: Partial | undefined;
    let rangeLeft = 0;
    let rangeAt = 0;
    let rangeLength = 0;
    let file: AtomicFile | undefined;
    let buffer: Uint8Array | undefined;
    let filled = 0;
    let ended = false;
    // The writers' room, when a batch had to wait for it.
    const waits: Promise<void>[] = [];
    // Bodies are hashed as they arrive; a body (or range) is done only
    // when the hash frame after it matches.
    let hasher: ContentHasher | undefined;
    let pending: Pending | undefined;

    function commitWhole(p: Pending & { kind: "whole" }): void {
      if (p.file) {
        p.file.commit();
      } else if (assembly.pool) {
        const wait = assembly.pool.add(p.entry, p.body!);
        if (wait) waits.push(wait);
        return; // counted when a worker has written it
      } else {
        writeFileAtomic(root, p.entry, p.body!, {
          verified: assembly.verified,
        });
      }
      assembly.committed(p.key, p.entry);
    }

    /** A whole body is in: it waits for its hash. */
    function complete(entry: FileEntry, whole?: Uint8Array): void {
      pending = {
        kind: "whole",
        entry,
        key: currentKey,
        file,
        body: file ? undefined : whole ?? buffer ?? new Uint8Array(0),
        view: whole !== undefined,
      };
      file = undefined;
      buffer = undefined;
      current = undefined;
    }

    function checkHash(digest: Uint8Array): void {
      const p = pending;
      if (!p) throw new FrameProtocolError("Hash frame outside a file");
      pending = undefined;
      const path = p.kind === "whole" ? p.entry.path : p.part.entry.path;
      if (!sameHash(hasher!.digest("binary"), digest)) {
        if (p.kind === "whole") p.file?.abort();
        throw new IntegrityError(path);
      }
      if (p.kind === "whole") commitWhole(p);
      else assembly.rangeBytes(p.key, p.part, p.length);
    }

    function begin(announced: FileEntry, range?: FileRange): void {
      if (ended) throw new FrameProtocolError("File after the end frame");
      if (current || part) {
        throw new FrameProtocolError(
          `File ${announced.path} started inside ${
            (current ?? part!.entry).path
          }`,
        );
      }
      if (pending) {
        throw new FrameProtocolError(
          `File ${announced.path} started before the hash of ${pendingPath()}`,
        );
      }
      currentKey = announced.path;
      hasher!.init();
      if (range) {
        part = assembly.range(announced, range);
        rangeLeft = range.length;
        rangeAt = range.offset;
        rangeLength = range.length;
        return;
      }
      const entry = assembly.take(announced);
      current = entry;
      filled = 0;
      // Small files are gathered lazily: a body that arrives in one piece
      // is kept as the view it came in, copied only if its hash comes in
      // a later read.
      if (entry.size > small) {
        file = AtomicFile.open(root, entry, { verified: assembly.verified });
      }
      if (entry.size === 0) complete(entry);
    }

    function resume(announced: FileEntry, kept: KeptBlocks): void {
      if (ended) throw new FrameProtocolError("File after the end frame");
      if (current || part || pending) {
        throw new FrameProtocolError(
          `File ${announced.path} resumed inside another file`,
        );
      }
      assembly.resume(announced, kept);
    }

    function pendingPath(): string {
      return pending!.kind === "whole"
        ? pending!.entry.path
        : pending!.part.entry.path;
    }

    function rangeData(bytes: Uint8Array): void {
      if (bytes.length > rangeLeft) {
        throw new FrameProtocolError(
          `Range of ${part!.entry.path} got more than its bytes`,
        );
      }
      hasher!.update(bytes);
      part!.file.writeAt(bytes, rangeAt);
      rangeAt += bytes.length;
      rangeLeft -= bytes.length;
      assembly.options.onBytes?.(bytes.length);
      if (rangeLeft === 0) {
        pending = {
          kind: "range",
          part: part!,
          key: currentKey,
          length: rangeLength,
        };
        part = undefined;
      }
    }

    function data(bytes: Uint8Array): void {
      if (part) return rangeData(bytes);
      if (!current) throw new FrameProtocolError("Data outside a file");
      if (filled + bytes.length > current.size) {
        throw new FrameProtocolError(
          `File ${current.path} got more than its ${current.size} bytes`,
        );
      }
      hasher!.update(bytes);
      if (!file && !buffer && bytes.length === current.size) {
        filled = bytes.length;
        assembly.options.onBytes?.(bytes.length);
        complete(current, bytes);
        return;
      }
      if (!file && !buffer) buffer = new Uint8Array(current.size);
      if (buffer) buffer.set(bytes, filled);
      else file!.write(bytes);
      filled += bytes.length;
      assembly.options.onBytes?.(bytes.length);
      if (filled === current.size) complete(current);
    }

    // An interrupted file's partial copy (a big one's) stays for the next
    // transfer to resume: it checks each block it keeps against the
    // sender's file, so even bytes that failed their hash do no harm.
    function cleanup(): Promise<void> {
      file?.suspend();
      file = undefined;
      if (pending?.kind === "whole") pending.file?.suspend();
      pending = undefined;
      buffer = undefined;
      current = undefined;
      part = undefined;
      // A file arriving in ranges can't be finished without this stream.
      return assembly.abort();
    }
    // Set by a failed write: the sink errors once the writers stopped.
    let stopping: Promise<void> | undefined;

    function write(event: FrameEvent): void {
      try {
        if (event.type === "file") begin(event.entry, event.range);
        else if (event.type === "data") data(event.bytes);
        else if (event.type === "resume") resume(event.entry, event.kept);
        else if (event.type === "hash") checkHash(event.digest);
        else {
          if (current || part || pending) {
            throw new FrameProtocolError(
              `End frame inside ${
                current || part ? (current ?? part!.entry).path : pendingPath()
              }`,
            );
          }
          if (ended) throw new FrameProtocolError("Second end frame");
          ended = true;
        }
      } catch (error) {
        stopping = cleanup();
        throw error;
      }
    }

    function handle(chunk: FrameEvent | FrameEvent[]): Promise<void> | void {
      try {
        if (Array.isArray(chunk)) {
          for (const event of chunk) write(event);
        } else write(chunk);
      } catch (error) {
        const stopped = stopping ?? Promise.resolve();
        return stopped.then(() => {
          throw error;
        });
      }
      // The source reads again into the buffer a kept view points into.
      if (pending?.kind === "whole" && pending.view) {
        pending.body = pending.body!.slice();
        pending.view = false;
      }
      if (waits.length > 0) {
        return Promise.all(waits.splice(0)).then(() => {}, async (error) => {
          await cleanup();
          throw error;
        });
      }
    }

    // A chunk is one event, or a batch (one socket read's worth, from
    // frameSource): either way consumed before the source reads again
    // into the buffer its views point into.
    super({
      write(chunk) {
        if (hasher) return handle(chunk);
        return contentHasher().then((h) => {
          hasher = h;
          return handle(chunk);
        });
      },
      async close() {
        if (!ended) {
          await cleanup();
          throw new FrameProtocolError("Stream closed before the end frame");
        }
        try {
          await assembly.close();
        } catch (error) {
          await assembly.abort();
          throw error;
        }
      },
      abort: () => cleanup(),
    });
    this.#assembly = assembly;
  }

  /**
   * `count` sinks sharing one set of negotiated files, one per connection
   * of a transfer on parallel streams: a file may arrive whole on any of
   * them, or in ranges on several; the last sink to close checks that
   * nothing is missing.
   *
   * @example
   * ```ts
   * import { ReceiveSink } from "./receive_sink.ts";
   * import { hashBytes } from "../fs/hash.ts";
   * const root = Deno.realPathSync(Deno.makeTempDirSync());
   * const e = { path: "a", kind: "file" as const, size: 4, mtimeMs: 0, mode: 0o644 };
   * const [s1, s2] = ReceiveSink.group(root, new Map([["a", e]]), 2);
   * const range = async (offset: number, bytes: Uint8Array) => [
   *   { type: "file" as const, entry: e, range: { offset, length: bytes.length } },
   *   { type: "data" as const, bytes },
   *   { type: "hash" as const, digest: await hashBytes(bytes) },
   *   { type: "end" as const },
   * ];
   * await Promise.all([
   *   ReadableStream.from(await range(2, new Uint8Array([3, 4]))).pipeTo(s1),
   *   ReadableStream.from(await range(0, new Uint8Array([1, 2]))).pipeTo(s2),
   * ]);
   * if (Deno.readFileSync(`${root}/a`).join() !== "1,2,3,4") throw new Error("example failed");
   * ```
   * @throws {RangeError} when `count` is not a positive integer.
   */
  static group(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    count: number,
    options: ReceiveSinkOptions = {},
  ): ReceiveSink[] {
    const assembly = new Assembly(root, expected, options, count);
    return Array.from({ length: count }, () => {
      joining = assembly;
      return new ReceiveSink(root, expected, options);
    });
  }

  /** Files and bytes committed so far (by every sink of its group). */
  get stats(): ReceiveStats {
    return this.#assembly.stats;
  }
}
