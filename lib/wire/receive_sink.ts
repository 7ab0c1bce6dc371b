// The receiving sink: frame events in, files atomically on disk.
import type { FileEntry } from "../fs/entry.ts";
import { AtomicFile, writeFileAtomic } from "../fs/atomic_write.ts";
import type { TreeRoot } from "../fs/contained_root.ts";
import { FileTable } from "../fs/path_table.ts";
import { type FrameEvent, FrameProtocolError } from "./frame_codec.ts";

/** What a {@linkcode ReceiveSink} committed. */
export interface ReceiveStats {
  /** Files committed. */
  files: number;
  /** Body bytes committed. */
  bytes: number;
}

/** A sink's synchronous handlers (see {@linkcode ReceiveSink.direct}). */
export interface FrameHandlers {
  /** Takes one event; its bytes may be a view valid only during the call. */
  write(event: FrameEvent): void;
  /** The stream ended: checks the end frame came and nothing is missing. */
  close(): void;
  /** The stream failed: removes the file in progress. */
  abort(reason?: unknown): void;
}

/** Options for {@linkcode ReceiveSink}. */
export interface ReceiveSinkOptions {
  /** Called after each committed file (progress). */
  onFile?: (entry: FileEntry) => void;
  /** Called with body byte counts as they arrive (progress). */
  onBytes?: (n: number) => void;
  /** Files up to this size are gathered in memory and written in one go. Default: 1 MiB. */
  smallFileBytes?: number;
}

/**
 * Writes received files under `root`: only paths negotiated in `expected`,
 * each at most once, with exactly the negotiated size; mode and mtime come
 * from the negotiated entry. Files go to temp names and are renamed when
 * complete, so an error or abort leaves nothing half-written under a final
 * name. Closing before the end frame, or with negotiated files missing, is
 * an error.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { ReceiveSink } from "./receive_sink.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 };
 * const sink = new ReceiveSink(root, new Map([["a", e]]));
 * await ReadableStream.from([
 *   { type: "file" as const, entry: e }, { type: "data" as const, bytes: new Uint8Array([1, 2]) }, { type: "end" as const },
 * ]).pipeTo(sink);
 * if (!(sink.stats.files === 1 && Deno.statSync(`${root}/a`).size === 2)) throw new Error("example failed");
 * ```
 */
export class ReceiveSink extends WritableStream<FrameEvent | FrameEvent[]> {
  readonly #stats: ReceiveStats;
  readonly #handlers: FrameHandlers;

  /** A sink writing under `root` exactly the files in `expected`. */
  constructor(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    options: ReceiveSinkOptions = {},
  ) {
    const stats: ReceiveStats = { files: 0, bytes: 0 };
    const small = options.smallFileBytes ?? 1 << 20;
    if (!Number.isSafeInteger(small) || small < 0) {
      throw new RangeError(
        `smallFileBytes must be a non-negative integer, got ${small}`,
      );
    }
    const done = new Set<string>();
    let current: FileEntry | undefined;
    let file: AtomicFile | undefined;
    let buffer: Uint8Array | undefined;
    let filled = 0;
    let ended = false;

    let currentKey = "";
    function complete(entry: FileEntry, whole?: Uint8Array): void {
      if (file) {
        file.commit();
        file = undefined;
      } else {
        writeFileAtomic(root, entry, whole ?? buffer ?? new Uint8Array(0));
        buffer = undefined;
      }
      if (!(expected instanceof FileTable)) done.add(currentKey);
      stats.files++;
      stats.bytes += entry.size;
      current = undefined;
      options.onFile?.(entry);
    }

    function begin(announced: FileEntry): void {
      if (ended) throw new FrameProtocolError("File after the end frame");
      if (current) {
        throw new FrameProtocolError(
          `File ${announced.path} started inside ${current.path}`,
        );
      }
      // A compact table marks its entry taken here; a map, at commit.
      const entry = expected instanceof FileTable
        ? expected.take(announced.path)
        : expected.get(announced.path);
      if (!entry || entry.kind !== "file") {
        if (expected instanceof FileTable && expected.has(announced.path)) {
          throw new FrameProtocolError(
            `File ${announced.path} was sent twice`,
          );
        }
        throw new FrameProtocolError(
          `File ${announced.path} was not asked for`,
        );
      }
      if (done.has(announced.path)) {
        throw new FrameProtocolError(`File ${entry.path} was sent twice`);
      }
      if (announced.size !== entry.size) {
        throw new FrameProtocolError(
          `File ${entry.path} has ${announced.size} bytes, negotiated ${entry.size}`,
        );
      }
      current = entry;
      currentKey = announced.path;
      filled = 0;
      // Small files are gathered lazily: a body that arrives in one piece
      // is written straight from the view, with no copy.
      if (entry.size > small) file = AtomicFile.open(root, entry);
      if (entry.size === 0) complete(entry);
    }

    function data(bytes: Uint8Array): void {
      if (!current) throw new FrameProtocolError("Data outside a file");
      if (filled + bytes.length > current.size) {
        throw new FrameProtocolError(
          `File ${current.path} got more than its ${current.size} bytes`,
        );
      }
      if (!file && !buffer && bytes.length === current.size) {
        filled = bytes.length;
        options.onBytes?.(bytes.length);
        complete(current, bytes);
        return;
      }
      if (!file && !buffer) buffer = new Uint8Array(current.size);
      if (buffer) buffer.set(bytes, filled);
      else file!.write(bytes);
      filled += bytes.length;
      options.onBytes?.(bytes.length);
      if (filled === current.size) complete(current);
    }

    function cleanup(): void {
      file?.abort();
      file = undefined;
      buffer = undefined;
      current = undefined;
    }

    const handlers: FrameHandlers = {
      write(event) {
        try {
          if (event.type === "file") begin(event.entry);
          else if (event.type === "data") data(event.bytes);
          else {
            if (current) {
              throw new FrameProtocolError(`End frame inside ${current.path}`);
            }
            if (ended) throw new FrameProtocolError("Second end frame");
            ended = true;
          }
        } catch (error) {
          cleanup();
          throw error;
        }
      },
      close() {
        if (!ended) {
          cleanup();
          throw new FrameProtocolError("Stream closed before the end frame");
        }
        let missing = 0;
        if (expected instanceof FileTable) missing = expected.pending;
        else {
          for (const [path, entry] of expected) {
            if (entry.kind === "file" && !done.has(path)) missing++;
          }
        }
        if (missing > 0) {
          throw new FrameProtocolError(
            `${missing} negotiated files were not sent`,
          );
        }
      },
      abort() {
        cleanup();
      },
    };
    // A chunk is one event, or a batch (one socket read's worth, from
    // frameSource): either way consumed synchronously, before the source
    // reads again into the buffer its views point into.
    super({
      write(chunk) {
        if (Array.isArray(chunk)) {
          for (const event of chunk) handlers.write(event);
        } else handlers.write(chunk);
      },
      close: () => handlers.close(),
      abort: (reason) => handlers.abort(reason),
    });
    this.#handlers = handlers;
    this.#stats = stats;
  }

  /**
   * The sink's handlers, called directly and synchronously: the socket
   * loop in frame_io.ts skips a promise per frame this way. Use either this
   * or the stream, not both.
   */
  direct(): FrameHandlers {
    return this.#handlers;
  }

  /** Files and bytes committed so far. */
  get stats(): ReceiveStats {
    return this.#stats;
  }
}
