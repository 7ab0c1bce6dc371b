// The socket ends of a transfer, with one reused buffer per direction:
// FrameSender (work items in, frames out on the socket; frame_sink.ts has
// it as a Web Streams stage, FrameSink) and frameSource (frames in from
// the socket, events out in batches). A transfer drives the sender
// itself: a command that never makes a stream never loads the runtime's
// streams code (~6 ms of a one-file push here).
//
// frame_stream.ts has the same codec as byte-chunk stages, which allocate
// a fresh buffer per chunk (a page fault per 4 KiB on first touch); these
// move bulk bytes in big reads and writes instead, and are what blit runs.
import type { FileEntry } from "../fs/entry.ts";
import { MAX_PATH_BYTES } from "../fs/safe_path.ts";
import { asciiInto } from "../text.ts";
import { after, type Timer } from "../timer.ts";
import type { TreeRoot } from "../fs/tree.ts";
import {
  copiesDue,
  COPY_FRAME_BYTES,
  encodeEnd,
  encodeResume,
  fileHeaderSize,
  type FileRange,
  type FrameEvent,
  HASH_BYTES,
  LITERAL_HEADER_BYTES,
  MAX_RANGES_PER_FILE,
  writeCopy,
  writeDeltaHeader,
  writeDescribeAgain,
  writeFileHeader,
  writeHash,
  writeLiteralHeader,
} from "./frame_codec.ts";
import { type BasisOffer, ChunkDigest, offeredByHash } from "../delta/basis.ts";
import {
  CompressingWriter,
  type CompressOptions,
  type CompressStats,
  decompressingReader,
} from "./compressed_stream.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import type { FrameReceiver } from "./frame_receiver.ts";
import {
  hashBody,
  readEvents,
  readFull,
  type ReadItem,
} from "./file_reader.ts";
import { openForRead } from "../fs/contained_root.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";
import { writeAll } from "./socket.ts";
import { giveBuffer, takeBuffer } from "./buffer_pool.ts";
import type { ZeroCopy } from "./zero_copy.ts";
import type { Bandwidth } from "./bandwidth.ts";
import { blockRuns, keptBlocks, type ResumeOffer } from "../fs/resume.ts";

const encoder = new TextEncoder();

/** Part of a big file's body, sent as a range frame (parallel streams). */
export interface RangeItem {
  /** The whole file's entry. */
  entry: FileEntry;
  /** The part this item sends. */
  range: FileRange;
}

/**
 * A file the receiver needs; with `resume`, it holds a partial copy and
 * the sender keeps the blocks that match (see resume.ts); with `basis`,
 * it holds an older copy and the file goes as a delta (see lib/delta).
 */
export type NeededFile = FileEntry & {
  resume?: ResumeOffer;
  basis?: BasisOffer;
};

/** A file the receiver holds an older copy of: sent as a delta. */
export interface DeltaItem {
  /** The whole file's entry. */
  entry: FileEntry;
  /** The receiver's description of its old copy. */
  basis: BasisOffer;
}

/** A file the receiver has a partial copy of: resume frame, then the rest. */
export interface ResumeItem {
  /** The whole file's entry. */
  entry: FileEntry;
  /** The receiver's offer. */
  resume: ResumeOffer;
}

/**
 * What a {@linkcode FrameSender} takes: an entry, a batch, a range, or a
 * file to resume.
 */
export type SendItem =
  | FileEntry
  | FileEntry[]
  | RangeItem
  | ResumeItem
  | DeltaItem;

