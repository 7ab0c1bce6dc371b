// The compare stage as a Web Streams stage: the same NeedList a receiver
// takes its entries through (need_list.ts), behind a TransformStream.
import type { FileEntry } from "./entry.ts";
import { NeedList, type NeedListOptions } from "./need_list.ts";
import type { TreeRoot } from "./tree.ts";

/**
 * A `TransformStream<FileEntry, FileEntry>` that passes on the entries the
 * destination lacks: missing or different-kind entries, files whose size or
 * whole-second mtime differ (content hash with `checksum`), links with
 * another target, and every directory. Unchanged files and links are
 * counted in {@linkcode NeedListStream.skipped}. A {@linkcode NeedList}
 * as a stream stage.
 *
 * Every destination lookup goes through `resolveInside`, so a hostile path
 * in the source (`../x`) errors the stream with `PathEscapeError`.
 *
 * Permissions: read on `destRoot`.
 *
 * @example
 * ```ts
 * import { NeedListStream } from "@blit/cli/mod";
 * const dest = Deno.realPathSync(Deno.makeTempDirSync());
 * const stage = new NeedListStream(dest);
 * const out = await Array.fromAsync(ReadableStream.from([
 *   { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 },
 * ]).pipeThrough(stage));
 * if (!(out.length === 1 && stage.skipped === 0)) throw new Error("example failed");
 * Deno.removeSync(dest, { recursive: true });
 * ```
 */
export class NeedListStream extends TransformStream<FileEntry, FileEntry> {
  readonly #list: NeedList;

  /** A need list against the tree at `destRoot`. */
  constructor(destRoot: TreeRoot, options: NeedListOptions = {}) {
    const list = new NeedList(destRoot, options);
    let toController: ((entry: FileEntry) => void) | undefined;
    super({
      transform(entry, controller) {
        toController ??= (e) => controller.enqueue(e);
        return list.take(entry, toController);
      },
    });
    this.#list = list;
  }

  /**
   * The stage's decision on one entry, without the stream (see
   * {@linkcode NeedList.take}). Take entries one way or the other, not
   * both.
   */
  take(
    entry: FileEntry,
    emit: (entry: FileEntry) => void,
  ): Promise<void> | void {
    return this.#list.take(entry, emit);
  }

  /**
   * Whether a needed `entry` (as passed on) has a regular file of at least
   * `oldCopyMinBytes` at the destination.
   */
  hasOldCopy(entry: FileEntry): boolean {
    return this.#list.hasOldCopy(entry);
  }

  /** Files and links left alone because they were up to date. */
  get skipped(): number {
    return this.#list.skipped;
  }

  /** Entries decided so far (passed on or skipped), in input order. */
  get decided(): number {
    return this.#list.decided;
  }

  /** Entries passed on so far. */
  get passed(): number {
    return this.#list.passed;
  }
}
