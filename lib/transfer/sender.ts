// The sending role, once for push (the client) and pull (the daemon):
// source entries -> manifest -> the receiver's need list -> file bytes
// over the TCP data plane or as gRPC FileData chunks.
import { closeQuietly } from "../wire/socket.ts";
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/tree.ts";
import type { SendWindow } from "../rpc/call_io.ts";
import { type NeededFile, sendFrames } from "../wire/frame_io.ts";
import { blockRuns, type ResumeOffer, validOffer } from "../fs/resume.ts";
import { type BasisOffer, offeredByHash } from "../delta/basis.ts";
import type { FileDataChunk } from "../wire/grpc_data.ts";
import type { ZeroCopy } from "../wire/zero_copy.ts";
import type { Bandwidth } from "../wire/bandwidth.ts";
import { WorkQueue } from "./_queue.ts";
import type { ManifestMessage, WireStats } from "./peer.ts";
import type { DirTime } from "../fs/apply_tree.ts";
import type { CompressOptions } from "../wire/compressed_stream.ts";
import { ioTurn } from "../timer.ts";
import { loadLibc } from "../fs/_libc.ts";
import { primeNativeHash } from "../fs/native_hash.ts";
import { primeZstd } from "../wire/zstd.ts";

/** Options for {@linkcode Sender}. */
export interface SenderOptions {
  /**
   * Directories already checked (see `resolveInside`): only for a sender
   * reading its own trusted tree. Default: none (every path checked).
   */
  verified?: Set<string>;
  /**
   * Sends big file bodies by sendfile on the data plane (see
   * `loadZeroCopy`). Default: none (big reads and writes).
   */
  zeroCopy?: ZeroCopy;
  /** Gives up on a receiver that takes nothing this long. Default: 120000 ms. */
  idleMs?: number;
  /**
   * Compresses the data streams (see compressed_stream.ts). Default: none.
   */
  compress?: CompressOptions;
}

/** Entries per manifest message. */
export const MANIFEST_BATCH = 512;

/**
 * Or fewer, once a batch has waited this long (ms) for its entries: a walk
 * that reads its files (hash hints) does not hold the receiver back.
 */
const BATCH_MS = 4;

/** Files a sender offers beyond the receiver's reported progress. */
const OFFER_AHEAD = 65_536;

/**
 * The files offered and not yet needed or passed over, in manifest order
 * with their ordinals: needs come in that order, so a need drops the
 * files before it, and the receiver's `decided` count drops the rest.
 * Holds what is in flight, not the tree.
 */
class Offered {
  #ordinals: number[] = [];
  #entries: FileEntry[] = [];
  #head = 0;

  push(ordinal: number, entry: FileEntry): void {
    this.#ordinals.push(ordinal);
    this.#entries.push(entry);
  }

  /** The file `path`, taken, and every file before it dropped; or undefined. */
  take(path: string): FileEntry | undefined {
    while (this.#head < this.#entries.length) {
      const entry = this.#drop();
      if (entry.path === path) return entry;
    }
    return undefined;
  }

  /** Drops the files before ordinal `decided`. */
  forget(decided: number): void {
    while (
      this.#head < this.#entries.length &&
      this.#ordinals[this.#head] < decided
    ) this.#drop();
  }

  get size(): number {
    return this.#entries.length - this.#head;
  }

  #drop(): FileEntry {
    const entry = this.#entries[this.#head];
    this.#entries[this.#head] = undefined as unknown as FileEntry;
    this.#head++;
    // Compact now and then: what is held is what waits.
    if (this.#head > 4096 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#ordinals = this.#ordinals.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }
}

/**
 * The send side of a transfer. `offer()` streams the manifest; `need()`
 * takes the receiver's need list a path at a time (in manifest order),
 * `forget()` its progress, and `endNeeds()` closes it; `sendTcp()` or `sendGrpc()` moves exactly the needed files' bytes,
 * each file as soon as it is needed (bytes flow while the manifest is
 * still being compared).
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { Sender } from "@blit/cli/mod";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const sender = new Sender(root);
 * await sender.offer([{ path: "a", kind: "file", size: 2, mtimeMs: 0, mode: 0o644 }], () => Promise.resolve());
 * if (!sender.need("a") || sender.need("a") || sender.neededBytes !== 2) throw new Error("example failed");
 * if (sender.held !== 0) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class Sender {
  readonly #root: TreeRoot;
  readonly #options: SenderOptions;
  readonly #offered = new Offered();
  /** Whether the receiver reports `decided` (older ones never do). */
  #heard = false;
  #room: (() => void) | undefined;
  readonly #queue = new WorkQueue<NeededFile>();
  /**
   * Files offered by their old copy's hash alone whose content is
   * another: the receiver names each again, with a full description.
   */
  readonly #again = new Map<string, FileEntry>();
  #needed = 0;
  #bytes = 0;
  #resumed = 0;
  /** Files offered by their old copy's hash, and those of them that differed. */
  #byHash = 0;
  #differed = 0;
  readonly #wire: WireStats = { dataBytes: 0, compressedBlocks: 0, deltas: 0 };

