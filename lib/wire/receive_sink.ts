// The receiving end of a data connection as a Web Streams stage: the same
// FrameReceiver a transfer drives (frame_receiver.ts), behind a
// WritableStream.
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/tree.ts";
import type { FileTable } from "../fs/path_table.ts";
import type { FrameEvent } from "./frame_codec.ts";
import {
  FileAssembly,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./file_assembly.ts";
import { FrameReceiver } from "./frame_receiver.ts";
// The sink's option and result types live with the assembly they feed.
export {
  BasisChangedError,
  FileAssembly,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./file_assembly.ts";

/**
 * Writes received files under `root`: only paths negotiated in `expected`,
 * each at most once, with exactly the negotiated size; mode and mtime come
 * from the negotiated entry. Files go to temp names and are renamed when
 * complete, so an error or abort leaves nothing half-written under a final
 * name. Closing before the end frame, or with negotiated files missing, is
 * an error. A transfer on parallel streams has one sink per connection
 * ({@linkcode ReceiveSink.group}); big files may then arrive as ranges on
 * several of them, and are committed when every byte is in. It is a
 * {@linkcode FrameReceiver} (what a transfer drives) as a stream stage.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { ReceiveSink } from "@blit/cli/mod";
 * import { hashBytes } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 };
 * const sink = new ReceiveSink(root, new Map([["a", e]]));
 * const bytes = new Uint8Array([1, 2]);
 * await ReadableStream.from([
 *   { type: "file" as const, entry: e }, { type: "data" as const, bytes },
 *   { type: "hash" as const, digest: await hashBytes(bytes) }, { type: "end" as const },
 * ]).pipeTo(sink);
 * if (!(sink.stats.files === 1 && Deno.statSync(`${root}/a`).size === 2)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class ReceiveSink extends WritableStream<FrameEvent | FrameEvent[]> {
  readonly #assembly: FileAssembly;

  /**
   * A sink writing under `root` exactly the files in `expected`; one of a
   * group when given the group's `assembly` (see
   * {@linkcode ReceiveSink.group}).
   */
  constructor(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    options: ReceiveSinkOptions = {},
    assembly: FileAssembly = new FileAssembly(root, expected, options, 1),
  ) {
    super(new FrameReceiver(root, assembly));
    this.#assembly = assembly;
  }

  /**
   * `count` sinks sharing one set of negotiated files, one per connection
   * of a transfer on parallel streams: a file may arrive whole on any of
   * them, or in ranges on several; the last sink to close checks that
   * nothing is missing.
   *
   * @example
   * ```ts
   * import { ReceiveSink } from "@blit/cli/mod";
   * import { hashBytes } from "@blit/cli/internals";
   * const root = Deno.realPathSync(Deno.makeTempDirSync());
   * const e = { path: "a", kind: "file" as const, size: 4, mtimeMs: 0, mode: 0o644 };
   * const [s1, s2] = ReceiveSink.group(root, new Map([["a", e]]), 2);
   * const range = async (offset: number, bytes: Uint8Array) => [
   *   { type: "file" as const, entry: e, range: { offset, length: bytes.length } },
   *   { type: "data" as const, bytes },
   *   { type: "hash" as const, digest: await hashBytes(bytes) },
   *   { type: "end" as const },
   * ];
   * await Promise.all([
   *   ReadableStream.from(await range(2, new Uint8Array([3, 4]))).pipeTo(s1),
   *   ReadableStream.from(await range(0, new Uint8Array([1, 2]))).pipeTo(s2),
   * ]);
   * if (Deno.readFileSync(`${root}/a`).join() !== "1,2,3,4") throw new Error("example failed");
   * Deno.removeSync(root, { recursive: true });
   * ```
   * @throws {RangeError} when `count` is not a positive integer.
   */
  static group(
    root: TreeRoot,
    expected: ReadonlyMap<string, FileEntry> | FileTable,
    count: number,
    options: ReceiveSinkOptions = {},
  ): ReceiveSink[] {
    const assembly = new FileAssembly(root, expected, options, count);
    return Array.from(
      { length: count },
      () => new ReceiveSink(root, expected, options, assembly),
    );
  }

  /** Files and bytes committed so far (by every sink of its group). */
  get stats(): ReceiveStats {
    return this.#assembly.stats;
  }
}
