// Worker side of the description pool: describes old copies the calling
// thread holds open (through its contained tree), reading the descriptors
// with pread: a stretch of a big one, or a batch of small ones whole.
import { type Libc, loadLibc } from "../fs/_libc.ts";
import {
  ChunkDigest,
  describeBlocks,
  describeRange,
  hashRead,
  inBlocks,
  WHOLE_MAX_BYTES,
} from "./describe.ts";
import { avgBitsFor } from "./chunker.ts";
import type {
  DescribeAnswer,
  DescribeJob,
  FileDescription,
  FilesJob,
  StretchJob,
} from "./basis_pool.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<DescribeJob>) => void) | null;
  postMessage(message: DescribeAnswer, transfer?: Transferable[]): void;
};

let digest: ChunkDigest | undefined;
let salted: ContentHasher | undefined;
let hasher: ContentHasher | undefined;

/** The digest (and salted whole hasher) for `seed`, made once per seed. */
async function digestFor(seed: number): Promise<ChunkDigest> {
  if (digest?.seed !== seed) {
    digest = await ChunkDigest.create(seed);
    salted = undefined;
  }
  return digest;
}

/** Reads `fd` from `offset` on, as a `readSync` handle. */
function reader(libc: Libc, fd: number, offset: number) {
  const pread = (p: Uint8Array): number => {
    const n = libc.pread(fd, p as Uint8Array<ArrayBuffer>, p.length, offset);
    if (n < 0) throw new Error(`read failed (errno ${-n})`);
    offset += n;
    return n;
  };
  return {
    readSync: (p: Uint8Array): number | null => pread(p) || null,
  };
}

async function stretch(job: StretchJob, libc: Libc): Promise<void> {
  const { id, fd, size, start, length, avgBits, seed, content, whole } = job;
  const digest = await digestFor(seed);
  const file = reader(libc, fd, start);
  const plain = content ? hasher ??= await contentHasher() : undefined;
  plain?.init();
  const wholeHash = whole ? digest.wholeHasher().init() : undefined;
  const onRead = (bytes: Uint8Array) => {
    plain?.update(bytes);
    wholeHash?.update(bytes);
  };
  // The last stretch: a file that went on past its size is changing.
  const last = start + length === size;
  const part = job.blocks
    ? describeBlocks(file, length, avgBits, digest, onRead, last)
    : describeRange(file, length, avgBits, digest, onRead, last);
  const answer: DescribeAnswer = { id, part };
  if (part && plain) {
    answer.content = plain.digest("binary");
    const state = plain.saveState?.();
    if (state) answer.state = state;
  }
  if (part && wholeHash) answer.whole = wholeHash.digest("binary");
  scope.postMessage(
    answer,
    part
      ? [
        part.lengths.buffer as ArrayBuffer,
        part.digests.buffer as ArrayBuffer,
        ...(part.weak ? [part.weak.buffer as ArrayBuffer] : []),
        ...(part.runs ? [part.runs.buffer as ArrayBuffer] : []),
      ]
      : [],
  );
}

async function files(job: FilesJob, libc: Libc): Promise<void> {
  const digest = await digestFor(job.seed);
  const plain = hasher ??= await contentHasher();
  const wholeHash = salted ??= digest.wholeHasher();
  const out: FileDescription[] = [];
  const transfer: ArrayBuffer[] = [];
  for (const { fd, size, content, byHash } of job.files) {
    try {
      const file = reader(libc, fd, 0);
      if (byHash) {
        const digest = hashRead(file, size, plain);
        // The hasher's state too: an append is hashed on from there.
        const state = digest && plain.saveState?.();
        out.push(digest ? { byHash: digest, ...(state ? { state } : {}) } : {});
        continue;
      }
      // In fixed blocks (no whole-copy hash) from BLOCKS_MIN_BYTES, as
      // everywhere (such a copy rarely comes in a batch).
      const blocks = inBlocks(size);
      const whole = size < WHOLE_MAX_BYTES && !blocks;
      plain.init();
      wholeHash.init();
      const onRead = (b: Uint8Array) => {
        if (content) plain.update(b);
        if (whole) wholeHash.update(b);
      };
      // Read past its size: a file that went on is changing.
      const part = blocks
        ? describeBlocks(file, size, avgBitsFor(size), digest, onRead, true)
        : describeRange(file, size, avgBitsFor(size), digest, onRead, true);
      if (!part) {
        out.push({});
        continue;
      }
      const got: FileDescription = { part };
      if (content) {
        got.content = plain.digest("binary");
        const state = plain.saveState?.();
        if (state) got.state = state;
      }
      if (whole && part.lengths.length > 1) {
        got.whole = wholeHash.digest("binary");
      }
      out.push(got);
      transfer.push(
        part.lengths.buffer as ArrayBuffer,
        part.digests.buffer as ArrayBuffer,
        ...(part.weak ? [part.weak.buffer as ArrayBuffer] : []),
        ...(part.runs ? [part.runs.buffer as ArrayBuffer] : []),
      );
    } catch {
      out.push({}); // unreadable now: that file goes whole
    }
  }
  scope.postMessage({ id: job.id, files: out }, transfer);
}

scope.onmessage = async (event: MessageEvent<DescribeJob>) => {
  const job = event.data;
  try {
    const libc = loadLibc();
    if (!libc) throw new Error("libc is not available to read with");
    if ("files" in job) await files(job, libc);
    else await stretch(job, libc);
  } catch (error) {
    scope.postMessage({
      id: job.id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
};
