// The gRPC fallback's byte path: files as FileData-shaped chunks and back.
import type { FileEntry } from "../fs/entry.ts";
import { openForRead, type TreeRoot } from "../fs/contained_root.ts";
import {
  type FrameEvent,
  FrameProtocolError,
  HASH_BYTES,
} from "./frame_codec.ts";
import { contentHasher } from "../fs/hash.ts";
import { readFull } from "./frame_stream.ts";

/** One FileData message's worth: the first chunk of a file has `header`. */
export interface FileDataChunk {
  /** The file the chunk belongs to. */
  path: string;
  /** The file's entry, on its first chunk. */
  header?: FileEntry;
  /** Body bytes. */
  data: Uint8Array;
  /** Whether this chunk ends the file. */
  last: boolean;
  /** On the last chunk: the body's content hash (xxh3-128, 16 bytes). */
  hash?: Uint8Array;
}

/**
 * Reads files from `root` and yields chunks of at most `chunkSize` bytes
 * (default 1 MiB, under gRPC's 4 MiB message limit). An empty file is one
 * chunk with its header and `last`.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { fileDataChunks } from "./grpc_data.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const chunks = await Array.fromAsync(fileDataChunks(root, [{ path: "a", kind: "file", size: 2, mtimeMs: 0, mode: 0o644 }]));
 * if (!(chunks.length === 1 && chunks[0].last && chunks[0].header?.path === "a")) throw new Error("example failed");
 * ```
 */
export async function* fileDataChunks(
  root: TreeRoot,
  entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
  options: { chunkSize?: number } = {},
): AsyncGenerator<FileDataChunk> {
  const chunkSize = options.chunkSize ?? 1 << 20;
  if (!Number.isInteger(chunkSize) || chunkSize < 1024) {
    throw new RangeError(
      `chunkSize must be an integer >= 1024, got ${chunkSize}`,
    );
  }
  const hasher = await contentHasher();
  for await (const entry of entries) {
    if (entry.kind !== "file") continue;
    const file = openForRead(root, entry.path);
    try {
      let left = entry.size;
      let first = true;
      hasher.init();
      do {
        const n = Math.min(left, chunkSize);
        const data = new Uint8Array(n);
        readFull(file, data, entry.path, entry.size);
        hasher.update(data);
        left -= n;
        yield {
          path: entry.path,
          header: first ? entry : undefined,
          data,
          last: left === 0,
          ...(left === 0 ? { hash: hasher.digest("binary") } : {}),
        };
        first = false;
      } while (left > 0);
    } finally {
      file.close();
    }
  }
}

/**
 * Received chunks in, the same frame events the TCP decoder produces out,
 * so one `ReceiveSink` serves both transports. The caller writes the end
 * event (`{ type: "end" }`) when the sender says it is done.
 *
 * @example
 * ```ts
 * import { chunksToFrames } from "./grpc_data.ts";
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
 * const ev = await Array.fromAsync(ReadableStream.from([{ path: "a", header: e, data: new Uint8Array(1), last: true, hash: new Uint8Array(16) }]).pipeThrough(chunksToFrames()));
 * if (!(ev.map((x) => x.type).join() === "file,data,hash")) throw new Error("example failed");
 * ```
 */
export function chunksToFrames(): TransformStream<FileDataChunk, FrameEvent> {
  let open: string | undefined;
  return new TransformStream<FileDataChunk, FrameEvent>({
    transform(chunk, controller) {
      if (chunk.header) {
        if (open !== undefined) {
          throw new FrameProtocolError(
            `File ${chunk.path} started inside ${open}`,
          );
        }
        if (chunk.header.path !== chunk.path) {
          throw new FrameProtocolError(
            `Chunk path ${chunk.path} differs from its header`,
          );
        }
        controller.enqueue({ type: "file", entry: chunk.header });
        open = chunk.path;
      } else if (open !== chunk.path) {
        throw new FrameProtocolError(`Data for ${chunk.path} outside its file`);
      }
      if (chunk.data.length > 0) {
        controller.enqueue({ type: "data", bytes: chunk.data });
      }
      if (chunk.last) {
        if (chunk.hash?.length !== HASH_BYTES) {
          throw new FrameProtocolError(
            `File ${chunk.path} came without its content hash`,
          );
        }
        controller.enqueue({ type: "hash", digest: chunk.hash });
        open = undefined;
      }
    },
    flush() {
      if (open !== undefined) {
        throw new FrameProtocolError(`Stream ended inside ${open}`);
      }
    },
  });
}
