// Worker side of the local copy pool: copies batches of small files.
import { type CopyBatch, copyIfNeeded, type CopyResult } from "./_copy_pool.ts";

const verified = new Set<string>();
// Worker globals are not in the default (window) type environment.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<CopyBatch>) => void) | null;
  postMessage(message: CopyResult): void;
};

scope.onmessage = (event: MessageEvent<CopyBatch>) => {
  const { id, destRoot, items } = event.data;
  let done = 0;
  let skipped = 0;
  let bytes = 0;
  try {
    for (const item of items) {
      if (copyIfNeeded(item, destRoot, { verified })) bytes += item.entry.size;
      else skipped++;
      done++;
    }
    scope.postMessage({ id, done, skipped, bytes } satisfies CopyResult);
  } catch (error) {
    scope.postMessage(
      {
        id,
        done,
        skipped,
        bytes,
        error: error instanceof Error ? error.message : String(error),
        errorName: error instanceof Error ? error.name : "Error",
      } satisfies CopyResult,
    );
  }
};
