// The sender's head start on a delta: while the receiver describes its old
// copies, the sender cuts its own big files into chunks (the costly part of
// matching: the gear scan reads every byte). Content-defined cuts depend
// only on the bytes, so they are the same whenever they are made; when the
// description arrives, matching is reading and hashing the chunks. Only
// files in flight are cut ahead, and a file the receiver passes over is
// dropped (its cut stopped) at once.
import { openForRead } from "../fs/contained_root.ts";
import type { FileEntry } from "../fs/entry.ts";
import type { TreeRoot } from "../fs/tree.ts";
import { avgBitsFor, Chunker } from "./chunker.ts";

/** A file's chunks, cut ahead of its description. */
export interface PreCut {
  /** The chunk size they were cut with (see `avgBitsFor`). */
  avgBits: number;
  /** Each chunk's length, in order (they add up to the file's size). */
  lengths: Uint32Array;
}

/** Files smaller than this are cut when sent (cutting is quick then). */
export const PRECUT_MIN_BYTES = 1 << 20;
/** At most this many files are cut ahead. */
const MAX_FILES = 8;
/** At most this many bytes of files are cut ahead. */
const MAX_BYTES = 1 << 30;
/** Bytes cut between two turns of the event loop. */
const SLICE_BYTES = 4 << 20;

interface Job {
  entry: FileEntry;
  ordinal: number;
  cancelled: boolean;
  result?: Promise<PreCut | undefined>;
}

/**
 * Cuts files offered in a manifest ahead of their need, in order, a few
 * at a time, on this thread in slices (other work goes on between them).
 *
 * @example
 * ```ts
 * import { PreCutter } from "./precut.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeFileSync(`${root}/f`, new Uint8Array(2 << 20).map((_, i) => i * 7919 >> 5));
 * const cutter = new PreCutter(root);
 * cutter.add({ path: "f", kind: "file", size: 2 << 20, mtimeMs: 0, mode: 0o644 }, 0);
 * const cut = await cutter.take("f");
 * if (cut?.lengths.reduce((a, b) => a + b, 0) !== 2 << 20) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class PreCutter {
  readonly #root: TreeRoot;
  readonly #verified: Set<string> | undefined;
  readonly #jobs: Job[] = [];
  #bytes = 0;
  #running = false;
  #closed = false;

  /** Cuts files under `root` (`verified`: see `resolveInside`). */
  constructor(root: TreeRoot, verified?: Set<string>) {
    this.#root = root;
    this.#verified = verified;
  }

  /**
   * Offers the file `entry` (manifest ordinal `ordinal`) to be cut ahead;
   * ignored when small, or when enough is being cut already.
   */
  add(entry: FileEntry, ordinal: number): void {
    if (this.#closed || entry.kind !== "file") return;
    if (entry.size < PRECUT_MIN_BYTES) return;
    if (
      this.#jobs.length >= MAX_FILES || this.#bytes + entry.size > MAX_BYTES
    ) return;
    this.#jobs.push({ entry, ordinal, cancelled: false });
    this.#bytes += entry.size;
    this.#pump();
  }

  /**
   * The cut of `path`, now that it is needed: a promise (the cut is done
   * or under way), or undefined (it was not cut ahead: cut it when sent).
   */
  take(path: string): Promise<PreCut | undefined> | undefined {
    const i = this.#jobs.findIndex((job) => job.entry.path === path);
    if (i < 0) return undefined;
    const [job] = this.#jobs.splice(i, 1);
    this.#bytes -= job.entry.size;
    if (!job.result) {
      job.cancelled = true;
      return undefined;
    }
    return job.result;
  }

  /** Drops the files before ordinal `decided` (the receiver passed over them). */
  forget(decided: number): void {
    for (let i = this.#jobs.length - 1; i >= 0; i--) {
      const job = this.#jobs[i];
      if (job.ordinal >= decided) continue;
      job.cancelled = true;
      this.#jobs.splice(i, 1);
      this.#bytes -= job.entry.size;
    }
  }

  /** Stops: nothing more is cut. */
  close(): void {
    this.#closed = true;
    for (const job of this.#jobs) job.cancelled = true;
    this.#jobs.length = 0;
    this.#bytes = 0;
  }

  /** Starts the next job when none runs. */
  #pump(): void {
    if (this.#running) return;
    const job = this.#jobs.find((j) => !j.result && !j.cancelled);
    if (!job) return;
    this.#running = true;
    job.result = this.#cut(job).finally(() => {
      this.#running = false;
      this.#pump();
    });
    job.result.catch(() => {});
  }

  async #cut(job: Job): Promise<PreCut | undefined> {
    const { entry } = job;
    let file;
    try {
      file = openForRead(this.#root, entry.path, { verified: this.#verified });
    } catch {
      return undefined; // sent (and cut) later, or the error shows then
    }
    try {
      const avgBits = avgBitsFor(entry.size);
      const chunker = new Chunker(avgBits);
      const lengths: number[] = [];
      const buffer = new Uint8Array(1 << 20);
      let last = 0;
      let total = 0;
      for (let slice = 0;;) {
        if (job.cancelled || this.#closed) return undefined;
        const n = file.readSync(buffer);
        if (n === null || n === 0) break;
        const piece = buffer.subarray(0, n);
        for (let at = 0; at < n;) {
          const end = chunker.scan(piece, at);
          if (end < 0) break;
          lengths.push(total + end - last);
          last = total + end;
          at = end;
        }
        total += n;
        if (total > entry.size) return undefined; // it grew: cut when sent
        slice += n;
        if (slice >= SLICE_BYTES) {
          slice = 0;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
      if (total !== entry.size) return undefined;
      if (last < total) lengths.push(total - last);
      return { avgBits, lengths: Uint32Array.from(lengths) };
    } catch {
      return undefined;
    } finally {
      file.close();
    }
  }
}