/** Options for {@linkcode sendFrames}. */
export interface SendFramesOptions {
  /** Buffer size. Default: 1 MiB. */
  bufferSize?: number;
  /** Called with body byte counts as they are read (progress). */
  onBytes?: (n: number) => void;
  /**
   * Directories already checked on this side (see `resolveInside`). Only
   * for a sender reading its own trusted tree; the daemon never passes one.
   */
  verified?: Set<string>;
  /**
   * Sends bodies of at least `zeroCopyMin` bytes by sendfile (see
   * zero_copy.ts); the frames are the same. Default: none (big reads and
   * writes).
   */
  zeroCopy?: ZeroCopy;
  /** Smallest body sent by `zeroCopy`. Default: 256 KiB. */
  zeroCopyMin?: number;
  /** Gives up on a peer that takes nothing for this long. Default: 120000 ms. */
  idleMs?: number;
  /**
   * Whether the source of entries has none ready (the receiver is still
   * deciding): buffered frames and partial batches then leave at once
   * instead of waiting for a full buffer, so a receiver pacing itself on
   * what has arrived always gets it. Default: never idle (a source that
   * never waits on the peer).
   */
  idle?: () => boolean;
  /** Told the bytes each resumed file keeps from the receiver's copy. */
  onResumed?: (n: number) => void;
  /**
   * A limit shared by every stream (`--bwlimit`); bodies then go by
   * reads and writes, never by sendfile. Default: none.
   */
  bandwidth?: Bandwidth;
  /**
   * Compresses the stream (see compressed_stream.ts); bodies then go by
   * reads and writes, never by sendfile. Default: none.
   */
  compress?: CompressOptions;
  /** Told what compression did, when the sink closes. */
  onCompressed?: (stats: CompressStats) => void;
  /** Told the bytes put on the connection (after compression). */
  onWire?: (n: number) => void;
  /**
   * Told each file offered by its old copy's hash alone whose content is
   * another (a describe-again frame is about to go): the receiver names
   * it again with a full description. Default: such files are refused.
   */
  onDescribeAgain?: (entry: FileEntry) => void;
}

/**
 * The sending end of a data connection: writes each work item's frames
 * (a regular file's header and body, or a range, a resumed or a delta
 * file; other entries are ignored) to `out` and, on close, the end frame
 * and a half-close. Bodies are read straight into one reused buffer and
 * leave in writes of up to `bufferSize`. One item at a time: the caller
 * awaits each `write` before the next (`FrameSink` is this as a stream
 * stage).
 *
 * Permissions: read on `root`, net.
 *
 * @example
 * ```ts ignore
 * const sender = new FrameSender(conn, root);
 * for await (const entry of entries) await sender.write(entry);
 * await sender.close();
 * ```
 */
export class FrameSender {
  /**
   * Writes one work item's frames (an entry, a batch of them, a range, a
   * resumed or a delta file); on failure the connection is aborted first.
   */
  readonly write: (chunk: SendItem) => Promise<void>;
  /** Writes the end frame, sends what is buffered and half-closes. */
  readonly close: () => Promise<void>;
  /** Gives up on the connection (`reason`: why). */
  readonly abort: (reason: unknown) => void;
  /**
   * Sends the frames held in the buffer now (between writes only): for a
   * connection about to wait for its next item while others take them.
   */
  readonly flushHeld: () => Promise<void>;
  /** Whether frames are held in the buffer, not yet sent. */
  readonly holding: () => boolean;

