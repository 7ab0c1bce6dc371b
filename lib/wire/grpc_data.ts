// The gRPC fallback's byte path: files as FileData-shaped chunks and back.
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/tree.ts";
import {
  copiesDue,
  type FrameEvent,
  FrameProtocolError,
  HASH_BYTES,
} from "./frame_codec.ts";
import { contentHasher } from "../fs/hash.ts";
import { ChunkDigest, offeredByHash } from "../delta/basis.ts";
import { readEvents, type ReadItem } from "./file_reader.ts";
import { blockRuns, type KeptBlocks, keptBlocks } from "../fs/resume.ts";
import type { NeededFile } from "./frame_io.ts";

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
  /**
   * On the last chunk: the body's content hash (xxh3-128, 16 bytes); for
   * a resumed file, on the chunk ending each run of blocks not kept: that
   * run's hash.
   */
  hash?: Uint8Array;
  /**
   * On a resumed file's first chunk (with `header`, no data): the blocks
   * of the receiver's partial copy it keeps; the data that follows fills
   * the rest, run after run (see `blockRuns`).
   */
  resume?: KeptBlocks;
  /**
   * On a delta's first chunk (with `header`): the file is rebuilt from
   * the receiver's old copy; each chunk's `copies` apply before its data
   * (literal bytes), the last chunk carries the whole body's hash.
   */
  delta?: boolean;
  /**
   * Inside a delta: ranges of the old copy to append before this chunk's
   * data, as offset, length pairs.
   */
  copies?: number[];
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
 * import { fileDataChunks } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const chunks = await Array.fromAsync(fileDataChunks(root, [{ path: "a", kind: "file", size: 2, mtimeMs: 0, mode: 0o644 }]));
 * if (!(chunks.length === 1 && chunks[0].last && chunks[0].header?.path === "a")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function* fileDataChunks(
  root: TreeRoot,
  entries: AsyncIterable<NeededFile> | Iterable<NeededFile>,
  options: { chunkSize?: number } = {},
): AsyncGenerator<FileDataChunk> {
  const chunkSize = options.chunkSize ?? 1 << 20;
  if (!Number.isInteger(chunkSize) || chunkSize < 1024) {
    throw new RangeError(
      `chunkSize must be an integer >= 1024, got ${chunkSize}`,
    );
  }
  const hasher = await contentHasher();
  const scratch = new Uint8Array(chunkSize);
  let chunkDigest: ChunkDigest | undefined;
  for await (const needed of entries) {
    if (needed.kind !== "file") continue;
    const { resume, basis, ...entry } = needed;
    let item: ReadItem = { entry };
    if (resume) {
      item = { entry, kept: await keptBlocks(root, entry, resume, hasher) };
    } else if (basis && !offeredByHash(basis)) {
      // (An old copy offered by its hash alone can't be asked for again
      // after the need list: that file goes whole.)
      if (chunkDigest?.seed !== basis.seed) {
        chunkDigest = await ChunkDigest.create(basis.seed);
      }
      item = { entry, basis };
    }
    yield* chunksOf(readEvents(root, item, hasher, scratch, { chunkDigest }));
  }
}

/**
 * The reader's events for one file as FileData chunks: a chunk a data
 * event (copied: the reader reuses its buffer), the header on the first,
 * each body's or run's hash on its last, `last` on the file's last; a
 * resumed file's first chunk names the blocks kept and has no data.
 */
function* chunksOf(events: Iterable<FrameEvent>): Generator<FileDataChunk> {
  // The chunk after a full one, for the same file.
  const next = (full: FileDataChunk): FileDataChunk => ({
    path: full.path,
    data: new Uint8Array(0),
    last: false,
  });
  let pending: FileDataChunk | undefined;
  // Bytes of the old copy the pending chunk's copies stand for.
  let copying = 0;
  // Bodies still to end: one, or a resumed file's runs.
  let bodies = 1;
  for (const event of events) {
    switch (event.type) {
      case "resume":
        bodies = blockRuns(event.kept, event.entry.size, false).length;
        yield {
          path: event.entry.path,
          header: event.entry,
          data: new Uint8Array(0),
          last: bodies === 0,
          resume: event.kept,
        };
        break;
      case "delta":
        pending = {
          path: event.entry.path,
          header: event.entry,
          data: new Uint8Array(0),
          last: false,
          delta: true,
          copies: [],
        };
        break;
      case "copy":
        // Copies go before the data of their chunk: after data, a new one.
        if (pending!.data.length > 0) {
          yield pending!;
          copying = 0;
          pending = next(pending!);
        }
        (pending!.copies ??= []).push(event.offset, event.length);
        // Much copying waiting leaves at once: the receiver copies
        // meanwhile.
        copying += event.length;
        if (copiesDue(event.length, copying)) {
          copying = 0;
          yield pending!;
          pending = next(pending!);
        }
        break;
      case "file":
        pending = {
          path: event.entry.path,
          // A resumed file's runs follow its header chunk.
          header: event.range ? undefined : event.entry,
          data: new Uint8Array(0),
          last: false,
        };
        break;
      case "data":
        if (pending!.data.length > 0) {
          yield pending!;
          copying = 0;
          pending = next(pending!);
        }
        pending!.data = event.bytes.slice();
        break;
      case "hash":
        pending!.hash = event.digest;
        pending!.last = --bodies === 0;
        yield pending!;
        copying = 0;
        pending = undefined;
        break;
    }
  }
}

/**
 * About what a FileData message costs on the wire: its data, copies and
 * hash, and its path and header.
 *
 * @example
 * ```ts
 * import { chunkWireBytes } from "@blit/cli/internals";
 * if (chunkWireBytes({ path: "a", data: new Uint8Array(100), last: false }) !== 109) throw new Error("example failed");
 * ```
 */
export function chunkWireBytes(chunk: FileDataChunk): number {
  return chunk.data.length + (chunk.copies?.length ?? 0) * 5 +
    (chunk.header ? chunk.path.length + 40 : chunk.path.length + 8) +
    (chunk.hash ? 18 : 0);
}

/**
 * A chunk's data as a data event and, on a file's last chunk, its hash
 * (checked to be there); true when the file ended.
 */
function bodyAndEnd(
  chunk: FileDataChunk,
  controller: TransformStreamDefaultController<FrameEvent>,
): boolean {
  if (chunk.data.length > 0) {
    controller.enqueue({ type: "data", bytes: chunk.data });
  }
  if (!chunk.last) return false;
  if (chunk.hash?.length !== HASH_BYTES) {
    throw new FrameProtocolError(
      `File ${chunk.path} came without its content hash`,
    );
  }
  controller.enqueue({ type: "hash", digest: chunk.hash });
  return true;
}

/**
 * Received chunks in, the same frame events the TCP decoder produces out,
 * so one `ReceiveSink` serves both transports. The caller writes the end
 * event (`{ type: "end" }`) when the sender says it is done.
 *
 * @example
 * ```ts
 * import { chunksToFrames } from "@blit/cli/internals";
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
 * const ev = await Array.fromAsync(ReadableStream.from([{ path: "a", header: e, data: new Uint8Array(1), last: true, hash: new Uint8Array(16) }]).pipeThrough(chunksToFrames()));
 * if (!(ev.map((x) => x.type).join() === "file,data,hash")) throw new Error("example failed");
 * ```
 */
export function chunksToFrames(): TransformStream<FileDataChunk, FrameEvent> {
  let open: string | undefined;
  // A resumed file: its entry, the runs still to come, the current one.
  let resumed:
    | { entry: FileEntry; runs: { offset: number; length: number }[] }
    | undefined;
  let run = 0;
  let runLeft = 0;
  let delta = false;
  // A delta's chunk: its copies, then its data; the last one its hash.
  const deltaChunk = (
    chunk: FileDataChunk,
    controller: TransformStreamDefaultController<FrameEvent>,
  ) => {
    const copies = chunk.copies ?? [];
    if (copies.length % 2 !== 0) {
      throw new FrameProtocolError(`Copies of ${chunk.path} are not pairs`);
    }
    for (let i = 0; i < copies.length; i += 2) {
      const [offset, length] = [copies[i], copies[i + 1]];
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length)) {
        throw new FrameProtocolError(`A copy of ${chunk.path} is out of range`);
      }
      controller.enqueue({ type: "copy", offset, length });
    }
    if (bodyAndEnd(chunk, controller)) {
      open = undefined;
      delta = false;
    }
  };
  const resumedData = (
    chunk: FileDataChunk,
    controller: TransformStreamDefaultController<FrameEvent>,
  ) => {
    const { entry, runs } = resumed!;
    let data = chunk.data;
    if (data.length > 0 && runLeft === 0) {
      if (run >= runs.length) {
        throw new FrameProtocolError(
          `File ${chunk.path} got more than its bytes`,
        );
      }
      controller.enqueue({ type: "file", entry, range: runs[run] });
      runLeft = runs[run].length;
    }
    if (data.length > runLeft) {
      throw new FrameProtocolError(
        `A run of ${chunk.path} got more than its bytes`,
      );
    }
    if (data.length > 0) controller.enqueue({ type: "data", bytes: data });
    runLeft -= data.length;
    data = new Uint8Array(0);
    if (chunk.hash) {
      if (runLeft !== 0 || chunk.hash.length !== HASH_BYTES) {
        throw new FrameProtocolError(
          `A run of ${chunk.path} ended short or without its hash`,
        );
      }
      controller.enqueue({ type: "hash", digest: chunk.hash });
      run++;
    }
    if (chunk.last) {
      if (run !== runs.length || runLeft !== 0) {
        throw new FrameProtocolError(`File ${chunk.path} ended short`);
      }
      open = undefined;
      resumed = undefined;
    }
  };
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
        open = chunk.path;
        delta = chunk.delta === true;
        if (delta) {
          if (chunk.resume) {
            throw new FrameProtocolError(
              `File ${chunk.path} came both resumed and as a delta`,
            );
          }
          controller.enqueue({ type: "delta", entry: chunk.header });
          return deltaChunk(chunk, controller);
        }
        if (chunk.resume) {
          if (chunk.data.length > 0) {
            throw new FrameProtocolError(
              `Resume of ${chunk.path} came with data`,
            );
          }
          controller.enqueue({
            type: "resume",
            entry: chunk.header,
            kept: chunk.resume,
          });
          resumed = {
            entry: chunk.header,
            runs: blockRuns(chunk.resume, chunk.header.size, false),
          };
          run = 0;
          runLeft = 0;
          if (chunk.last) resumedData(chunk, controller);
          return;
        }
        controller.enqueue({ type: "file", entry: chunk.header });
      } else if (open !== chunk.path) {
        throw new FrameProtocolError(`Data for ${chunk.path} outside its file`);
      }
      if (delta) return deltaChunk(chunk, controller);
      if (chunk.copies?.length) {
        throw new FrameProtocolError(
          `Copies for ${chunk.path} outside a delta`,
        );
      }
      if (resumed) return resumedData(chunk, controller);
      if (bodyAndEnd(chunk, controller)) open = undefined;
    },
    flush() {
      if (open !== undefined) {
        throw new FrameProtocolError(`Stream ended inside ${open}`);
      }
    },
  });
}

