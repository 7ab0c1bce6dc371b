// Whole small files written by a few Workers with sync calls, still
// atomically (temp name, then rename): the receive sink's pool for a
// local destination with many small files.
import type { FileEntry } from "./entry.ts";
import { writeFileAtomic } from "./atomic_file.ts";
import {
  type PoolAnswer,
  type PoolBatch,
  WorkerPool,
  workerScriptExists,
  workerUrl,
} from "./worker_pool.ts";

/** Files for one worker: bodies back to back in one moved buffer. */
export interface WriteBatch extends PoolBatch {
  root: string;
  entries: FileEntry[];
  /** Where each body ends in `body`. */
  ends: number[];
  body: ArrayBuffer;
}

/** A worker's answer: how many of the batch's files were committed. */
export interface WriteAnswer extends PoolAnswer {
  files: number;
}

/**
 * Writes a batch's files in order; stops at the first failure, saying how
 * many were committed. Shared by the workers and the calling thread.
 */
export function writeBatch(
  batch: WriteBatch,
  verified: Set<string>,
): WriteAnswer {
  const body = new Uint8Array(batch.body);
  let start = 0;
  let files = 0;
  try {
    for (let i = 0; i < batch.entries.length; i++) {
      const end = batch.ends[i];
      writeFileAtomic(batch.root, batch.entries[i], body.subarray(start, end), {
        verified,
      });
      start = end;
      files++;
    }
    return { id: batch.id, files };
  } catch (error) {
    return {
      id: batch.id,
      files,
      error: error instanceof Error ? error.message : String(error),
      errorName: error instanceof Error ? error.name : "Error",
    };
  }
}

const WORKER_URL = workerUrl("_write_worker", import.meta.url);
/** Files written on the calling thread first: small trees never start workers. */
const INLINE_FILES = 256;
const BATCH_FILES = 128;
const BATCH_BYTES = 1 << 20;

/**
 * Gathers whole small files (bodies copied at `add`, so the caller may
 * reuse its buffer) into batches for a pool of Workers writing them under
 * a local `root`; `onFile` hears each committed file. The first 256 go
 * straight to disk on the calling thread.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { WritePool } from "./write_pool.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * let files = 0;
 * const pool = new WritePool(root, { onFile: () => files++ });
 * await pool.add({ path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 }, new Uint8Array([7]));
 * await pool.finish();
 * if (files !== 1 || Deno.readFileSync(`${root}/a`)[0] !== 7) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class WritePool {
  readonly #root: string;
  readonly #onFile: (entry: FileEntry) => void;
  readonly #verified: Set<string>;
  readonly #pool: WorkerPool<WriteBatch, WriteAnswer> | undefined;
  #inline = 0;
  #entries: FileEntry[] = [];
  #bodies: Uint8Array[] = [];
  #bytes = 0;

  /** A pool writing under `root` on `workers` Workers (default 2; 0: none). */
  constructor(
    root: string,
    options: {
      workers?: number;
      onFile?: (entry: FileEntry) => void;
      /** Directories already checked on the calling thread. */
      verified?: Set<string>;
    } = {},
  ) {
    this.#root = root;
    this.#onFile = options.onFile ?? (() => {});
    this.#verified = options.verified ?? new Set();
    const workers = workerScriptExists(WORKER_URL) ? options.workers ?? 2 : 0;
    this.#pool = workers > 0
      ? new WorkerPool<WriteBatch, WriteAnswer>(
        WORKER_URL,
        workers,
        (answer, batch) => {
          for (let i = 0; i < answer.files; i++) this.#onFile(batch.entries[i]);
        },
      )
      : undefined;
  }

  /**
   * Writes `entry` with `body` (now or in a batch). The returned promise
   * waits only when the workers are behind.
   *
   * @throws {Error} an earlier batch's failure.
   */
  add(entry: FileEntry, body: Uint8Array): Promise<void> | undefined {
    const pool = this.#pool;
    if (pool?.failure) throw pool.failure;
    if (!pool || this.#inline < INLINE_FILES) {
      this.#inline++;
      if (this.#inline === INLINE_FILES) pool?.warm();
      writeFileAtomic(this.#root, entry, body, { verified: this.#verified });
      this.#onFile(entry);
      return undefined;
    }
    this.#entries.push(entry);
    this.#bodies.push(body.slice());
    this.#bytes += body.length;
    if (this.#entries.length >= BATCH_FILES || this.#bytes >= BATCH_BYTES) {
      return this.#post();
    }
    return undefined;
  }

  #post(): Promise<void> | undefined {
    if (this.#entries.length === 0) return undefined;
    const body = new Uint8Array(this.#bytes);
    const ends: number[] = [];
    let at = 0;
    for (const part of this.#bodies) {
      body.set(part, at);
      at += part.length;
      ends.push(at);
    }
    const batch: WriteBatch = {
      id: 0,
      root: this.#root,
      entries: this.#entries,
      ends,
      body: body.buffer,
    };
    this.#entries = [];
    this.#bodies = [];
    this.#bytes = 0;
    return this.#pool!.post(batch, [batch.body]);
  }

  /**
   * Writes what is gathered and waits for every batch; stops the workers.
   *
   * @throws {Error} the first failure.
   */
  async finish(): Promise<void> {
    try {
      await this.#post();
      await this.#pool?.drain();
    } finally {
      await this.close();
    }
  }

  /**
   * Drops what is gathered and stops the workers once their batches in
   * flight are written (those files land whole; none is left half-done).
   */
  close(): Promise<void> {
    this.#entries = [];
    this.#bodies = [];
    this.#bytes = 0;
    return this.#pool?.close() ?? Promise.resolve();
  }
}
