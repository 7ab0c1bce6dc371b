// A small pool of Workers copying files in batches, for many-file trees.
import type { FileEntry } from "../fs/entry.ts";
import { copyFileAtomic } from "../fs/atomic_write.ts";
import { fileDiffers, lstatIfExists } from "../fs/need_list.ts";
import { resolveInside, type ResolveOptions } from "../fs/safe_path.ts";

/**
 * Copies one file unless an up-to-date copy is already there. Returns
 * whether it copied. Shared by the pool's own thread and its workers.
 */
export function copyIfNeeded(
  item: CopyItem,
  destRoot: string,
  options: ResolveOptions,
): boolean {
  if (
    item.check &&
    !fileDiffers(
      lstatIfExists(resolveInside(destRoot, item.entry.path, options)),
      item.entry,
    )
  ) {
    return false;
  }
  copyFileAtomic(item.src, destRoot, item.entry, options);
  return true;
}

/** One file to copy: its source path and its entry under the destination. */
export interface CopyItem {
  src: string;
  entry: FileEntry;
  /** Compare with the destination first (false: known to be missing). */
  check: boolean;
}

/** A batch posted to a worker. */
export interface CopyBatch {
  id: number;
  destRoot: string;
  items: CopyItem[];
}

/** A worker's answer. */
export interface CopyResult {
  id: number;
  done: number;
  /** Files found up to date and left alone. */
  skipped: number;
  /** Bytes copied. */
  bytes: number;
  error?: string;
  errorName?: string;
}

/** A worker failed to copy a file. */
export class CopyError extends Error {
  constructor(message: string, name: string) {
    super(message);
    this.name = name === "Error" ? "CopyError" : name;
  }
}

const BATCH = 128;
const WORKER_URL = new URL("./_copy_worker.ts", import.meta.url);

/** A single-file bundle has no worker script next to it: copy in-thread. */
function workerScriptExists(): boolean {
  if (WORKER_URL.protocol !== "file:") return true;
  try {
    return Deno.statSync(WORKER_URL).isFile;
  } catch {
    return false;
  }
}
const IN_FLIGHT_PER_WORKER = 2;

/**
 * Copies files, first on the calling thread, then, once a tree proves big,
 * on a pool of Workers (per-file syscalls dominate: two cores halve it).
 */
export class CopyPool {
  readonly #destRoot: string;
  readonly #size: number;
  readonly #verified = new Set<string>();
  #workers: Worker[] = [];
  #pending = new Map<
    number,
    { resolve: () => void; reject: (e: Error) => void }
  >();
  #inFlight: Promise<void>[] = [];
  #batch: CopyItem[] = [];
  #nextId = 0;
  #seen = 0;
  #failure: Error | undefined;
  /** Files copied so far. */
  copied = 0;
  /** Files found up to date. */
  skipped = 0;
  /** Bytes copied so far. */
  bytes = 0;

  constructor(destRoot: string, options: { workers?: number } = {}) {
    this.#destRoot = destRoot;
    this.#size = workerScriptExists() ? options.workers ?? 2 : 0;
  }

  /** Starts the workers now, so their start-up overlaps the tree walk. */
  warm(): void {
    if (this.#size > 0 && this.#workers.length === 0) this.#start();
  }

  /** Queues one file; resolves when the pool has room for more. */
  async add(item: CopyItem): Promise<void> {
    if (this.#failure) throw this.#failure;
    // The up-to-date check is one lstat: cheaper here than a message to a
    // worker, so only files that need copying ever leave this thread.
    if (item.check) {
      const dest = resolveInside(this.#destRoot, item.entry.path, {
        verified: this.#verified,
      });
      if (!fileDiffers(lstatIfExists(dest), item.entry)) {
        this.skipped++;
        return;
      }
      item = { ...item, check: false };
    }
    this.#seen++;
    if (this.#size === 0 || this.#seen <= BATCH) {
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
    if (this.#workers.length === 0) this.#start();
    while (
      this.#inFlight.length >= this.#workers.length * IN_FLIGHT_PER_WORKER
    ) {
      await Promise.race(this.#inFlight);
    }
    const id = this.#nextId++;
    const batch: CopyBatch = {
      id,
      destRoot: this.#destRoot,
      items: this.#batch,
    };
    this.#batch = [];
    const promise = new Promise<void>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    const tracked = promise.finally(() => {
      this.#inFlight = this.#inFlight.filter((p) => p !== tracked);
    });
    tracked.catch(() => {});
    this.#inFlight.push(tracked);
    this.#workers[id % this.#workers.length].postMessage(batch);
  }

  #start(): void {
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(WORKER_URL, {
        type: "module",
      });
      worker.onmessage = (event: MessageEvent<CopyResult>) => {
        const waiter = this.#pending.get(event.data.id);
        if (!waiter) return;
        this.#pending.delete(event.data.id);
        if (event.data.error !== undefined) {
          const error = new CopyError(
            event.data.error,
            event.data.errorName ?? "Error",
          );
          this.#failure ??= error;
          waiter.reject(error);
        } else {
          this.copied += event.data.done - event.data.skipped;
          this.skipped += event.data.skipped;
          this.bytes += event.data.bytes;
          waiter.resolve();
        }
      };
      this.#workers.push(worker);
    }
  }

  /** Copies what is left and waits for every batch; stops the workers. */
  async finish(): Promise<void> {
    try {
      await this.#flush();
      await Promise.all(this.#inFlight);
      if (this.#failure) throw this.#failure;
    } finally {
      this.close();
    }
  }

  /** Stops the workers (batches in flight are abandoned). */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#workers = [];
  }
}
