// Worker side of the local copy pool: copies batches of small files.
import { copyFileAtomic } from "../fs/atomic_write.ts";
import type { CopyBatch, CopyResult } from "./_copy_pool.ts";

const verified = new Set<string>();
// Worker globals are not in the default (window) type environment.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CopyBatch>) => void) | null;
  postMessage(message: CopyResult): void;
};

scope.onmessage = (event: MessageEvent<CopyBatch>) => {
  const { id, destRoot, items } = event.data;
  let done = 0;
  try {
    for (const item of items) {
      copyFileAtomic(item.src, destRoot, item.entry, { verified });
      done++;
    }
    scope.postMessage({ id, done } satisfies CopyResult);
  } catch (error) {
    scope.postMessage(
      {
        id,
        done,
        error: error instanceof Error ? error.message : String(error),
        errorName: error instanceof Error ? error.name : "Error",
      } satisfies CopyResult,
    );
  }
};
