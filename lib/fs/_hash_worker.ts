// Worker side of the hash pool: hashes byte ranges of a descriptor the
// calling thread holds open, reading with pread through libc.
import { type HashAnswer, type HashJob, hashRanges } from "./hash_pool.ts";

// Worker globals are not in the default (window) type environment.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent<HashJob>) => void) | null;
  postMessage(message: HashAnswer, transfer?: Transferable[]): void;
};

scope.onmessage = async (event: MessageEvent<HashJob>) => {
  const answer = await hashRanges(event.data);
  scope.postMessage(answer, answer.digests ? [answer.digests.buffer] : []);
};
