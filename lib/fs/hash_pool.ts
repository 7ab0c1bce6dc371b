// Hashing off the thread that answers clients: a resume offer, a partial
// copy or `--checksum` can make the daemon read gigabytes, and no client's
// say-so may stall the others. Workers share the process's descriptor
// table, so the calling thread opens the file through its tree (checked,
// contained) and a worker reads that very descriptor with pread.
import { type Libc, loadLibc } from "./_libc.ts";
import { type ContentHasher, contentHasher } from "./hash.ts";
import { workerScriptExists, workerUrl } from "./worker_pool.ts";
import { descriptorOf } from "./tree.ts";

/** One job: ranges of an open descriptor to hash. */
export interface HashJob {
  /** Set by the pool. */
  id: number;
  /** A descriptor the caller keeps open until the answer. */
  fd: number;
  /** Offset and length pairs; a length of -1 reads to the end of the file. */
  ranges: number[];
}

/** A worker's answer. */
export interface HashAnswer {
  /** The job's id. */
  id: number;
  /** 16 bytes per range hashed in full, in order. */
  digests?: Uint8Array<ArrayBuffer>;
  /** Ranges hashed in full (fewer than asked when the file ended first). */
  complete: number;
  /** Set when reading failed. */
  error?: string;
}

/** What the pool answers: one digest per range read in full. */
export interface RangeDigests {
  /** One 16-byte xxh3-128 digest per range, until the file ended. */
  digests: Uint8Array[];
}

const READ_BYTES = 1 << 20;
let workerLibc: Libc | undefined;
let workerHasher: ContentHasher | undefined;

/**
 * Hashes a job's ranges on this thread (what the worker runs; also the
 * calling thread's fallback).
 */
