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
  workerUrl,
} from "../fs/worker_pool.ts";
import { descriptorOf, type ReadHandle } from "../fs/tree.ts";
import type { BasisOffer } from "./basis.ts";
import {
  type DescribedRange,
  DIGEST_BYTES,
  inBlocks,
  runBlocksFor,
  WHOLE_MAX_BYTES,
} from "./describe.ts";
import { avgBitsFor, MAX_BASIS_CHUNKS } from "./chunker.ts";

/**
 * One job: describe the stretch [`start`, `start + length`) of an open
 * descriptor whose file has `size` bytes.
 */
export interface StretchJob {
  /** Set by the pool. */
  id: number;
  /** A descriptor the caller keeps open until the answer. */
  fd: number;
  /** The old copy's size, as the caller saw it. */
  size: number;
  /** Where the stretch starts (the chunker starts afresh there). */
  start: number;
  /** Its length (its last chunk ends at its end). */
  length: number;
  /** The chunks' average, `2^avgBits`, of the whole file. */
  avgBits: number;
  /** The description's seed. */
  seed: number;
  /** Also hash the stretch's content (xxh3-128), when it is the whole file. */
  content?: boolean;
  /** Also hash it whole salted with the seed (`BasisOffer.whole`), likewise. */
  whole?: boolean;
  /**
   * In fixed blocks of `2^avgBits` bytes with their rolling sums (a big
   * old copy: see `BLOCKS_MIN_BYTES`); `start` is then a whole number of
   * blocks.
   */
  blocks?: boolean;
}

/** One small old copy of a {@linkcode FilesJob}, described whole. */
export interface BatchFile {
  /** A descriptor the caller keeps open until the answer. */
  fd: number;
  /** Its size, as the caller saw it. */
  size: number;
  /** Also hash its content (xxh3-128). */
  content: boolean;
  /**
   * Only hash its content, no chunks (an old copy offered by its hash
   * alone: see `HASH_FIRST_MAX_BYTES`).
   */
  byHash?: boolean;
}

/**
 * One job: describe several small old copies whole, in order (one message
 * for many files: a message each would cost more than their chunking).
 */
export interface FilesJob {
  /** Set by the pool. */
  id: number;
  /** The descriptions' seed. */
  seed: number;
  /** The files. */
  files: BatchFile[];
}

/** What a worker is asked. */
export type DescribeJob = StretchJob | FilesJob;

/**
 * One file's description from a {@linkcode FilesJob}: no `part` when it
 * could not be read as `size` bytes (it changed, or the read failed).
 */
export interface FileDescription {
  /** Its chunks. */
  part?: DescribedRange;
  /** Its content hash, when asked for. */
  content?: Uint8Array;
  /** The content hasher's state after it (see `NativeHasher.saveState`), where it could be taken. */
  state?: Uint8Array;
  /** Its salted whole hash (under {@linkcode WHOLE_MAX_BYTES}). */
  whole?: Uint8Array;
  /** Its content hash alone, for a file asked `byHash`. */
  byHash?: Uint8Array;
}

/** A worker's answer: the stretch's chunks, none (the file changed), or why it failed. */
export interface DescribeAnswer extends PoolAnswer {
  /** The chunks; absent when the copy was not `size` bytes after all. */
  part?: DescribedRange;
  /** The content hash, when asked for. */
  content?: Uint8Array;
  /** The content hasher's state after it, where it could be taken. */
  state?: Uint8Array;
  /** The salted whole hash, when asked for. */
  whole?: Uint8Array;
  /** A {@linkcode FilesJob}'s descriptions, one a file, in order. */
  files?: FileDescription[];
}

const WORKER_URL = workerUrl("_basis_worker", import.meta.url);
/** Workers describing: one big file in two stretches at once, no more. */
const WORKERS = 2;
/** A stretch a worker describes is at least this long. */
const STRETCH_MIN = 8 << 20;
/** An idle pool's workers go after this long (starting them costs ~0.1 s). */
const IDLE_MS = 60_000;

