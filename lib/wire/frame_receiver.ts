// The receiving end of a data connection: frame events in, files
// atomically on disk. A transfer drives it itself (no stream: a command
// that makes none never loads the runtime's streams code); receive_sink.ts
// has it as a Web Streams stage, ReceiveSink.
import type { FileEntry } from "../fs/entry.ts";
import { AtomicFile, writeFileAtomic } from "../fs/atomic_file.ts";
import type { TreeRoot } from "../fs/tree.ts";
import type { FileTable } from "../fs/path_table.ts";
import {
  type FileRange,
  type FrameEvent,
  FrameProtocolError,
  IntegrityError,
} from "./frame_codec.ts";
import { type ContentHasher, contentHasher, sameHash } from "../fs/hash.ts";
import type { KeptBlocks } from "../fs/resume.ts";
import { closeReplaced } from "../fs/kernel_file.ts";
import { DeltaRangeError, DeltaRebuild } from "../delta/rebuild.ts";
import {
  type DeltaTarget,
  FileAssembly,
  type Partial,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./file_assembly.ts";

/**
 * Runs a step of a delta's rebuild: an instruction out of bounds is the
 * sender breaking the protocol.
 */
function inBounds<T>(path: string, step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (!(error instanceof DeltaRangeError)) throw error;
    throw new FrameProtocolError(`Delta of ${path}: ${error.message}`);
  }
}

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

