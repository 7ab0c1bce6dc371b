// Describing old copies off the thread that answers clients: a pushing
// client's changed 100 GiB file makes the daemon read 100 GiB through the
// chunker, and no client's say-so may stall the others. Workers share the
// process's descriptor table: the calling thread opens the old copy
// through its tree (checked, contained) and a worker reads that very
// descriptor.
import { loadLibc } from "../fs/_libc.ts";
import {
  type PoolAnswer,
  WorkerPool,
  workerScriptExists,
} from "../fs/worker_pool.ts";
import { descriptorOf, type ReadHandle } from "../fs/tree.ts";
import type { BasisOffer } from "./basis.ts";

/** One job: describe `size` bytes of an open descriptor. */
export interface DescribeJob {
  /** Set by the pool. */
  id: number;
  /** A descriptor the caller keeps open until the answer. */
  fd: number;
  /** The old copy's size, as the caller saw it. */
  size: number;
}

/** A worker's answer: the description, none (the file changed), or why it failed. */
export interface DescribeAnswer extends PoolAnswer {
  /** The description; absent when the copy was not `size` bytes after all. */
  offer?: BasisOffer;
}

const WORKER_URL = new URL("./_basis_worker.ts", import.meta.url);
/** Workers describing: two clients' files at once, no more. */
const WORKERS = 2;
/** An idle pool's workers go after this long (starting them costs ~0.1 s). */
const IDLE_MS = 60_000;

let pool: WorkerPool<DescribeJob, DescribeAnswer> | null | undefined;
const waiting = new Map<number, (answer: DescribeAnswer) => void>();
let idle: ReturnType<typeof setTimeout> | undefined;

/** Stops the workers once nothing has been asked for a while. */
function idleLater(): void {
  if (waiting.size > 0 || !pool) return;
  const timer = setTimeout(() => {
    idle = undefined;
    if (waiting.size > 0 || !pool) return;
    const stopping = pool;
    pool = undefined;
    stopping.close();
  }, IDLE_MS);
  idle = timer;
  Deno.unrefTimer(timer as unknown as number);
}

function describePool(): WorkerPool<DescribeJob, DescribeAnswer> | undefined {
  if (pool === undefined) {
    pool = loadLibc() && workerScriptExists(WORKER_URL)
      ? new WorkerPool<DescribeJob, DescribeAnswer>(
        WORKER_URL,
        WORKERS,
        (answer) => {
          const done = waiting.get(answer.id);
          waiting.delete(answer.id);
          done?.(answer);
        },
      )
      : null;
  }
  // A pool that failed once (a worker that can't start) stays unused.
  if (pool?.failure) pool = null;
  return pool ?? undefined;
}

/**
 * The description of the open old copy `handle` (`size` bytes) made on a
 * worker, where the handle has a descriptor (a kernel tree's) and
 * workers can run: the offer, or undefined when the copy turned out
 * another size. `"here"`: describe it on this thread (nothing was read).
 * The caller keeps the handle open until this settles.
 *
 * @example
 * ```ts
 * import { describeOffThread } from "./basis_pool.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(10_000));
 * using file = Deno.openSync(path);
 * // A plain Deno file has no descriptor to share: described here.
 * if (await describeOffThread(file, 10_000) !== "here") throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export async function describeOffThread(
  handle: ReadHandle,
  size: number,
): Promise<BasisOffer | undefined | "here"> {
  const fd = descriptorOf(handle);
  const workers = fd === undefined ? undefined : describePool();
  if (!workers || fd === undefined) return "here";
  if (idle !== undefined) clearTimeout(idle);
  idle = undefined;
  const job: DescribeJob = { id: 0, fd, size };
  let answered!: (answer: DescribeAnswer) => void;
  const answer = new Promise<DescribeAnswer>((resolve) => answered = resolve);
  try {
    await workers.post(job);
  } catch {
    return "here";
  }
  // The answer comes as a message, after this turn.
  waiting.set(job.id, answered);
  const got = await answer;
  idleLater();
  if (got.error !== undefined) return "here";
  return got.offer;
}
