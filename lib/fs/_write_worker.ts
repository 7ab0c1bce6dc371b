// Worker side of the write pool: writes batches of whole small files.
import { type WriteAnswer, type WriteBatch, writeBatch } from "./write_pool.ts";

const verified = new Set<string>();
// Worker globals are not in the default (window) type environment.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<WriteBatch>) => void) | null;
  postMessage(message: WriteAnswer): void;
};

scope.onmessage = (event: MessageEvent<WriteBatch>) => {
  scope.postMessage(writeBatch(event.data, verified));
};
