// Frame stream stages: entries -> wire bytes, and wire bytes -> frame events.
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/tree.ts";
import type { FrameEvent } from "./frame_codec.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { FrameSink } from "./frame_sink.ts";

/** Options for {@linkcode encodeFrames}. */
export interface EncodeFramesOptions {
  /** Output buffer size; small files are packed into one. Default: 1 MiB. */
  chunkSize?: number;
  /** Called with byte counts as body bytes are read (progress). */
  onBytes?: (n: number) => void;
}

/**
 * Entries in, wire bytes out: for each regular file a header, exactly
 * `entry.size` bytes read from `root` and their content hash, then an end
 * frame. It is the data plane's own {@linkcode FrameSink} (the same
 * reader, the same frames) writing into a stream instead of a socket:
 * small files are packed into `chunkSize` chunks, big ones go out a
 * piece at a time as the consumer takes them, so memory stays flat for
 * any file size.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { encodeFrames, decodeFrames } from "@blit/cli/mod";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const events = await Array.fromAsync(
 *   ReadableStream.from([{ path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 }])
 *     .pipeThrough(encodeFrames(root)).pipeThrough(decodeFrames()),
 * );
 * if (!(events.map((e) => e.type).join() === "file,data,hash,end")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function encodeFrames(
  root: TreeRoot,
  options: EncodeFramesOptions = {},
): ReadableWritablePair<Uint8Array, FileEntry> {
  const chunkSize = options.chunkSize ?? 1 << 20;
  if (!Number.isInteger(chunkSize) || chunkSize < 8192) {
    throw new RangeError(
      `chunkSize must be an integer >= 8192, got ${chunkSize}`,
    );
  }
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let room: (() => void) | undefined;
  let cancelled: unknown;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull() {
      room?.();
      room = undefined;
    },
    cancel(reason) {
      cancelled = reason ?? new Error("Frame consumer went away");
      room?.();
      room = undefined;
    },
  }, { highWaterMark: 2 });
  // The data plane's own sink, writing into the readable side instead of
  // a socket: the same frames, the same reader.
  const writable = new FrameSink(
    {
      async write(bytes) {
        if (cancelled !== undefined) throw cancelled;
        // The sink reuses its buffers: what is queued is a copy.
        controller.enqueue(bytes.slice());
        // Backpressure inside one big file: wait until the consumer pulls.
        while ((controller.desiredSize ?? 1) <= 0) {
          await new Promise<void>((resolve) => room = resolve);
          if (cancelled !== undefined) throw cancelled;
        }
        return bytes.length;
      },
      closeWrite() {
        controller.close();
        return Promise.resolve();
      },
      abort(reason) {
        // Fail the byte side too, so whoever reads it stops waiting.
        if (cancelled === undefined) controller.error(reason);
      },
    },
    root,
    { bufferSize: chunkSize, onBytes: options.onBytes },
  );
  return { readable, writable };
}

/**
 * Wire bytes in, frame events out (see `FrameDecoder`); errors with
 * `FrameProtocolError` on anything malformed, including a stream that ends
 * without its end frame.
 *
 * @example
 * ```ts
 * import { decodeFrames } from "@blit/cli/mod";
 * import { encodeEnd } from "@blit/cli/internals";
 * const ev = await Array.fromAsync(ReadableStream.from([encodeEnd()]).pipeThrough(decodeFrames()));
 * if (!(ev.length === 1 && ev[0].type === "end")) throw new Error("example failed");
 * ```
 */
export function decodeFrames(): TransformStream<Uint8Array, FrameEvent> {
  const decoder = new FrameDecoder();
  return new TransformStream<Uint8Array, FrameEvent>({
    transform(chunk, controller) {
      for (const event of decoder.push(chunk)) controller.enqueue(event);
    },
    flush() {
      decoder.finish();
    },
  });
}
