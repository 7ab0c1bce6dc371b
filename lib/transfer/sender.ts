// The sending role, once for push (the client) and pull (the daemon):
// source entries -> manifest -> the receiver's need list -> file bytes
// over the TCP data plane or as gRPC FileData chunks.
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/contained_root.ts";
import { FileTable } from "../fs/path_table.ts";
import { type ManifestPayload, sendManifest } from "../rpc/convert.ts";
import type { SendWindow } from "../rpc/call_io.ts";
import { sendFrames } from "../wire/frame_io.ts";
import { type FileDataChunk, fileDataChunks } from "../wire/grpc_data.ts";
import type { ZeroCopy } from "../wire/zero_copy.ts";
import { WorkQueue } from "./_queue.ts";

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
}

/**
 * The send side of a transfer. `offer()` streams the manifest; `need()`
 * takes the receiver's need list a path at a time and `endNeeds()` closes
 * it; `sendTcp()` or `sendGrpc()` moves exactly the needed files' bytes,
 * each file as soon as it is needed (bytes flow while the manifest is
 * still being compared).
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { Sender } from "./sender.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hi");
 * const sender = new Sender(root);
 * await sender.offer([{ path: "a", kind: "file", size: 2, mtimeMs: 0, mode: 0o644 }], () => Promise.resolve());
 * if (!sender.need("a") || sender.need("a") || sender.neededBytes !== 2) throw new Error("example failed");
 * ```
 */
export class Sender {
  readonly #root: TreeRoot;
  readonly #options: SenderOptions;
  readonly #files = new FileTable();
  readonly #queue = new WorkQueue<FileEntry>();
  #needed = 0;
  #bytes = 0;

  /** A sender reading files under `root`. */
  constructor(root: TreeRoot, options: SenderOptions = {}) {
    this.#root = root;
    this.#options = options;
  }

  /** Streams the manifest of `entries` through `write`; remembers the files. */
  async offer(
    entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
    write: (payload: ManifestPayload) => Promise<void>,
  ): Promise<void> {
    await sendManifest(entries, write, { files: this.#files });
  }

  /** Whether `path` is a file the manifest offered. */
  offered(path: string): boolean {
    return this.#files.has(path);
  }

  /**
   * Marks the offered file `path` needed. Returns false when it already
   * was (asked twice) or was never offered.
   */
  need(path: string): boolean {
    const entry = this.#files.take(path);
    if (!entry) return false;
    this.#needed++;
    this.#bytes += entry.size;
    this.#queue.push(entry);
    return true;
  }

  /** The need list is complete: the data path ends after the last file. */
  endNeeds(): void {
    this.#queue.close();
  }

  /** Gives up: the data path stops at its next file with `error`. */
  fail(error: unknown): void {
    this.#queue.fail(error);
  }

  /** Files needed. */
  get needed(): number {
    return this.#needed;
  }

  /** Body bytes needed. */
  get neededBytes(): number {
    return this.#bytes;
  }

  /**
   * The needed files' entries, in need-list order, as they are needed;
   * ends after `endNeeds()`. One consumer: the data path.
   */
  entries(): AsyncIterable<FileEntry> {
    return this.#queue;
  }

  /**
   * Sends the needed files' frames on the data-plane connections (parallel
   * streams share the work, big files in ranges), then closes them.
   */
  async sendTcp(
    conns: Deno.Conn | readonly Deno.Conn[],
    options: { onBytes?: (n: number) => void } = {},
  ): Promise<void> {
    const all = Array.isArray(conns) ? conns : [conns as Deno.Conn];
    try {
      await sendFrames(all, this.#root, this.entries(), {
        verified: this.#options.verified,
        onBytes: options.onBytes,
        zeroCopy: this.#options.zeroCopy,
        idleMs: this.#options.idleMs,
      });
    } finally {
      for (const conn of all) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    }
  }

  /**
   * Sends the needed files as chunks through `write`, at most a window
   * ahead of the receiver's acknowledgements.
   */
  async sendGrpc(
    window: SendWindow,
    write: (chunk: FileDataChunk) => Promise<void>,
  ): Promise<void> {
    for await (const chunk of fileDataChunks(this.#root, this.entries())) {
      await window.reserve(chunk.data.length);
      await write(chunk);
    }
  }
}
