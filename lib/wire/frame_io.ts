// The socket ends of a transfer as Web Stream stages, with one reused
// buffer per direction: FrameSink (entries in, frames out on the socket)
// and frameSource (frames in from the socket, events out in batches).
//
// frame_stream.ts has the same codec as byte-chunk stages, which allocate
// a fresh buffer per chunk (a page fault per 4 KiB on first touch); these
// move bulk bytes in big reads and writes instead, and are what blit runs.
import type { FileEntry } from "../fs/entry.ts";
import { openForRead, type TreeRoot } from "../fs/contained_root.ts";
import {
  encodeEnd,
  fileHeaderSize,
  FrameDecoder,
  type FrameEvent,
  writeFileHeader,
} from "./frame_codec.ts";
import { readFull } from "./frame_stream.ts";
import { writeAll } from "./socket.ts";
import type { ZeroCopy } from "./zero_copy.ts";

const encoder = new TextEncoder();

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
}

/**
 * The socket sink of a transfer: a `WritableStream<FileEntry>` that writes
 * each regular file's header and body frames to `conn` (other entries are
 * ignored) and, on close, the end frame and a half-close. Bodies are read
 * straight into one reused buffer and leave in writes of up to
 * `bufferSize`: entries are work items, bulk bytes never cross the stream
 * as chunks.
 *
 * Permissions: read on `root`, net.
 *
 * @example
 * ```ts ignore
 * await enumerate(root).pipeTo(new FrameSink(conn, root));
 * ```
 */
export class FrameSink extends WritableStream<FileEntry | FileEntry[]> {
  /** A sink writing frames for files under `root` to `conn`. */
  constructor(
    conn: Deno.Conn,
    root: TreeRoot,
    options: SendFramesOptions = {},
  ) {
    const size = options.bufferSize ?? 1 << 20;
    if (!Number.isInteger(size) || size < 8192) {
      throw new RangeError(`bufferSize must be >= 8192, got ${size}`);
    }
    const zeroCopy = options.zeroCopy;
    const zeroCopyMin = options.zeroCopyMin ?? 256 * 1024;
    // Our own descriptor for the socket, or none: then every body goes
    // the portable way.
    const socket = zeroCopy?.attach(conn);
    const buffer = new Uint8Array(size);
    let used = 0;
    const flush = async () => {
      if (used > 0) await writeAll(conn, buffer.subarray(0, used));
      used = 0;
    };
    const writeEntry = async (entry: FileEntry) => {
      if (entry.kind !== "file") return;
      const path = encoder.encode(entry.path);
      if (size - used < fileHeaderSize(path)) await flush();
      used += writeFileHeader(buffer, used, path, entry);
      if (socket && entry.size >= zeroCopyMin) {
        // The header (and whatever precedes it) leaves first; then the
        // kernel moves the body from the page cache to the socket.
        const file = zeroCopy!.openRead(root, entry.path, options.verified);
        try {
          await flush();
          await zeroCopy!.sendFile(socket, file, 0, entry.size, entry.path, {
            onBytes: options.onBytes,
            idleMs: options.idleMs,
          });
        } finally {
          file.close();
        }
        return;
      }
      const file = openForRead(root, entry.path, {
        verified: options.verified,
      });
      try {
        let left = entry.size;
        while (left > 0) {
          if (used === size) await flush();
          const n = Math.min(left, size - used);
          readFull(
            file,
            buffer.subarray(used, used + n),
            entry.path,
            entry.size,
          );
          used += n;
          left -= n;
          options.onBytes?.(n);
        }
      } finally {
        file.close();
      }
    };
    super({
      // A chunk is one entry or a batch of them (fewer stream hops for
      // trees of small files).
      async write(chunk) {
        try {
          if (!Array.isArray(chunk)) return await writeEntry(chunk);
          for (const entry of chunk) await writeEntry(entry);
        } catch (error) {
          socket?.close();
          throw error;
        }
      },
      async close() {
        try {
          if (used === size) await flush();
          buffer.set(encodeEnd(), used);
          used += 1;
          await flush();
          await conn.closeWrite();
        } finally {
          socket?.close();
        }
      },
      abort() {
        socket?.close();
      },
    }, { highWaterMark: 64 });
  }
}

/**
 * Writes the frames for `entries` (regular files read from `root`) and the
 * end frame to `conn`, then half-closes it: `entries` piped into a
 * {@linkcode FrameSink}.
 *
 * Permissions: read on `root`, net.
 *
 * @example
 * ```ts ignore
 * await sendFrames(conn, "/srv/data", entries);
 * ```
 * @throws {SourceChangedError} when a file shrank since it was listed.
 */
export async function sendFrames(
  conn: Deno.Conn,
  root: TreeRoot,
  entries: Iterable<FileEntry> | AsyncIterable<FileEntry>,
  options: SendFramesOptions = {},
): Promise<void> {
  await ReadableStream.from(batches(entries, 256)).pipeTo(
    new FrameSink(conn, root, options),
  );
}

/** Groups `entries` into arrays of up to `size`. */
async function* batches<T>(
  entries: Iterable<T> | AsyncIterable<T>,
  size: number,
): AsyncGenerator<T[]> {
  let batch: T[] = [];
  for await (const entry of entries) {
    batch.push(entry);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * The socket source of a transfer: a `ReadableStream` of the frame events
 * decoded from `conn`, a batch per read (work items, not byte chunks).
 * Bodies are views of one reused buffer, valid until the next batch is
 * asked for: the stream reads ahead nothing (high-water mark 0), and a
 * pipe asks for the next batch only once the sink took the last one (a
 * {@linkcode ReceiveSink} consumes a batch synchronously). Ends after the
 * end frame and the peer's close; truncated or trailing input errors it.
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
  options: { bufferSize?: number } = {},
): ReadableStream<FrameEvent[]> {
  const size = options.bufferSize ?? 1 << 20;
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`bufferSize must be a positive integer, got ${size}`);
  }
  const buffer = new Uint8Array(size);
  const decoder = new FrameDecoder();
  return new ReadableStream<FrameEvent[]>({
    async pull(controller) {
      // Until a read yields events: a read inside a frame header yields none.
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) {
          decoder.finish();
          controller.close();
          return;
        }
        const events = [...decoder.push(buffer.subarray(0, n))];
        if (events.length > 0) {
          controller.enqueue(events);
          return;
        }
      }
    },
  }, { highWaterMark: 0 });
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
  options: { bufferSize?: number } = {},
): Promise<void> {
  await frameSource(conn, options).pipeTo(sink);
}