/**
 * File bytes that arrive as gRPC FileData chunks: written into a sink
 * through the same frames the data plane carries.
 *
 * @example
 * ```ts
 * import { GrpcReceiver } from "@blit/cli/internals";
 * import { ReceiveSink } from "@blit/cli/mod";
 * import { hashBytes } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
 * const grpc = new GrpcReceiver(new ReceiveSink(root, new Map([["a", e]])));
 * const data = new Uint8Array([7]);
 * await grpc.write({ path: "a", header: e, data, last: true, hash: await hashBytes(data) });
 * await grpc.finish();
 * if (Deno.readFileSync(`${root}/a`)[0] !== 7) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class GrpcReceiver {
  readonly #writer: WritableStreamDefaultWriter<FileDataChunk>;
  readonly #done: Promise<void>;

  /** Feeds `sink`. */
  constructor(sink: WritableStream<FrameEvent>) {
    const frames = chunksToFrames();
    const ended = new TransformStream<FrameEvent, FrameEvent>({
      flush(controller) {
        controller.enqueue({ type: "end" });
      },
    });
    this.#done = frames.readable.pipeThrough(ended).pipeTo(sink);
    this.#done.catch(() => {});
    this.#writer = frames.writable.getWriter();
  }

  /**
   * Writes one chunk (waits while the sink is behind).
   *
   * @throws the sink's own error when it failed (not the closed stream's).
   */
  async write(chunk: FileDataChunk): Promise<void> {
    try {
      await this.#writer.ready;
      await this.#writer.write(chunk);
    } catch (error) {
      await this.#done; // the sink's failure, when that is why
      throw error;
    }
  }

  /**
   * Rejects with the sink's error as soon as it fails (a file that was
   * not asked for, too long, corrupted); never resolves otherwise.
   */
  get failed(): Promise<never> {
    return this.#done.then(() => new Promise<never>(() => {}));
  }

  /** No more chunks: waits until every file is committed. */
  async finish(): Promise<void> {
    try {
      await this.#writer.close();
    } catch (error) {
      await this.#done;
      throw error;
    }
    await this.#done;
  }

  /** Gives up: the file in progress is removed. Never throws. */
  abort(reason: unknown): void {
    this.#writer.abort(reason).catch(() => {});
  }
}
