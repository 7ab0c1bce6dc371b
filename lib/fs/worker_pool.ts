// A few Workers taking batches of per-file work off the event loop: for
// trees of small files the per-file system calls dominate, and sync calls
// on two threads beat async ones on one.

/** What every batch carries: its number, to match the answer. */
export interface PoolBatch {
  /** Set by the pool. */
  id: number;
}

/** What a worker answers for a batch. */
export interface PoolAnswer {
  /** The batch's id. */
  id: number;
  /** Set when the batch failed part-way. */
  error?: string;
  /** The failure's class name (kept for error mapping). */
  errorName?: string;
}

/** A worker failed a batch. */
export class PoolError extends Error {
  /** Keeps the worker's error name (e.g. `EntryConflictError`). */
  constructor(message: string, name: string) {
    super(message);
    this.name = name === "Error" ? "PoolError" : name;
  }
}

/**
 * The URL of the Worker script `name` (say `_hash_worker`) beside the
 * module at `base` (its `import.meta.url`): the `.ts` source next to a
 * source module; in a bundle (a `.js` file all of whose modules share its
 * URL), the `.js` bundle of that Worker that `deno task bundle` writes
 * beside it.
 *
 * @example
 * ```ts
 * import { workerUrl } from "./worker_pool.ts";
 * if (workerUrl("_w", "file:///r/lib/fs/pool.ts").href !== "file:///r/lib/fs/_w.ts") throw new Error("example failed");
 * if (workerUrl("_w", "file:///r/dist/blit.js").href !== "file:///r/dist/_w.js") throw new Error("example failed");
 * ```
 */
export function workerUrl(name: string, base: string): URL {
  return new URL(`./${name}${isBundled(base) ? ".js" : ".ts"}`, base);
}

/**
 * Whether the module at `base` (its `import.meta.url`) is part of a
 * bundle: a `.js` file (blit's own modules are TypeScript).
 */
export function isBundled(base: string): boolean {
  return new URL(base).pathname.endsWith(".js");
}

/**
 * Whether a worker script exists at `url`: a single-file bundle built
 * without its Workers has none next to it, and then the work stays on the
 * calling thread.
 */
export function workerScriptExists(url: URL): boolean {
  if (url.protocol !== "file:") return true;
  try {
    return Deno.statSync(url).isFile;
  } catch {
    return false;
  }
}

const IN_FLIGHT_PER_WORKER = 2;

/**
 * `size` Workers running the module at `url`, with at most two batches in
 * flight each; each batch goes to the worker with the least work still
 * to do (in the cost `post` was told; in turn among equals), so a small
 * batch never queues behind a big one while another worker idles. `post`
 * waits for room, so a fast producer is held back. Each answer goes to
 * `onAnswer` with its batch (failures too, then the first failure is
 * thrown by the next `post` or by `drain`).
 *
 * @example
 * ```ts ignore
 * const pool = new WorkerPool(new URL("./_write_worker.ts", import.meta.url), 2, (a) => {});
 * await pool.post({ root, entries, ends, body }, [body]);
 * await pool.drain();
 * pool.close();
 * ```
 */
export class WorkerPool<B extends PoolBatch, A extends PoolAnswer> {
  readonly #url: URL;
  readonly #size: number;
  readonly #onAnswer: (answer: A, batch: B) => void;
  #workers: Worker[] = [];
  #pending = new Map<
    number,
    { batch: B; done: () => void; worker: number; cost: number }
  >();
  /** Each worker's batches in flight, in their posted cost. */
  #load: number[] = [];
  #inFlight = new Set<Promise<void>>();
  #nextId = 0;
  #failure: PoolError | undefined;

  /** A pool of `size` workers (started by the first batch, or `warm`). */
  constructor(
    url: URL,
    size: number,
    onAnswer: (answer: A, batch: B) => void,
  ) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `A worker pool needs 1 or more workers, got ${size}`,
      );
    }
    this.#url = url;
    this.#size = size;
    this.#onAnswer = onAnswer;
  }

  /** Whether the workers were started. */
  get started(): boolean {
    return this.#workers.length > 0;
  }

  /** The first failure, if a batch failed. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Starts the workers now, so their start-up overlaps other work. */
  warm(): void {
    if (this.#workers.length > 0) return;
    for (let i = 0; i < this.#size; i++) {
      const worker = new Worker(this.#url, { type: "module" });
      worker.onmessage = (event: MessageEvent<A>) => this.#answer(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        this.#fail(new PoolError(event.message ?? "A worker failed", "Error"));
      };
      this.#workers.push(worker);
      this.#load.push(0);
    }
  }

  #answer(answer: A): void {
    const pending = this.#pending.get(answer.id);
    if (!pending) return;
    this.#pending.delete(answer.id);
    this.#load[pending.worker] -= pending.cost;
    if (answer.error !== undefined) {
      this.#failure ??= new PoolError(
        answer.error,
        answer.errorName ?? "Error",
      );
    }
    try {
      this.#onAnswer(answer, pending.batch);
    } finally {
      pending.done();
    }
  }

  /** A worker died: every batch in flight is lost. */
  #fail(error: PoolError): void {
    this.#failure ??= error;
    for (const { done } of this.#pending.values()) done();
    this.#pending.clear();
    this.#load.fill(0);
  }

  /**
   * Posts a batch (its `id` is set here), once fewer than two a worker
   * are in flight, to the least loaded worker. `transfer` moves buffers
   * instead of copying them; `cost` is the batch's work in any unit the
   * caller uses for all its batches (bytes to read, say).
   *
   * @throws {PoolError} when an earlier batch failed.
   * @throws {RangeError} when `cost` is not a finite number >= 0.
   */
  async post(
    batch: B,
    transfer: Transferable[] = [],
    cost = 1,
  ): Promise<void> {
    if (!Number.isFinite(cost) || cost < 0) {
      throw new RangeError(`A batch's cost must be >= 0, got ${cost}`);
    }
    if (this.#failure) throw this.#failure;
    this.warm();
    while (this.#inFlight.size >= this.#workers.length * IN_FLIGHT_PER_WORKER) {
      await Promise.race(this.#inFlight);
      if (this.#failure) throw this.#failure;
    }
    batch.id = this.#nextId++;
    const worker = this.#leastLoaded(batch.id);
    this.#load[worker] += cost;
    const answered = new Promise<void>((done) => {
      this.#pending.set(batch.id, { batch, done, worker, cost });
    });
    const tracked: Promise<void> = answered.then(() => {
      this.#inFlight.delete(tracked);
    });
    this.#inFlight.add(tracked);
    this.#workers[worker].postMessage(batch, transfer);
  }

  /** The worker with the least load, looking from `turn` on (ties: the first). */
  #leastLoaded(turn: number): number {
    const n = this.#workers.length;
    let best = turn % n;
    for (let k = 1; k < n; k++) {
      const i = (turn + k) % n;
      if (this.#load[i] < this.#load[best]) best = i;
    }
    return best;
  }

  /** Whether a `post` now would wait for room. */
  get full(): boolean {
    return this.#workers.length > 0 &&
      this.#inFlight.size >= this.#workers.length * IN_FLIGHT_PER_WORKER;
  }

  /**
   * Waits for every batch in flight.
   *
   * @throws {PoolError} when a batch failed.
   */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    if (this.#failure) throw this.#failure;
  }

  /**
   * Stops the workers once the batches in flight are answered: a worker
   * stopped in the middle of a file would leave its temporary file.
   */
  async close(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    for (const worker of this.#workers) worker.terminate();
    this.#workers = [];
    this.#load = [];
  }
}