  /** A sender writing frames for files under `root` to `out`. */
  constructor(
    out: FrameWriter,
    root: TreeRoot,
    options: SendFramesOptions = {},
  ) {
    const compressing = options.compress
      ? new CompressingWriter(out, options.compress)
      : undefined;
    const conn = compressing ?? out;
    const size = options.bufferSize ?? 1 << 20;
    if (!Number.isInteger(size) || size < 8192) {
      throw new RangeError(`bufferSize must be >= 8192, got ${size}`);
    }
    const zeroCopy = options.zeroCopy;
    const zeroCopyMin = options.zeroCopyMin ?? 256 * 1024;
    // Our own descriptor for the socket, or none: then every body goes
    // the portable way (as it does under a bandwidth limit).
    const bandwidth = options.bandwidth;
    if (bandwidth) compressing?.paced();
    const socket = bandwidth || !zeroCopy || !isConn(conn)
      ? undefined
      : zeroCopy.attach(conn);
    // Both kept for the next transfer once this one closes cleanly (see
    // buffer_pool.ts).
    const buffer = takeBuffer(size).subarray(0, size);
    // What the reader reads bodies into: big pieces leave from here
    // directly, small ones are packed into `buffer` with their frames.
    const scratch = takeBuffer(size).subarray(0, size);
    // A header's path as UTF-8, written here (a typed array a file would
    // cost ~1 us to make): good until the next header of this sender,
    // which writes one file at a time.
    const pathBuffer = new Uint8Array(MAX_PATH_BYTES);
    const pathBytes = (path: string): Uint8Array => {
      const n = asciiInto(path, pathBuffer, 0);
      return n >= 0 ? pathBuffer.subarray(0, n) : encoder.encode(path);
    };
    let used = 0;
    const send = async (bytes: Uint8Array) => {
      if (bandwidth) {
        // Paced in small writes: bytes flow steadily, not in bursts.
        for (let at = 0; at < bytes.length; at += bandwidth.piece) {
          const piece = bytes.subarray(at, at + bandwidth.piece);
          await bandwidth.take(piece.length);
          await writeAll(conn, piece);
          if (!compressing) options.onWire?.(piece.length);
        }
        return;
      }
      await writeAll(conn, bytes);
      if (!compressing) options.onWire?.(bytes.length);
    };
    // Bytes of the old copy the copy instructions in `buffer` stand for.
    let copying = 0;
    // Frames are not held much longer than HOLD_MS after the last send
    // while more are made: a delta's receiver rebuilds as instructions
    // arrive, not all at the end.
    let sentAt = performance.now();
    const heldLong = () => used > 0 && performance.now() - sentAt >= HOLD_MS;
    const flush = async () => {
      copying = 0;
      if (used === 0) return;
      await send(buffer.subarray(0, used));
      used = 0;
      sentAt = performance.now();
    };
    const put = async (bytes: Uint8Array) => {
      // A big piece leaves from where it is, after what is buffered
      // before it (its frame's header).
      if (bytes.length > size / 2) {
        await flush();
        return await send(bytes);
      }
      if (size - used < bytes.length) await flush();
      buffer.set(bytes, used);
      used += bytes.length;
    };
    let hasher: ContentHasher | undefined;
    const readOptions: {
      verified?: Set<string>;
      onBytes?: (n: number) => void;
      chunkDigest?: ChunkDigest;
    } = { verified: options.verified, onBytes: options.onBytes };
    // The reader's events, framed: what every carrier of bytes shares.
    const writeItem = async (item: ReadItem) => {
      hasher ??= await contentHasher();
      // A big file's delta is matched for a while before its first frame:
      // what waits in the buffer (small files' frames) leaves first, so
      // the receiver applies it meanwhile.
      if ("basis" in item && item.entry.size >= BIG_DELTA_BYTES) await flush();
      if ("basis" in item && offeredByHash(item.basis)) {
        // Sent only where it can be asked for again.
        if (!options.onDescribeAgain) {
          throw new TypeError(
            "an old copy offered by its hash needs onDescribeAgain",
          );
        }
      } else if (
        "basis" in item && readOptions.chunkDigest?.seed !== item.basis.seed
      ) {
        readOptions.chunkDigest = await ChunkDigest.create(item.basis.seed);
      }
      // Inside a delta, data events are literal frames.
      let delta = false;
      for (
        const event of readEvents(root, item, hasher, scratch, readOptions)
      ) {
        switch (event.type) {
          case "delta": {
            delta = true;
            const path = pathBytes(event.entry.path);
            if (size - used < fileHeaderSize(path)) await flush();
            used += writeDeltaHeader(buffer, used, path, event.entry);
            break;
          }
          case "copy":
            if (size - used < COPY_FRAME_BYTES) await flush();
            used += writeCopy(buffer, used, event.offset, event.length);
            // Much copying waiting: the receiver gets it now.
            copying += event.length;
            if (copiesDue(event.length, copying) || heldLong()) await flush();
            break;
          case "file": {
            const path = pathBytes(event.entry.path);
            if (size - used < fileHeaderSize(path, event.range)) await flush();
            used += writeFileHeader(
              buffer,
              used,
              path,
              event.entry,
              event.range,
            );
            break;
          }
          case "data":
            if (delta) {
              if (size - used < LITERAL_HEADER_BYTES) await flush();
              used += writeLiteralHeader(buffer, used, event.bytes.length);
            }
            await put(event.bytes);
            break;
          case "hash":
            if (size - used < 1 + HASH_BYTES) await flush();
            used += writeHash(buffer, used, event.digest);
            break;
          case "resume":
            await put(encodeResume(event.entry, event.kept));
            break;
          case "describe": {
            // Waits for the receiver's full description, as a new need.
            options.onDescribeAgain!(event.entry);
            const path = pathBytes(event.entry.path);
            if (size - used < fileHeaderSize(path)) await flush();
            used += writeDescribeAgain(buffer, used, path, event.entry);
            break;
          }
        }
      }
    };
    // A big body the kernel moves without us seeing it: its hash comes
    // from a read of the same bytes first (a file changed in between
    // fails the receiver's check, and the rerun sends it again).
    const writeZeroCopy = async (entry: FileEntry, range?: FileRange) => {
      hasher ??= await contentHasher();
      const digest = hashBody(
        root,
        entry,
        range,
        hasher,
        scratch,
        options.verified,
      );
      const path = pathBytes(entry.path);
      if (size - used < fileHeaderSize(path, range)) await flush();
      used += writeFileHeader(buffer, used, path, entry, range);
      // The header (and whatever precedes it) leaves first; then the
      // kernel moves the body from the page cache to the socket.
      const file = zeroCopy!.openRead(root, entry.path, options.verified);
      try {
        await flush();
        await zeroCopy!.sendFile(
          socket!,
          file,
          range?.offset ?? 0,
          range?.length ?? entry.size,
          entry.path,
          { onBytes: options.onBytes, idleMs: options.idleMs },
        );
        options.onWire?.(range?.length ?? entry.size);
      } finally {
        file.close();
      }
      if (size - used < 1 + HASH_BYTES) await flush();
      used += writeHash(buffer, used, digest);
    };
    // A small whole file, framed where it lies: its header, its body read
    // straight into the buffer after it, its hash (what the reader's
    // events make, with no event, generator or copy of its own: a tree of
    // small files spends most of its time here).
    const writeSmall = (
      entry: FileEntry,
      h: ContentHasher,
      path: Uint8Array,
    ) => {
      const file = openForRead(root, entry.path, {
        verified: options.verified,
      });
      try {
        const head = writeFileHeader(buffer, used, path, entry);
        const body = buffer.subarray(used + head, used + head + entry.size);
        readFull(file, body, entry.path, entry.size);
        h.init();
        h.update(body);
        const digest = h.digest("binary");
        options.onBytes?.(entry.size);
        used += head + entry.size;
        used += writeHash(buffer, used, digest);
      } finally {
        file.close();
      }
    };
    const writeEntry = (entry: FileEntry, range?: FileRange) => {
      if (entry.kind !== "file") return;
      if (socket && (range?.length ?? entry.size) >= zeroCopyMin) {
        return writeZeroCopy(entry, range);
      }
      if (!range && hasher && entry.size <= SMALL_FRAMED_MAX) {
        // (The path's bytes stay where pathBytes wrote them until the
        // next header: a flush writes none.)
        const path = pathBytes(entry.path);
        const room = fileHeaderSize(path) + entry.size + 1 + HASH_BYTES;
        if (room <= size - used) return writeSmall(entry, hasher, path);
        if (room <= size) {
          const h = hasher;
          return flush().then(() => writeSmall(entry, h, path));
        }
      }
      return writeItem(range ? { entry, range } : { entry });
    };
    // A resumed file: the blocks of the receiver's partial copy that match
    // ours are kept, the rest leaves in ranges (each with its hash).
    const writeResume = async (entry: FileEntry, resume: ResumeOffer) => {
      hasher ??= await contentHasher();
      const kept = await keptBlocks(root, entry, resume, hasher, {
        verified: options.verified,
      });
      const send = blockRuns(kept, entry.size, false);
      options.onResumed?.(
        entry.size - send.reduce((sum, run) => sum + run.length, 0),
      );
      if (!socket) return await writeItem({ entry, kept });
      // Runs big enough go by sendfile, like whole files.
      await put(encodeResume(entry, kept));
      for (const range of send) await writeEntry(entry, range);
    };
    // A chunk is one entry or a batch of them (fewer hops for trees of
    // small files).
    this.write = async (chunk) => {
      try {
        if ("basis" in chunk) {
          compressing?.sawDelta();
          await writeItem(chunk);
        } else if ("resume" in chunk) {
          await writeResume(chunk.entry, chunk.resume);
        } else if ("range" in chunk) {
          await writeEntry(chunk.entry, chunk.range);
        } else if (!Array.isArray(chunk)) await writeEntry(chunk);
        else for (const entry of chunk) await writeEntry(entry);
        if (options.idle?.() || heldLong()) await flush();
      } catch (error) {
        socket?.close();
        conn.abort?.(error);
        throw error;
      }
    };
    this.close = async () => {
      try {
        if (used === size) await flush();
        buffer.set(encodeEnd(), used);
        used += 1;
        await flush();
        await conn.closeWrite();
        if (compressing) {
          options.onWire?.(compressing.stats.wire);
          options.onCompressed?.(compressing.stats);
        }
        // Everything is on the connection (a compressing writer copies
        // what it takes).
        giveBuffer(new Uint8Array(buffer.buffer));
        giveBuffer(new Uint8Array(scratch.buffer));
      } finally {
        socket?.close();
      }
    };
    this.abort = (reason) => {
      socket?.close();
      conn.abort?.(reason);
    };
    this.flushHeld = async () => {
      try {
        await flush();
      } catch (error) {
        socket?.close();
        conn.abort?.(error);
        throw error;
      }
    };
    this.holding = () => used > 0;
  }
}

