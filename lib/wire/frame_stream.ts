// Frame stream stages: entries -> wire bytes, and wire bytes -> frame events.
import type { FileEntry } from "../fs/entry.ts";
import { openForRead } from "../fs/contained_root.ts";
import type { TreeRoot } from "../fs/atomic_write.ts";
import type { ReadHandle } from "../fs/tree.ts";
import {
  encodeEnd,
  fileHeaderSize,
  FrameDecoder,
  type FrameEvent,
  HASH_BYTES,
  writeFileHeader,
  writeHash,
} from "./frame_codec.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";

/** Options for {@linkcode encodeFrames}. */
export interface EncodeFramesOptions {
  /** Output buffer size; small files are packed into one. Default: 1 MiB. */
  chunkSize?: number;
  /** Called with byte counts as body bytes are read (progress). */
  onBytes?: (n: number) => void;
}

/** A source file changed between the manifest and the transfer. */
export class SourceChangedError extends Error {
  /** Which file changed and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "SourceChangedError";
  }
}

const encoder = new TextEncoder();

/**
 * Fills `into` from `file` (a regular file being sent), or throws when the
 * file ends first: it shrank since it was listed.
 *
 * @example
 * ```ts
 * import { readFull } from "./frame_stream.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "abc");
 * using file = Deno.openSync(path);
 * const into = new Uint8Array(3);
 * readFull(file, into, "f", 3);
 * if (into[2] !== 99) throw new Error("example failed");
 * ```
 * @throws {SourceChangedError} when the file has fewer bytes left.
 */
export function readFull(
  file: ReadHandle,
  into: Uint8Array,
  path: string,
  declared: number,
): void {
  let got = 0;
  while (got < into.length) {
    const n = file.readSync(into.subarray(got));
    if (n === null || n === 0) {
      throw new SourceChangedError(
        `File ${path} shrank during the transfer (declared ${declared} bytes); run the command again`,
      );
    }
    got += n;
  }
}

/**
 * Entries in, wire bytes out: for each regular file a header, exactly
 * `entry.size` bytes read from `root` and their content hash, then an end
 * frame. Small files are
 * read straight into a shared ~1 MiB output buffer (no extra copy); big
 * files go out in `chunkSize` pieces, each read only when the consumer
 * has room, so memory stays flat for any file size.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { encodeFrames, decodeFrames } from "./frame_stream.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const events = await Array.fromAsync(
 *   ReadableStream.from([{ path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 }])
 *     .pipeThrough(encodeFrames(root)).pipeThrough(decodeFrames()),
 * );
 * if (!(events.map((e) => e.type).join() === "file,data,hash,end")) throw new Error("example failed");
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
  let out = new Uint8Array(chunkSize);
  let used = 0;
  let hasher: ContentHasher | undefined;
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

  async function emit(chunk: Uint8Array): Promise<void> {
    if (cancelled !== undefined) throw cancelled;
    controller.enqueue(chunk);
    // Backpressure inside one big file: wait until the consumer pulls.
    while ((controller.desiredSize ?? 1) <= 0) {
      await new Promise<void>((resolve) => room = resolve);
      if (cancelled !== undefined) throw cancelled;
    }
  }

  async function flush(): Promise<void> {
    if (used === 0) return;
    const full = out.subarray(0, used);
    out = new Uint8Array(chunkSize);
    used = 0;
    await emit(full);
  }

  const writable = new WritableStream<FileEntry>({
    async write(entry) {
      try {
        await writeEntry(entry);
      } catch (error) {
        // Fail the byte side too, so whoever reads it stops waiting.
        controller.error(error);
        throw error;
      }
    },
    async close() {
      if (chunkSize - used < 1) await flush();
      out.set(encodeEnd(), used);
      used += 1;
      await flush();
      controller.close();
    },
    abort(reason) {
      controller.error(reason);
    },
  });
  return { readable, writable };

  async function writeEntry(entry: FileEntry): Promise<void> {
    if (entry.kind !== "file") return;
    hasher ??= await contentHasher();
    const path = encoder.encode(entry.path);
    const headerSize = fileHeaderSize(path);
    if (chunkSize - used < headerSize) await flush();
    const file = openForRead(root, entry.path);
    hasher.init();
    try {
      used += writeFileHeader(out, used, path, entry);
      let left = entry.size;
      if (left <= chunkSize - used) {
        const view = out.subarray(used, used + left);
        readFull(file, view, entry.path, entry.size);
        hasher.update(view);
        used += left;
        options.onBytes?.(left);
      } else {
        await flush();
        while (left > 0) {
          const n = Math.min(left, chunkSize);
          const buffer = new Uint8Array(n);
          readFull(file, buffer, entry.path, entry.size);
          hasher.update(buffer);
          left -= n;
          options.onBytes?.(n);
          await emit(buffer);
        }
      }
    } finally {
      file.close();
    }
    // Its content hash follows every body.
    if (chunkSize - used < 1 + HASH_BYTES) await flush();
    used += writeHash(out, used, hasher.digest("binary"));
  }
}

/**
 * Wire bytes in, frame events out (see `FrameDecoder`); errors with
 * `FrameProtocolError` on anything malformed, including a stream that ends
 * without its end frame.
 *
 * @example
 * ```ts
 * import { decodeFrames } from "./frame_stream.ts";
 * import { encodeEnd } from "./frame_codec.ts";
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
