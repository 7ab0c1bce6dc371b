// Worker side of the description pool: describes an old copy the calling
// thread holds open (through its contained tree), reading the descriptor
// with pread.
import { loadLibc } from "../fs/_libc.ts";
import { ChunkDigest, describeRange } from "./describe.ts";
import type { DescribeAnswer, DescribeJob } from "./basis_pool.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<DescribeJob>) => void) | null;
  postMessage(message: DescribeAnswer, transfer?: Transferable[]): void;
};

let digest: ChunkDigest | undefined;
let hasher: ContentHasher | undefined;

scope.onmessage = async (event: MessageEvent<DescribeJob>) => {
  const { id, fd, size, start, length, avgBits, seed, content, whole } =
    event.data;
  try {
    const libc = loadLibc();
    if (!libc) throw new Error("libc is not available to read with");
    if (digest?.seed !== seed) digest = await ChunkDigest.create(seed);
    let offset = start;
    const pread = (p: Uint8Array): number => {
      const n = Number(
        libc.fn.pread(fd, p, BigInt(p.length), BigInt(offset)),
      );
      if (n < 0) throw new Error(`read failed (errno ${libc.errno()})`);
      offset += n;
      return n;
    };
    const file = {
      readSync: (p: Uint8Array): number | null => pread(p) || null,
    };
    const plain = content ? hasher ??= await contentHasher() : undefined;
    plain?.init();
    const salted = whole ? digest.wholeHasher().init() : undefined;
    let part = describeRange(file, length, avgBits, digest, (bytes) => {
      plain?.update(bytes);
      salted?.update(bytes);
    });
    // The last stretch: a file that went on past its size is changing.
    if (part && start + length === size && pread(new Uint8Array(1)) > 0) {
      part = undefined;
    }
    const answer: DescribeAnswer = { id, part };
    if (part && plain) answer.content = plain.digest("binary");
    if (part && salted) answer.whole = salted.digest("binary");
    scope.postMessage(
      answer,
      part
        ? [
          part.lengths.buffer as ArrayBuffer,
          part.digests.buffer as ArrayBuffer,
        ]
        : [],
    );
  } catch (error) {
    scope.postMessage({
      id,
      error: error instanceof Error ? error.message : String(error),
    });
  }
};