/**
 * One connection's receiving end: writes received files under `root`, only
 * paths negotiated in `expected`, each at most once, with exactly the
 * negotiated size; mode and mtime come from the negotiated entry. The file
 * (or range) in progress on it is checked frame by frame; what the
 * connections of a transfer share is their {@linkcode FileAssembly} (see
 * {@linkcode FrameReceiver.group}). Files go to temp names and are renamed
 * when complete, so an error or abort leaves nothing half-written under a
 * final name. Closing before the end frame, or with negotiated files
 * missing, is an error. Feed it with `write` (awaiting each), then `close`,
 * or `abort` to give up; `ReceiveSink` is it as a stream stage.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { FrameReceiver } from "@blit/cli/mod";
 * import { hashBytes } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 };
 * const [receiver] = FrameReceiver.group(root, new Map([["a", e]]), 1);
 * const bytes = new Uint8Array([1, 2]);
 * await receiver.write([
 *   { type: "file", entry: e }, { type: "data", bytes },
 *   { type: "hash", digest: await hashBytes(bytes) }, { type: "end" },
 * ]);
 * await receiver.close();
 * if (receiver.stats.files !== 1 || Deno.statSync(`${root}/a`).size !== 2) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class FrameReceiver
  implements UnderlyingSink<FrameEvent | FrameEvent[]> {
  readonly #root: TreeRoot;
  readonly #assembly: FileAssembly;
  // This connection's file in progress: whole, or one range of one.
  #current: FileEntry | undefined;
  #currentKey = "";
  #part: Partial | undefined;
  #rangeLeft = 0;
  #rangeAt = 0;
  #rangeLength = 0;
  #file: AtomicFile | undefined;
  #buffer: Uint8Array | undefined;
  #filled = 0;
  #ended = false;
  /** The writers' room, when a batch had to wait for it. */
  readonly #waits: Promise<void>[] = [];
  /**
   * Bodies are hashed as they arrive; a body (or range) is done only when
   * the hash frame after it matches.
   */
  #hasher: ContentHasher | undefined;
  #pending: Pending | undefined;
  /** Set by a failed write: the sink errors once the writers stopped. */
  #stopping: Promise<void> | undefined;
  /** A file being rebuilt from its old copy (a delta), and how. */
  #delta:
    | { target: DeltaTarget; key: string; rebuild: DeltaRebuild }
    | undefined;

  /** One connection's end under `root`, sharing `assembly` with the rest. */
  constructor(root: TreeRoot, assembly: FileAssembly) {
    this.#root = root;
    this.#assembly = assembly;
  }

  /**
   * One receiver per connection of a transfer on `count` parallel streams,
   * sharing the negotiated files (as `ReceiveSink.group` makes stream
   * stages: whole files on any, ranges on several, the last to close
   * checks nothing is missing).
   *
   * @throws {RangeError} when `count` is not a positive integer.
   */
  static group(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    count: number,
    options: ReceiveSinkOptions = {},
  ): FrameReceiver[] {
    const assembly = new FileAssembly(root, expected, options, count);
    return Array.from(
      { length: count },
      () => new FrameReceiver(root, assembly),
    );
  }

  /** Files and bytes committed so far (by every receiver of its group). */
  get stats(): ReceiveStats {
    return this.#assembly.stats;
  }

  /**
   * Takes one event, or a batch (one socket read's worth, from
   * `frameBatches`): either way consumed before the source reads again
   * into the buffer its views point into. Wait for a returned promise
   * before the next.
   *
   * @throws {FrameProtocolError} for a frame out of place (a file not
   * negotiated, too long, a bad delta instruction); `IntegrityError` for a
   * hash that does not match. What it had begun is cleaned up first.
   */
  write(chunk: FrameEvent | FrameEvent[]): Promise<void> | void {
    if (this.#hasher) return this.#handle(chunk);
    return contentHasher().then((h) => {
      this.#hasher = h;
      return this.#handle(chunk);
    });
  }

  /**
   * The connection ended: the end frame must have come; the last of its
   * group to close checks that every negotiated file arrived.
   *
   * @throws {FrameProtocolError} before the end frame, or with files
   * missing.
   */
  async close(): Promise<void> {
    if (!this.#ended) {
      await this.#cleanup();
      throw new FrameProtocolError("Stream closed before the end frame");
    }
    try {
      await this.#assembly.close();
    } catch (error) {
      await this.#assembly.abort();
      throw error;
    }
  }

  /** Gives up: what this connection had begun is removed. */
  abort(): Promise<void> {
    return this.#cleanup();
  }

  #handle(chunk: FrameEvent | FrameEvent[]): Promise<void> | void {
    try {
      if (Array.isArray(chunk)) {
        for (const event of chunk) this.#event(event);
      } else this.#event(chunk);
    } catch (error) {
      const stopped = this.#stopping ?? Promise.resolve();
      return stopped.then(() => {
        throw error;
      });
    }
    // The source reads again into the buffer a kept view points into.
    const pending = this.#pending;
    if (pending?.kind === "whole" && pending.view) {
      pending.body = pending.body!.slice();
      pending.view = false;
    }
    if (this.#waits.length > 0) {
      return Promise.all(this.#waits.splice(0)).then(
        () => {},
        async (error) => {
          await this.#cleanup();
          throw error;
        },
      );
    }
  }

  #event(event: FrameEvent): void {
    try {
      if (event.type === "file") this.#begin(event.entry, event.range);
      else if (event.type === "data") this.#data(event.bytes);
      else if (event.type === "resume") this.#resume(event.entry, event.kept);
      else if (event.type === "hash") this.#checkHash(event.digest);
      else if (event.type === "delta") this.#beginDelta(event.entry);
      else if (event.type === "copy") this.#copy(event.offset, event.length);
      else if (event.type === "describe") this.#describeAgain(event.entry);
      else this.#end();
    } catch (error) {
      this.#stopping = this.#cleanup();
      throw error;
    }
  }

  #end(): void {
    if (this.#current || this.#part || this.#pending || this.#delta) {
      throw new FrameProtocolError(`End frame inside ${this.#openPath()}`);
    }
    if (this.#ended) throw new FrameProtocolError("Second end frame");
    this.#ended = true;
  }

  /** The file in progress, or the one whose hash is awaited. */
  #openPath(): string {
    if (this.#delta) return this.#delta.target.entry.path;
    if (this.#current || this.#part) {
      return (this.#current ?? this.#part!.entry).path;
    }
    const pending = this.#pending!;
    return pending.kind === "whole"
      ? pending.entry.path
      : pending.part.entry.path;
  }

  #begin(announced: FileEntry, range?: FileRange): void {
    if (this.#ended) throw new FrameProtocolError("File after the end frame");
    if (this.#current || this.#part || this.#delta) {
      throw new FrameProtocolError(
        `File ${announced.path} started inside ${this.#openPath()}`,
      );
    }
    if (this.#pending) {
      throw new FrameProtocolError(
        `File ${announced.path} started before the hash of ${this.#openPath()}`,
      );
    }
    this.#currentKey = announced.path;
    this.#hasher!.init();
    if (range) {
      this.#part = this.#assembly.range(announced, range);
      this.#rangeLeft = range.length;
      this.#rangeAt = range.offset;
      this.#rangeLength = range.length;
      return;
    }
    const entry = this.#assembly.take(announced);
    this.#current = entry;
    this.#filled = 0;
    // Small files are gathered lazily: a body that arrives in one piece is
    // kept as the view it came in, copied only if its hash comes in a
    // later read.
    if (entry.size > this.#assembly.small) {
      this.#file = AtomicFile.open(this.#root, entry, {
        verified: this.#assembly.verified,
      });
    }
    if (entry.size === 0) this.#complete(entry);
  }

  #resume(announced: FileEntry, kept: KeptBlocks): void {
    if (this.#ended) throw new FrameProtocolError("File after the end frame");
    if (this.#current || this.#part || this.#pending || this.#delta) {
      throw new FrameProtocolError(
        `File ${announced.path} resumed inside another file`,
      );
    }
    this.#assembly.resume(announced, kept);
  }

  // A delta: the new body is rebuilt in a temp file from copies of the
  // old copy and literal data, hashed whole, and committed on its hash.
  #beginDelta(announced: FileEntry): void {
    if (this.#ended) throw new FrameProtocolError("File after the end frame");
    if (this.#current || this.#part || this.#pending || this.#delta) {
      throw new FrameProtocolError(
        `File ${announced.path} started inside another file`,
      );
    }
    const target = this.#assembly.delta(announced);
    const rebuild = new DeltaRebuild(
      target.basis,
      target.basisSize,
      target.entry.size,
      (bytes) => target.file.write(bytes),
      this.#hasher!,
      target.inPlace,
      target.known,
      target.knownState && {
        state: target.knownState,
        copy: (offset, length) => target.appendBasis(offset, length),
        copyLater: (offset, length) => target.appendBasisLater(offset, length),
      },
    );
    this.#delta = { target, key: announced.path, rebuild };
  }

  // The sender's file is not the content of the old copy offered by its
  // hash: the receiver describes the old copy in full and names it again.
  #describeAgain(announced: FileEntry): void {
    if (this.#ended) throw new FrameProtocolError("File after the end frame");
    if (this.#current || this.#part || this.#pending || this.#delta) {
      throw new FrameProtocolError(
        `File ${announced.path} to be described again inside another file`,
      );
    }
    this.#assembly.describeAgain(announced);
  }

  #copy(offset: number, length: number): void {
    const delta = this.#delta;
    if (!delta) throw new FrameProtocolError("Copy outside a delta");
    inBounds(delta.target.entry.path, () => delta.rebuild.copy(offset, length));
  }

  #literal(bytes: Uint8Array): void {
    const delta = this.#delta!;
    inBounds(delta.target.entry.path, () => delta.rebuild.literal(bytes));
    this.#assembly.options.onBytes?.(bytes.length);
  }

  #endDelta(digest: Uint8Array): void {
    const { target, key, rebuild } = this.#delta!;
    this.#delta = undefined;
    let replaced = false;
    let later = false;
    try {
      let mine: Uint8Array;
      try {
        mine = inBounds(target.entry.path, () => rebuild.finish());
      } catch (error) {
        target.opened?.abort();
        throw error;
      }
      if (!sameHash(mine, digest)) {
        target.opened?.abort();
        throw new IntegrityError(target.entry.path);
      }
      if (target.entry.size > target.basisSize) {
        this.#assembly.options.onGrown?.(key, rebuild.appended);
      }
      // The old copy itself, byte for byte: it takes the new mode and
      // mtime where it is (no copy, no rename); else the rebuilt file
      // (anything deferred written first) goes into place.
      if (!rebuild.unchanged || !target.keepInPlace()) {
        try {
          inBounds(target.entry.path, () => rebuild.materialize());
        } catch (error) {
          target.opened?.abort();
          throw error;
        }
        // The old copy still being copied in: committed once it is, while
        // this connection goes on.
        const pending = rebuild.pending;
        if (pending) {
          later = true;
          this.#assembly.later(
            this.#commitLater(target, key, rebuild, pending),
          );
          return;
        }
        target.file.commit();
        replaced = true;
      }
    } finally {
      // The old copy the new file replaced frees its pages at its last
      // close: a big one's is not waited for.
      if (replaced) closeReplaced(target.basis, target.basisSize);
      else if (!later) target.basis.close();
    }
    this.#assembly.stats.matched += rebuild.matched;
    this.#assembly.committed(key, target.entry);
  }

  /** A delta's commit once its old copy is in place (see `#endDelta`). */
  async #commitLater(
    target: DeltaTarget,
    key: string,
    rebuild: DeltaRebuild,
    pending: Promise<void>,
  ): Promise<void> {
    let replaced = false;
    try {
      try {
        await pending;
      } catch (error) {
        target.opened?.abort();
        throw error;
      }
      // Whole and checked: it lands even if the transfer has failed since
      // (as a file committed before the failure would have).
      target.file.commit();
      replaced = true;
    } finally {
      if (replaced) closeReplaced(target.basis, target.basisSize);
      else target.basis.close();
    }
    this.#assembly.stats.matched += rebuild.matched;
    this.#assembly.committed(key, target.entry);
  }

  #data(bytes: Uint8Array): void {
    if (this.#part) return this.#rangeData(bytes);
    if (this.#delta) return this.#literal(bytes);
    const current = this.#current;
    if (!current) throw new FrameProtocolError("Data outside a file");
    if (this.#filled + bytes.length > current.size) {
      throw new FrameProtocolError(
        `File ${current.path} got more than its ${current.size} bytes`,
      );
    }
    this.#hasher!.update(bytes);
    const onBytes = this.#assembly.options.onBytes;
    if (!this.#file && !this.#buffer && bytes.length === current.size) {
      this.#filled = bytes.length;
      onBytes?.(bytes.length);
      this.#complete(current, bytes);
      return;
    }
    if (!this.#file && !this.#buffer) {
      this.#buffer = new Uint8Array(current.size);
    }
    if (this.#buffer) this.#buffer.set(bytes, this.#filled);
    else this.#file!.write(bytes);
    this.#filled += bytes.length;
    onBytes?.(bytes.length);
    if (this.#filled === current.size) this.#complete(current);
  }

  #rangeData(bytes: Uint8Array): void {
    const part = this.#part!;
    if (bytes.length > this.#rangeLeft) {
      throw new FrameProtocolError(
        `Range of ${part.entry.path} got more than its bytes`,
      );
    }
    this.#hasher!.update(bytes);
    part.file.writeAt(bytes, this.#rangeAt);
    this.#rangeAt += bytes.length;
    this.#rangeLeft -= bytes.length;
    this.#assembly.options.onBytes?.(bytes.length);
    if (this.#rangeLeft === 0) {
      this.#pending = {
        kind: "range",
        part,
        key: this.#currentKey,
        length: this.#rangeLength,
      };
      this.#part = undefined;
    }
  }

  /** A whole body is in: it waits for its hash. */
  #complete(entry: FileEntry, whole?: Uint8Array): void {
    const file = this.#file;
    this.#pending = {
      kind: "whole",
      entry,
      key: this.#currentKey,
      file,
      body: file ? undefined : whole ?? this.#buffer ?? new Uint8Array(0),
      view: whole !== undefined,
    };
    this.#file = undefined;
    this.#buffer = undefined;
    this.#current = undefined;
  }

  #checkHash(digest: Uint8Array): void {
    if (this.#delta) return this.#endDelta(digest);
    const p = this.#pending;
    if (!p) throw new FrameProtocolError("Hash frame outside a file");
    this.#pending = undefined;
    const path = p.kind === "whole" ? p.entry.path : p.part.entry.path;
    if (!sameHash(this.#hasher!.digest("binary"), digest)) {
      if (p.kind === "whole") p.file?.abort();
      throw new IntegrityError(path);
    }
    if (p.kind === "whole") this.#commitWhole(p);
    else this.#assembly.rangeBytes(p.key, p.part, p.length);
  }

  #commitWhole(p: Pending & { kind: "whole" }): void {
    const assembly = this.#assembly;
    const queued = p.file ? undefined : assembly.toWriters(p.entry, p.body!);
    if (p.file) {
      p.file.commit();
    } else if (queued) {
      if (queued.room) this.#waits.push(queued.room);
      return; // counted when a worker has written it
    } else {
      writeFileAtomic(this.#root, p.entry, p.body!, {
        verified: assembly.verified,
      });
    }
    assembly.committed(p.key, p.entry);
  }

  // An interrupted file's partial copy (a big one's) stays for the next
  // transfer to resume: it checks each block it keeps against the
  // sender's file, so even bytes that failed their hash do no harm.
  #cleanup(): Promise<void> {
    if (this.#delta) {
      // (An old copy still being copied in goes to a file no longer there.)
      this.#delta.target.basis.close();
      this.#delta.target.opened?.suspend();
      this.#delta = undefined;
    }
    this.#file?.suspend();
    this.#file = undefined;
    if (this.#pending?.kind === "whole") this.#pending.file?.suspend();
    this.#pending = undefined;
    this.#buffer = undefined;
    this.#current = undefined;
    this.#part = undefined;
    // A file arriving in ranges can't be finished without this stream.
    return this.#assembly.abort();
  }
}