  /** A sender reading files under `root`. */
  constructor(root: TreeRoot, options: SenderOptions = {}) {
    this.#root = root;
    this.#options = options;
  }

  /**
   * Streams the manifest of `entries` through `write`, in batches of 512
   * and then its end; remembers each file until the receiver needs it or
   * has decided past it.
   */
  async offer(
    entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
    write: (message: ManifestMessage) => Promise<void>,
    root?: DirTime,
  ): Promise<void> {
    const offered = this.#offered;
    let ordinal = 0;
    let batch: FileEntry[] = [];
    let began = 0;
    for await (const entry of entries) {
      // A receiver that reports its progress is kept at most this far
      // behind: the files in flight are what the sender holds.
      while (
        this.#heard && offered.size >= OFFER_AHEAD && !this.#queue.closed
      ) {
        await new Promise<void>((resolve) => this.#room = resolve);
      }
      if (entry.kind === "file") offered.push(ordinal, entry);
      ordinal++;
      if (batch.push(entry) === 1) began = performance.now();
      if (
        batch.length >= MANIFEST_BATCH ||
        (batch.length % 16 === 0 && performance.now() - began >= BATCH_MS)
      ) {
        await write({ kind: "manifest", entries: batch });
        batch = [];
        // A walk of cached entries never waits for I/O: let the event
        // loop poll it, so the batch leaves now, not after the walk.
        await ioTurn();
      }
    }
    if (batch.length > 0) await write({ kind: "manifest", entries: batch });
    await write({
      kind: "manifestEnd",
      count: ordinal,
      ...(root ? { root } : {}),
    });
  }

  /**
   * Marks the offered file `path` needed; the files offered before it and
   * not needed are forgotten (needs come in manifest order). With a
   * `resume` offer for a partial copy the receiver holds, the data plane
   * sends only the blocks that differ (an offer that can't describe this
   * file is ignored: the whole file goes); with a `basis` (a checked
   * description of the receiver's old copy), the file goes as a delta.
   * A file the data path sent a describe-again frame for is named once
   * more, out of order: with a full description it goes as a delta, else
   * whole. Returns false when it was never offered, was already needed
   * (and not asked for again), or comes out of order.
   */
  need(path: string, resume?: ResumeOffer, basis?: BasisOffer): boolean {
    // Named again after a describe-again frame: with the full description
    // (or none: then whole; never by hash again).
    const again = this.#again.get(path);
    if (again) {
      this.#again.delete(path);
      this.#queue.push(
        basis && !offeredByHash(basis) ? { ...again, basis } : again,
      );
      return true;
    }
    const entry = this.#offered.take(path);
    this.#wake();
    if (!entry) return false;
    this.#needed++;
    this.#bytes += entry.size;
    if (resume && validOffer(resume, entry.size)) {
      this.#queue.push({ ...entry, resume });
    } else if (basis && entry.kind === "file") {
      this.#wire.deltas++;
      if (offeredByHash(basis)) this.#byHash++;
      this.#queue.push({ ...entry, basis });
    } else this.#queue.push(entry);
    return true;
  }

  /**
   * Whether `path` waits to be named again (the data path sent a
   * describe-again frame for it): its next need is not a new file.
   */
  askedAgain(path: string): boolean {
    return this.#again.has(path);
  }

  /**
   * The receiver has decided the first `decided` manifest entries: the
   * files among them it did not need are forgotten.
   */
  forget(decided: number): void {
    if (decided > 0) this.#heard = true;
    this.#offered.forget(decided);
    this.#wake();
  }

  /** Lets a waiting offer go on once half the files in flight are decided. */
  #wake(): void {
    if (
      this.#room &&
      (this.#offered.size < OFFER_AHEAD / 2 || this.#queue.closed)
    ) {
      const room = this.#room;
      this.#room = undefined;
      room();
    }
  }

