// Worker side of the description pool: describes an old copy the calling
// thread holds open (through its contained tree), reading the descriptor
// with pread.
import { loadLibc } from "../fs/_libc.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";
import { describeHandle } from "./basis.ts";
import type { DescribeAnswer, DescribeJob } from "./basis_pool.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<DescribeJob>) => void) | null;
  postMessage(message: DescribeAnswer, transfer?: Transferable[]): void;
};

let hasher: ContentHasher | undefined;

scope.onmessage = async (event: MessageEvent<DescribeJob>) => {
  const { id, fd, size } = event.data;
  try {
    const libc = loadLibc();
    if (!libc) throw new Error("libc is not available to read with");
    hasher ??= await contentHasher();
    let offset = 0;
    const file = {
      readSync(p: Uint8Array): number | null {
        const n = Number(
          libc.fn.pread(fd, p, BigInt(p.length), BigInt(offset)),
        );
        if (n < 0) throw new Error(`read failed (errno ${libc.errno()})`);
        offset += n;
        return n === 0 ? null : n;
      },
    };
    const offer = describeHandle(file, size, hasher);
    scope.postMessage(
      { id, offer },
      offer
        ? [
          offer.lengths.buffer as ArrayBuffer,
          offer.digests.buffer as ArrayBuffer,
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