export async function hashRanges(job: HashJob): Promise<HashAnswer> {
  try {
    workerLibc ??= loadLibc();
    if (!workerLibc) throw new Error("libc is not available to hash with");
    workerHasher ??= await contentHasher();
    const libc = workerLibc;
    const hasher = workerHasher;
    const count = job.ranges.length / 2;
    const digests = new Uint8Array(count * 16);
    const buf = new Uint8Array(READ_BYTES);
    let complete = 0;
    for (let r = 0; r < count; r++) {
      let offset = job.ranges[2 * r];
      const length = job.ranges[2 * r + 1];
      let left = length < 0 ? Infinity : length;
      hasher.init();
      let ended = false;
      // Bounded: each turn reads at least one byte or stops.
      while (left > 0) {
        const want = Math.min(left, buf.length);
        const n = libc.pread(job.fd, buf, want, offset);
        if (n < 0) throw new Error(`read failed (errno ${-n})`);
        if (n === 0) {
          ended = length >= 0;
          break;
        }
        hasher.update(buf.subarray(0, n));
        offset += n;
        left -= n;
      }
      if (ended) break;
      digests.set(hasher.digest("binary"), r * 16);
      complete++;
    }
    return { id: job.id, digests, complete };
  } catch (error) {
    return {
      id: job.id,
      complete: 0,
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

const WORKER_URL = workerUrl("_hash_worker", import.meta.url);
/** Workers that hash: enough for two clients at once, few enough to stay small. */
const WORKERS = 2;
/** An idle pool's workers go after this long. */
const IDLE_MS = 10_000;

/**
 * A few Workers hashing ranges of open descriptors. Jobs queue; each
 * worker takes one at a time.
 */
export class HashPool {
  /** Set when a worker failed: callers hash on their own thread instead. */
  broken = false;
  #warm = false;
  #workers: { worker: Worker; busy: boolean }[] = [];
  #queue: { job: HashJob; resolve: (a: HashAnswer) => void }[] = [];
  #waiting = new Map<number, (a: HashAnswer) => void>();
  #nextId = 1;
  #idle: ReturnType<typeof setTimeout> | undefined;

  /** Hashes `ranges` of `fd` (kept open by the caller until this settles). */
  hash(
    fd: number,
    ranges: readonly { offset: number; length: number }[],
  ): Promise<RangeDigests> {
    const flat: number[] = [];
    for (const r of ranges) flat.push(r.offset, r.length);
    const job: HashJob = { id: this.#nextId++, fd, ranges: flat };
    return new Promise<HashAnswer>((resolve) => {
      this.#queue.push({ job, resolve });
      this.#pump();
    }).then((answer) => {
      if (answer.error) throw new Error(answer.error);
      const digests: Uint8Array[] = [];
      for (let i = 0; i < answer.complete; i++) {
        digests.push(answer.digests!.subarray(i * 16, i * 16 + 16));
      }
      return { digests };
    });
  }

  #pump(): void {
    if (this.#idle !== undefined) {
      clearTimeout(this.#idle);
      this.#idle = undefined;
    }
    for (;;) {
      const next = this.#queue[0];
      if (!next) break;
      let slot = this.#workers.find((w) => !w.busy);
      if (!slot && this.#workers.length < WORKERS) slot = this.#start();
      if (!slot) break;
      this.#queue.shift();
      slot.busy = true;
      const owner = slot;
      this.#waiting.set(next.job.id, (answer) => {
        owner.busy = false;
        next.resolve(answer);
        this.#pump();
      });
      slot.worker.postMessage(next.job);
    }
    if (this.#queue.length === 0 && this.#waiting.size === 0 && !this.#warm) {
      const idle = setTimeout(() => this.close(), IDLE_MS);
      this.#idle = idle;
      Deno.unrefTimer(idle as unknown as number);
    }
  }

  #start(): { worker: Worker; busy: boolean } {
    const worker = new Worker(WORKER_URL, { type: "module" });
    const slot = { worker, busy: false };
    worker.onmessage = (event: MessageEvent<HashAnswer>) => {
      const done = this.#waiting.get(event.data.id);
      this.#waiting.delete(event.data.id);
      done?.(event.data);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(slot, event.message ?? "hash worker failed");
    };
    this.#workers.push(slot);
    return slot;
  }

  #fail(slot: { worker: Worker }, message: string): void {
    slot.worker.terminate();
    // A worker that can't start (no permission to read its module, say)
    // won't start next time either: hashing stays on the calling thread.
    this.broken = true;
    this.#workers = this.#workers.filter((w) => w !== slot);
    for (const [id, done] of this.#waiting) {
      this.#waiting.delete(id);
      done({ id, complete: 0, error: message });
    }
  }

  /**
   * Starts the workers now and keeps them (a daemon's first resume or
   * `--checksum` then doesn't wait ~0.2 s for a worker to load its
   * hasher). Resolves once they are ready.
   */
  async keepWarm(): Promise<void> {
    this.#warm = true;
    const ready: Promise<RangeDigests>[] = [];
    for (let i = 0; i < WORKERS; i++) ready.push(this.hash(-1, []));
    await Promise.allSettled(ready);
  }

  /** Stops the workers (a later job starts them again). */
  close(): void {
    for (const { worker } of this.#workers) worker.terminate();
    this.#workers = [];
    for (const [id, done] of this.#waiting) {
      done({ id, complete: 0, error: "The hash pool was closed" });
    }
    this.#waiting.clear();
  }
}

let shared: HashPool | null | undefined;

/**
 * The process's hash pool, or undefined where hashing must stay on the
 * calling thread (no libc through FFI, or no worker script next to this
 * module, as in a single-file bundle).
 *
 * @example
 * ```ts
 * import { hashPool } from "./hash_pool.ts";
 * const pool = hashPool();
 * if (pool !== undefined && pool.broken) throw new Error("example failed");
 * ```
 */
export function hashPool(): HashPool | undefined {
  if (shared?.broken) shared = null;
  if (shared !== undefined) return shared ?? undefined;
  shared = loadLibc() && workerScriptExists(WORKER_URL) ? new HashPool() : null;
  return shared ?? undefined;
}

/**
 * The digests of `ranges` of `handle`, hashed on a worker where the handle
 * has a descriptor (a kernel tree's) and workers can run; undefined when
 * the caller must hash on its own thread (nothing was read then). The
 * caller keeps the handle open until this settles.
 */
export async function hashOnWorker(
  handle: object,
  ranges: readonly { offset: number; length: number }[],
): Promise<Uint8Array[] | undefined> {
  const fd = descriptorOf(handle);
  const pool = fd === undefined ? undefined : hashPool();
  if (!pool || fd === undefined) return undefined;
  try {
    return (await pool.hash(fd, ranges)).digests;
  } catch (error) {
    if (pool.broken) return undefined; // no worker here after all
    throw error;
  }
}