  /** Offered files still remembered (in flight to the receiver's decision). */
  get held(): number {
    return this.#offered.size;
  }

  /** The need list is complete: the data path ends after the last file. */
  endNeeds(): void {
    this.#queue.close();
    this.#wake();
  }

  /** Gives up: the data path stops at its next file with `error`. */
  fail(error: unknown): void {
    this.#queue.fail(error);
    this.#wake();
  }

  /** Files needed. */
  get needed(): number {
    return this.#needed;
  }

  /** Body bytes needed. */
  get neededBytes(): number {
    return this.#bytes;
  }

  /** Bytes the receiver kept from partial copies (not sent again). */
  get resumedBytes(): number {
    return this.#resumed;
  }

  /** Whether its data streams are compressed (then its manifest is too). */
  get compresses(): boolean {
    return this.#options.compress !== undefined;
  }

  /**
   * Binds the native functions sending calls (libc's read, libxxhash,
   * libzstd when compressing), ~0.2-0.5 ms each the first time: for the
   * wait between the manifest and the need list, so the first needed
   * files don't pay for it. Once a process (later calls cost nothing).
   */
  async prime(): Promise<void> {
    loadLibc()?.prime(["read"]);
    primeNativeHash();
    if (this.compresses) await primeZstd();
  }

  /**
   * Files the receiver offered by their old copy's hash that held this
   * very content (sent as one copy of it all): their mtime had changed,
   * their bytes had not.
   */
  get sameByHash(): number {
    return Math.max(0, this.#byHash - this.#differed);
  }

  /** What went on the wire so far. */
  get wire(): WireStats {
    return this.#wire;
  }

  /**
   * The needed files' entries, in need-list order, as they are needed;
   * ends after `endNeeds()`. One consumer: the data path.
   */
  entries(): AsyncIterable<NeededFile> {
    return this.#queue;
  }

  /**
   * Sends the needed files' frames on the data-plane connections (parallel
   * streams share the work, big files in ranges), then closes them.
   */
  async sendTcp(
    conns: Deno.Conn | readonly Deno.Conn[],
    options: {
      onBytes?: (n: number) => void;
      onWire?: (n: number) => void;
      bandwidth?: Bandwidth;
    } = {},
  ): Promise<void> {
    const all = Array.isArray(conns) ? conns : [conns as Deno.Conn];
    try {
      await sendFrames(all, this.#root, this.entries(), {
        verified: this.#options.verified,
        onBytes: options.onBytes,
        zeroCopy: this.#options.zeroCopy,
        idleMs: this.#options.idleMs,
        idle: () => this.#queue.idle,
        onResumed: (n) => this.#resumed += n,
        bandwidth: options.bandwidth,
        compress: this.#options.compress,
        onWire: (n) => {
          this.#wire.dataBytes += n;
          options.onWire?.(n);
        },
        onCompressed: (stats) =>
          this.#wire.compressedBlocks += stats.compressed,
        onDescribeAgain: (entry) => {
          this.#differed++;
          this.#again.set(entry.path, entry);
        },
      });
    } finally {
      for (const conn of all) closeQuietly(conn);
    }
  }

  /**
   * Sends the needed files as chunks through `write`, at most a window
   * ahead of the receiver's acknowledgements.
   */
  async sendGrpc(
    window: SendWindow,
    write: (chunk: FileDataChunk) => Promise<void>,
    options: { bandwidth?: Bandwidth } = {},
  ): Promise<void> {
    // Under a limit, chunks small enough to leave several times a second.
    const chunkSize = options.bandwidth
      ? Math.min(1 << 20, options.bandwidth.piece)
      : undefined;
    // Loaded only here: most transfers never fall back to gRPC data.
    const { chunkWireBytes, fileDataChunks } = await import(
      "../wire/grpc_data.ts"
    );
    for await (
      const chunk of fileDataChunks(this.#root, this.entries(), { chunkSize })
    ) {
      if (chunk.resume) this.#resumed += keptBytes(chunk.resume, chunk);
      await window.reserve(chunk.data.length);
      await options.bandwidth?.take(chunk.data.length);
      this.#wire.dataBytes += chunkWireBytes(chunk);
      await write(chunk);
    }
  }
}

/** Bytes a resumed file keeps: all but the runs still to send. */
function keptBytes(
  kept: NonNullable<FileDataChunk["resume"]>,
  chunk: FileDataChunk,
): number {
  const size = chunk.header?.size ?? 0;
  return size - blockRuns(kept, size, false).reduce((n, r) => n + r.length, 0);
}