/**
 * Whole files up to this size are framed in place (see `writeSmall` in
 * {@linkcode FrameSender}); bigger ones go through the reader's events.
 */
const SMALL_FRAMED_MAX = 64 << 10;

/** Longest a sink holds frames it has made before sending them (ms). */
const HOLD_MS = 8;

/**
 * Whether `coming` is still unsettled after {@linkcode HOLD_MS}. (On the
 * runtime's own timer: the global setTimeout's first call loads Node's
 * timers, ~8 ms of a pushing client's main thread mid-transfer; see
 * timer.ts.)
 */
async function heldTooLong(coming: Promise<unknown>): Promise<boolean> {
  let timer: Timer | undefined;
  const late = new Promise<true>((resolve) => {
    timer = after(HOLD_MS, () => resolve(true));
  });
  try {
    return await Promise.race([coming.then(() => false, () => false), late]);
  } finally {
    timer?.cancel();
  }
}
/**
 * A delta of a file this big takes milliseconds to match (~1 ms a MiB):
 * frames made before it are sent first.
 */
const BIG_DELTA_BYTES = 1 << 20;

/**
 * Where a {@linkcode FrameSender} writes: a data-plane connection, or any
 * byte writer (the in-memory stage); `abort` hears why it stopped.
 */
export interface FrameWriter {
  /** Writes some of `bytes`; resolves with how many. */
  write(bytes: Uint8Array): Promise<number>;
  /** No more bytes. */
  closeWrite(): Promise<void>;
  /** The sink failed or was aborted with `reason`. */
  abort?(reason: unknown): void;
}

