// A small pool of Workers copying files in batches, for many-file trees.
import type { FileEntry } from "../fs/entry.ts";
import { copyFileAtomic } from "../fs/copy_file.ts";
import { fileDiffers, lstatIfExists, modeDiffers } from "../fs/need_list.ts";
import { applyFileMode } from "../fs/apply_tree.ts";
import { resolveInside, type ResolveOptions } from "../fs/safe_path.ts";
import {
  type PoolAnswer,
  type PoolBatch,
  WorkerPool,
  workerScriptExists,
  workerUrl,
} from "../fs/worker_pool.ts";

/**
 * Copies one file unless an up-to-date copy is already there. Returns
 * whether it copied. Shared by the pool's own thread and its workers.
 */
export function copyIfNeeded(
  item: CopyItem,
  destRoot: string,
  options: ResolveOptions,
): boolean {
  const dest = item.check && resolveInside(destRoot, item.entry.path, options);
  if (dest && upToDate(destRoot, item.entry, dest)) return false;
  copyFileAtomic(item.src, destRoot, item.entry, options);
  return true;
}

/**
 * Whether the copy at `dest` (`entry` under `destRoot`) is up to date: its
 * size and mtime the source's, and its mode too, or given it in place now.
 */
function upToDate(destRoot: string, entry: FileEntry, dest: string): boolean {
  const info = lstatIfExists(dest);
  return info !== undefined && !fileDiffers(info, entry) &&
    (!modeDiffers(info, entry) || applyFileMode(destRoot, entry, info));
}

/** One file to copy: its source path and its entry under the destination. */
export interface CopyItem {
  src: string;
  entry: FileEntry;
  /** Compare with the destination first (false: known to be missing). */
  check: boolean;
}

/** A batch posted to a worker. */
export interface CopyBatch extends PoolBatch {
  destRoot: string;
  items: CopyItem[];
}

/** A worker's answer. */
export interface CopyResult extends PoolAnswer {
  done: number;
  /** Files found up to date and left alone. */
  skipped: number;
  /** Bytes copied. */
  bytes: number;
}

const BATCH = 128;
const WORKER_URL = workerUrl("_copy_worker", import.meta.url);

/**
 * Copies files, first on the calling thread, then, once a tree proves big,
 * on a pool of Workers (per-file syscalls dominate: two cores halve it).
 */
export class CopyPool {
  readonly #destRoot: string;
  readonly #verified = new Set<string>();
  readonly #pool: WorkerPool<CopyBatch, CopyResult> | undefined;
  #batch: CopyItem[] = [];
  #seen = 0;
  /** Files copied so far. */
  copied = 0;
  /** Files found up to date. */
  skipped = 0;
  /** Bytes copied so far. */
  bytes = 0;

  constructor(destRoot: string, options: { workers?: number } = {}) {
    this.#destRoot = destRoot;
    const size = workerScriptExists(WORKER_URL) ? options.workers ?? 2 : 0;
    this.#pool = size > 0
      ? new WorkerPool<CopyBatch, CopyResult>(WORKER_URL, size, (answer) => {
        this.copied += answer.done - answer.skipped;
        this.skipped += answer.skipped;
        this.bytes += answer.bytes;
      })
      : undefined;
  }

  /** Starts the workers now, so their start-up overlaps the tree walk. */
  warm(): void {
    this.#pool?.warm();
  }

  /** Queues one file; resolves when the pool has room for more. */
  async add(item: CopyItem): Promise<void> {
    if (this.#pool?.failure) throw this.#pool.failure;
    // The up-to-date check is one lstat: cheaper here than a message to a
    // worker, so only files that need copying ever leave this thread.
    if (item.check) {
      const dest = resolveInside(this.#destRoot, item.entry.path, {
        verified: this.#verified,
      });
      if (upToDate(this.#destRoot, item.entry, dest)) {
        this.skipped++;
        return;
      }
      item = { ...item, check: false };
    }
    this.#seen++;
    if (!this.#pool || this.#seen <= BATCH) {
      // Small trees never pay the worker start-up.
      if (copyIfNeeded(item, this.#destRoot, { verified: this.#verified })) {
        this.copied++;
        this.bytes += item.entry.size;
      } else this.skipped++;
      return;
    }
    this.#batch.push(item);
    if (this.#batch.length >= BATCH) await this.#flush();
  }

  async #flush(): Promise<void> {
    if (this.#batch.length === 0) return;
    const items = this.#batch;
    this.#batch = [];
    await this.#pool!.post({ id: 0, destRoot: this.#destRoot, items });
  }

  /** Copies what is left and waits for every batch; stops the workers. */
  async finish(): Promise<void> {
    try {
      await this.#flush();
      await this.#pool?.drain();
    } finally {
      await this.close();
    }
  }

  /** Stops the workers once the batches in flight are done. */
  close(): Promise<void> {
    return this.#pool?.close() ?? Promise.resolve();
  }
}
