// Frame I/O straight on a socket with one reused buffer per direction.
//
// The stream stages (frame_stream.ts) allocate a fresh buffer per chunk,
// which costs a page fault per 4 KiB on first touch; on the hot path the
// sender reads files into one buffer and writes it out, and the receiver
// reads into one buffer and hands views to a sink that consumes them
// before the next read.
import type { FileEntry } from "../fs/entry.ts";
import { openForRead, type TreeRoot } from "../fs/contained_root.ts";
import {
  encodeEnd,
  fileHeaderSize,
  FrameDecoder,
  type FrameEvent,
  writeFileHeader,
} from "./frame_codec.ts";
import { SourceChangedError } from "./frame_stream.ts";
import { writeAll } from "./socket.ts";
import { ReceiveSink } from "./receive_sink.ts";

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
}

/**
 * Writes the frames for `entries` (regular files read from `root`) and the
 * end frame to `conn`, then half-closes it. Small files share the buffer;
 * big ones stream through it.
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
  const size = options.bufferSize ?? 1 << 20;
  if (!Number.isInteger(size) || size < 8192) {
    throw new RangeError(`bufferSize must be >= 8192, got ${size}`);
  }
  const buffer = new Uint8Array(size);
  let used = 0;
  const flush = async () => {
    if (used > 0) await writeAll(conn, buffer.subarray(0, used));
    used = 0;
  };
  for await (const entry of entries) {
    if (entry.kind !== "file") continue;
    const path = encoder.encode(entry.path);
    if (size - used < fileHeaderSize(path)) await flush();
    used += writeFileHeader(buffer, used, path, entry);
    const file = openForRead(root, entry.path, { verified: options.verified });
    try {
      let left = entry.size;
      while (left > 0) {
        if (used === size) await flush();
        const want = Math.min(left, size - used);
        const n = file.readSync(buffer.subarray(used, used + want));
        if (n === null || n === 0) {
          throw new SourceChangedError(
            `File ${entry.path} shrank during the transfer (declared ${entry.size} bytes); run the command again`,
          );
        }
        used += n;
        left -= n;
        options.onBytes?.(n);
      }
    } finally {
      file.close();
    }
  }
  if (used === size) await flush();
  buffer.set(encodeEnd(), used);
  used += 1;
  await flush();
  await conn.closeWrite();
}

/**
 * Reads frames from `conn` into `sink` until the end frame and the peer's
 * close. Each event's bytes are a view of one reused buffer, valid until
 * the sink's write resolves (ReceiveSink consumes them synchronously).
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
  sink: WritableStream<FrameEvent>,
  options: { bufferSize?: number } = {},
): Promise<void> {
  const size = options.bufferSize ?? 1 << 20;
  const buffer = new Uint8Array(size);
  const decoder = new FrameDecoder();
  if (sink instanceof ReceiveSink) {
    // Direct, synchronous hand-off: no promise per frame.
    const handlers = sink.direct();
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        for (const event of decoder.push(buffer.subarray(0, n))) {
          handlers.write(event);
        }
      }
      decoder.finish();
      handlers.close();
    } catch (error) {
      handlers.abort(error);
      throw error;
    }
    return;
  }
  const writer = sink.getWriter();
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (const event of decoder.push(buffer.subarray(0, n))) {
        await writer.write(event);
      }
    }
    decoder.finish();
    await writer.close();
  } catch (error) {
    await writer.abort(error).catch(() => {});
    throw error;
  } finally {
    writer.releaseLock();
  }
}