let pool: WorkerPool<DescribeJob, DescribeAnswer> | null | undefined;
const waiting = new Map<number, (answer: DescribeAnswer) => void>();
let idle: ReturnType<typeof setTimeout> | undefined;
/** The workers stay once started (a daemon's: see {@linkcode warmDescribers}). */
let keepWarm = false;

/** Stops the workers once nothing has been asked for a while. */
function idleLater(): void {
  if (waiting.size > 0 || !pool || keepWarm) return;
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
 * Starts the describing workers now and keeps them (a daemon's: starting
 * a worker blocks the thread that starts it for ~30 ms, which a client's
 * transfer should not wait for); false where they can't run.
 *
 * @example
 * ```ts ignore
 * import { warmDescribers } from "./basis_pool.ts";
 * warmDescribers();
 * ```
 */
export function warmDescribers(): boolean {
  const workers = describePool();
  if (!workers) return false;
  keepWarm = true;
  workers.warm();
  return true;
}

/** Whether the describing workers are running (asking them costs no start-up). */
export function describersWarm(): boolean {
  return pool?.started === true && !pool.failure;
}

/**
 * Descriptions of several small open old copies, made whole on a worker
 * in one job (a kernel tree's descriptors, kept open by the caller until
 * this settles), one a file in order; `"here"` where the workers can't
 * (nothing was read: describe them on this thread).
 *
 * @example
 * ```ts ignore
 * import { describeFilesOffThread } from "./basis_pool.ts";
 * const got = await describeFilesOffThread([{ fd, size: 5000, content: true }], 1);
 * ```
 */
export async function describeFilesOffThread(
  files: BatchFile[],
  seed: number,
): Promise<FileDescription[] | "here"> {
  const workers = describePool();
  if (!workers) return "here";
  if (idle !== undefined) clearTimeout(idle);
  idle = undefined;
  const job: FilesJob = { id: 0, seed, files };
  let answered: Promise<DescribeAnswer | undefined>;
  try {
    // Its cost is what it reads: small batches go to the worker that is
    // not busy with a big copy's stretch.
    await workers.post(
      job,
      [],
      files.reduce((n, file) => n + file.size, 0),
    );
    // The answer comes as a message, after this turn; a worker that dies
    // instead ends the pool's batches in flight (then: undefined).
    answered = Promise.race([
      new Promise<DescribeAnswer>((resolve) => waiting.set(job.id, resolve)),
      workers.drain().then(() => undefined, () => undefined),
    ]);
  } catch {
    return "here";
  }
  const answer = await answered;
  waiting.delete(job.id);
  idleLater();
  if (
    !answer?.files || answer.error !== undefined ||
    answer.files.length !== files.length
  ) return "here";
  return answer.files;
}

/**
 * Stops the describing workers once they have nothing to do (a client's
 * transfer is over: its process must not wait for them to idle out).
 *
 * @example
 * ```ts
 * import { closeDescribers } from "./basis_pool.ts";
 * await closeDescribers();
 * ```
 */
export async function closeDescribers(): Promise<void> {
  if (waiting.size > 0 || !pool) return;
  if (idle !== undefined) clearTimeout(idle);
  idle = undefined;
  keepWarm = false;
  const stopping = pool;
  pool = undefined;
  await stopping.close();
}

/**
 * The description of the open old copy `handle` (`size` bytes) made on a
 * worker, where the handle has a descriptor (a kernel tree's) and
 * workers can run: the offer (with `content`, the copy's content hash,
 * when asked for and described in one stretch), or undefined when the
 * copy turned out another size. `"here"`: describe it on this thread (nothing was read).
 * The caller keeps the handle open until this settles.
 *
 * @example
 * ```ts
 * import { describeOffThread } from "./basis_pool.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeFileSync(path, new Uint8Array(10_000));
 * using file = Deno.openSync(path);
 * // A plain Deno file has no descriptor to share: described here.
 * if (await describeOffThread(file, 10_000, 1) !== "here") throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export async function describeOffThread(
  handle: ReadHandle,
  size: number,
  seed: number,
  content = false,
): Promise<
  | { offer: BasisOffer; content?: Uint8Array; state?: Uint8Array }
  | undefined
  | "here"
> {
  const fd = descriptorOf(handle);
  const workers = fd === undefined ? undefined : describePool();
  if (!workers || fd === undefined) return "here";
  if (idle !== undefined) clearTimeout(idle);
  idle = undefined;
  const avgBits = avgBitsFor(size);
  // A big copy in stretches, one a worker, cut at once: the chunker
  // starts afresh at each stretch (a cut the sender's chunker would not
  // make costs it a chunk of literal bytes only where an edit falls
  // right there; where the file is unchanged the sender checks the
  // chunks in order by length and digest, wherever their cuts are).
  const stretches = Math.max(
    1,
    Math.min(WORKERS, Math.floor(size / STRETCH_MIN)),
  );
  // In fixed blocks, a stretch is a whole number of runs of them (where
  // the next one starts, the blocks and their runs go on as if read in
  // one).
  const blocks = inBlocks(size);
  const unit = 2 ** avgBits * runBlocksFor(avgBits);
  const edge = (k: number) => {
    const at = Math.floor(k * size / stretches);
    return blocks && k < stretches ? at - at % unit : at;
  };
  const answers: Promise<DescribeAnswer>[] = [];
  try {
    for (let k = 0; k < stretches; k++) {
      const start = edge(k);
      const end = edge(k + 1);
      const job: StretchJob = {
        id: 0,
        fd,
        size,
        start,
        length: end - start,
        avgBits,
        seed,
        // One stretch is the whole file: its hashes come too.
        ...(content && stretches === 1 ? { content } : {}),
        // (A copy in fixed blocks has no whole-copy hash.)
        ...(stretches === 1 && size < WHOLE_MAX_BYTES && !blocks
          ? { whole: true }
          : {}),
        ...(blocks ? { blocks } : {}),
      };
      await workers.post(job, [], job.length);
      // The answer comes as a message, after this turn.
      answers.push(
        new Promise<DescribeAnswer>((resolve) => waiting.set(job.id, resolve)),
      );
    }
  } catch {
    if (answers.length === 0) return "here";
  }
  const got = await Promise.all(answers);
  idleLater();
  if (answers.length < stretches || got.some((a) => a.error !== undefined)) {
    return "here";
  }
  if (got.some((a) => !a.part)) return undefined;
  const offer = joined(got.map((a) => a.part!), { avgBits, seed, size });
  if (offer && got[0].whole && offer.lengths.length > 1) {
    offer.whole = got[0].whole;
  }
  return offer &&
    {
      offer,
      content: got[0].content,
      ...(got[0].state ? { state: got[0].state } : {}),
    };
}

/** The stretches' chunks as one description (undefined: too many chunks). */
function joined(
  parts: DescribedRange[],
  head: Pick<BasisOffer, "avgBits" | "seed" | "size">,
): BasisOffer | undefined {
  if (parts.length === 1) return { ...head, ...parts[0] };
  const count = parts.reduce((n, p) => n + p.lengths.length, 0);
  if (count > MAX_BASIS_CHUNKS) return undefined;
  const lengths = new Uint32Array(count);
  const digests = new Uint8Array(count * DIGEST_BYTES);
  const weak = parts[0].weak && new Uint8Array(count * DIGEST_BYTES);
  const runCount = parts.reduce((n, p) => n + (p.runs?.length ?? 0), 0);
  const runs = runCount > 0 ? new Uint8Array(runCount) : undefined;
  let at = 0;
  let runAt = 0;
  for (const part of parts) {
    lengths.set(part.lengths, at);
    digests.set(part.digests, at * DIGEST_BYTES);
    if (weak) weak.set(part.weak!, at * DIGEST_BYTES);
    if (runs && part.runs) {
      runs.set(part.runs, runAt);
      runAt += part.runs.length;
    }
    at += part.lengths.length;
  }
  return {
    ...head,
    lengths,
    digests,
    ...(weak ? { weak } : {}),
    ...(runs ? { runs } : {}),
  };
}
