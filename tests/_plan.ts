// A receiver's plan of one manifest batch, as tests see it: which files it
// names, and whether each old copy goes by its hash alone or in full.
import { offeredByHash } from "../lib/delta/basis.ts";
import type { FileEntry } from "../lib/fs/entry.ts";
import type { Receiver } from "../lib/transfer/receiver.ts";

/**
 * Plans `entries` in one batch: each file named, as "path hash" (its old
 * copy offered by hash alone) or "path full" (described in full, or no
 * old copy offered).
 */
export async function planNamed(
  receiver: Receiver,
  entries: FileEntry[],
  flush?: () => void,
): Promise<string[]> {
  const named: string[] = [];
  await receiver.planBatches(
    (async function* () {
      yield entries;
    })(),
    (path, { basis }) => {
      named.push(
        `${path} ${basis && offeredByHash(basis) ? "hash" : "full"}`,
      );
    },
    flush,
  );
  return named;
}