function isConn(writer: FrameWriter): writer is Deno.Conn {
  return "rid" in writer || "localAddr" in writer;
}

/** Files at least this big are split into ranges across parallel streams. */
export const SPLIT_MIN = 8 * 1024 * 1024;

/**
 * The work items for `entries` on `streams` connections: small files in
 * batches (up to 256 files or 1 MiB of bodies), big files alone, and with
 * more than one stream files of {@linkcode SPLIT_MIN} or more cut into
 * ranges (a quarter of a stream's share, 4-64 MiB; bigger past 512 GiB, so
 * a file never needs more than half of `MAX_RANGES_PER_FILE`), so the
 * streams finish together.
 *
 * @example
 * ```ts
 * import { sendItems } from "@blit/cli/internals";
 * const big = { path: "b", kind: "file" as const, size: 64 << 20, mtimeMs: 0, mode: 0o644 };
 * const items = await Array.fromAsync(sendItems([big], 4));
 * if (items.length !== 16) throw new Error("example failed");
 * ```
 */
export async function* sendItems(
  entries: Iterable<NeededFile> | AsyncIterable<NeededFile>,
  streams: number,
  idle?: () => boolean,
): AsyncGenerator<SendItem> {
  let batch: FileEntry[] = [];
  let batchBytes = 0;
  const source = Symbol.asyncIterator in entries
    ? entries[Symbol.asyncIterator]()
    : entries[Symbol.iterator]();
  for (;;) {
    // A partial batch leaves rather than wait on a source that has none.
    if (batch.length > 0 && idle?.()) {
      yield batch;
      batch = [];
      batchBytes = 0;
    }
    const next = await source.next();
    if (next.done) break;
    const entry = next.value;
    if (entry.kind !== "file") continue;
    if (entry.basis) {
      // A delta goes whole on one stream, beside the batch being gathered.
      const { basis, resume: _, ...plain } = entry;
      yield { entry: plain, basis };
      continue;
    }
    if (entry.size < 1 << 20) {
      batch.push(entry);
      batchBytes += entry.size;
      if (batch.length >= 256 || batchBytes >= 1 << 20) {
        yield batch;
        batch = [];
        batchBytes = 0;
      }
      continue;
    }
    if (batch.length > 0) {
      yield batch;
      batch = [];
      batchBytes = 0;
    }
    if (entry.resume) {
      const { resume, ...plain } = entry;
      yield { entry: plain, resume };
      continue;
    }
    if (streams < 2 || entry.size < SPLIT_MIN) {
      yield entry;
      continue;
    }
    const share = Math.ceil(entry.size / (streams * 4));
    // 4-64 MiB, and never more ranges than a receiver takes for one file.
    const step = Math.max(
      Math.min(64 << 20, Math.max(4 << 20, share)),
      Math.ceil(entry.size / (MAX_RANGES_PER_FILE / 2)),
    );
    for (let offset = 0; offset < entry.size; offset += step) {
      yield {
        entry,
        range: { offset, length: Math.min(step, entry.size - offset) },
      };
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Writes the frames for `entries` (regular files read from `root`) and the
 * end frame to each of `conns`, then half-closes them: the work items of
 * {@linkcode sendItems} shared out to one {@linkcode FrameSender} per
 * connection, each taking the next item when it is ready for it.
 *
 * Permissions: read on `root`, net.
 *
 * @example
 * ```ts ignore
 * await sendFrames([conn], "/srv/data", entries);
 * ```
 * @throws {SourceChangedError} when a file shrank since it was listed.
 */
export async function sendFrames(
  conns: Deno.Conn | readonly Deno.Conn[],
  root: TreeRoot,
  entries: Iterable<NeededFile> | AsyncIterable<NeededFile>,
  options: SendFramesOptions = {},
): Promise<void> {
  const all = Array.isArray(conns) ? conns : [conns as Deno.Conn];
  if (all.length === 0) throw new RangeError("sendFrames needs a connection");
  const items = sendItems(entries, all.length, options.idle);
  // Each connection takes the next item when it is done with the last
  // (a shared queue: the streams finish together).
  await Promise.all(all.map(async (conn) => {
    const sender = new FrameSender(conn, root, options);
    for (;;) {
      let next: IteratorResult<SendItem>;
      try {
        const coming = items.next();
        // Frames held here leave if the next item is slow to come (the
        // other streams took what there was, and the receiver may be
        // waiting on these frames to name more files). One stream sends
        // what it holds when it finds the source idle after a write.
        if (
          all.length > 1 && sender.holding() && await heldTooLong(coming)
        ) {
          await sender.flushHeld();
        }
        next = await coming;
      } catch (error) {
        sender.abort(error);
        throw error;
      }
      if (next.done) break;
      await sender.write(next.value);
    }
    await sender.close();
  }));
}

/** Options for {@linkcode frameSource} and {@linkcode receiveFrames}. */
export interface FrameSourceOptions {
  /** Buffer size. Default: 1 MiB. */
  bufferSize?: number;
  /** A limit shared by every stream (`--bwlimit`). Default: none. */
  bandwidth?: Bandwidth;
  /** Told the bytes read from the connection (before decompression). */
  onWire?: (n: number) => void;
  /** Told each compressed block received. */
  onCompressed?: () => void;
}

/** Reading on into the same batch pays only for this much or more. */
const MIN_READ_ON = 64 * 1024;

/**
 * The socket source of a transfer: a `ReadableStream` of the frame events
 * decoded from `conn`, a batch per read (work items, not byte chunks):
 * {@linkcode frameBatches} as a stream. Bodies are views of one reused
 * buffer, valid until the next batch is asked for: the stream reads ahead
 * nothing (high-water mark 0), and a pipe asks for the next batch only once
 * the sink took the last one (a {@linkcode FrameReceiver} consumes a batch
 * synchronously). Ends after the end frame and the peer's close; truncated
 * or trailing input errors it.
 *
 * Permissions: net.
 *
 * @example
 * ```ts ignore
 * await frameSource(conn).pipeTo(new ReceiveSink(root, expected));
 * ```
 */
export function frameSource(
  conn: Deno.Conn,
  options: FrameSourceOptions = {},
): ReadableStream<FrameEvent[]> {
  const batches = frameBatches(conn, options);
  return new ReadableStream<FrameEvent[]>({
    async pull(controller) {
      const next = await batches.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
  }, { highWaterMark: 0 });
}

/**
 * The frame events decoded from `conn`, a batch per read, without a stream
 * (what a transfer reads: see {@linkcode receiveInto}). Bodies are views of
 * one reused buffer, valid until the next batch is asked for. Ends after
 * the end frame and the peer's close; truncated or trailing input throws.
 *
 * Permissions: net.
 *
 * @example
 * ```ts ignore
 * for await (const events of frameBatches(conn)) console.log(events.length);
 * ```
 * @throws {FrameProtocolError} for malformed or truncated input.
 */
export function frameBatches(
  conn: Deno.Conn,
  options: FrameSourceOptions = {},
): AsyncGenerator<FrameEvent[]> {
  const size = options.bufferSize ?? 1 << 20;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`bufferSize must be a positive integer, got ${size}`);
  }
  return batchesOf(conn, options, size);
}

async function* batchesOf(
  conn: Deno.Conn,
  options: FrameSourceOptions,
  size: number,
): AsyncGenerator<FrameEvent[]> {
  // Kept for the next transfer once this one ends cleanly (see
  // buffer_pool.ts): the events of its last batch are consumed by then.
  const buffer = takeBuffer(size).subarray(0, size);
  const decoder = new FrameDecoder();
  const readOn = "handshake" in conn;
  // A compressed stream is undone here; a plain one passes through.
  const source = decompressingReader(conn, {
    onWire: options.onWire,
    onCompressed: options.onCompressed,
  });
  // Until a read yields events: a read inside a frame header yields none.
  for (;;) {
    const n = await source.read(buffer);
    if (n === null) {
      decoder.finish();
      giveBuffer(new Uint8Array(buffer.buffer));
      return;
    }
    const events = [...decoder.push(buffer.subarray(0, n))];
    // TLS gives one 16 KiB record a read: while a body has more to
    // come and the buffer has room, read on, so a batch carries up to
    // a buffer's worth (the bytes are on their way, so this never
    // waits on the peer for nothing). Plain TCP reads come big already
    // (measured: reading on there only delayed the writes).
    let filled = n;
    while (
      readOn && decoder.bodyLeft >= MIN_READ_ON &&
      size - filled >= MIN_READ_ON
    ) {
      const more = await source.read(buffer.subarray(filled));
      if (more === null) break; // finish() reports the cut next time
      events.push(...decoder.push(buffer.subarray(filled, filled + more)));
      filled += more;
    }
    // A limited pull reads no faster than its rate: the sender then
    // waits on TCP's flow control.
    await options.bandwidth?.take(filled);
    if (events.length > 0) yield events;
  }
}

/**
 * Reads frames from `conn` into `sink` until the end frame and the peer's
 * close: a {@linkcode frameSource} piped into the sink.
 *
 * Permissions: net.
 *
 * @example
 * ```ts ignore
 * await receiveFrames(conn, new ReceiveSink(root, expected));
 * ```
 * @throws {FrameProtocolError} for malformed or truncated input.
 */
export async function receiveFrames(
  conn: Deno.Conn,
  sink: WritableStream<FrameEvent | FrameEvent[]>,
  options: FrameSourceOptions = {},
): Promise<void> {
  await frameSource(conn, options).pipeTo(sink);
}

/**
 * Reads frames from `conn` into `receiver` until the end frame and the
 * peer's close, then closes it; without a stream (what a transfer runs:
 * {@linkcode receiveFrames} is the same through a pipe). A failed read
 * aborts the receiver; a failed write is the receiver's own (it cleans up
 * itself), as in a pipe.
 *
 * Permissions: net (and the receiver's).
 *
 * @example
 * ```ts ignore
 * await receiveInto(conn, new FrameReceiver(root, assembly));
 * ```
 * @throws {FrameProtocolError} for malformed or truncated input.
 */
export async function receiveInto(
  conn: Deno.Conn,
  receiver: FrameReceiver,
  options: FrameSourceOptions = {},
): Promise<void> {
  const batches = frameBatches(conn, options);
  for (;;) {
    let next: IteratorResult<FrameEvent[]>;
    try {
      next = await batches.next();
    } catch (error) {
      await receiver.abort();
      throw error;
    }
    if (next.done) break;
    // Consumed before the next read into the buffer its views point into.
    await receiver.write(next.value);
  }
  await receiver.close();
}
