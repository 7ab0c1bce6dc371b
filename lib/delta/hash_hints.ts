// Hash hints: a pulling client that holds older copies asks the daemon to
// list each regular file with its content hash. The daemon hashes them on
// its describing workers, a batch at a time, while its walk goes on; the
// client compares its own old copy of the same size with the hint and,
// when they are the same content, only sets the new mode and mtime: the
// file is never named, read by the daemon again or sent (see PROTOCOL.md,
// "Hash hints").
import type { FileEntry } from "../fs/entry.ts";
import { mtimeMsOf, mtimeNsOf } from "../fs/native_stat.ts";
import {
  descriptorOf,
  openedStatus,
  type ReadHandle,
  type Tree,
} from "../fs/tree.ts";
import { DELTA_MIN_BYTES, HASH_FIRST_MAX_BYTES } from "./basis.ts";
import { describeFilesOffThread } from "./basis_pool.ts";
import { hashSteady } from "./describe.ts";
import { openIfThere } from "../fs/contained_root.ts";
import { type ContentHasher, contentHasher } from "../fs/hash.ts";

/** Files hashed in one job on a worker. */
const HINT_BATCH_FILES = 64;
/** Or once they hold this many bytes. */
const HINT_BATCH_BYTES = 8 << 20;
/** Entries held back at most while their batch is hashed. */
const HINT_BATCH_ENTRIES = 512;
/** Batches being hashed at once (one a describing worker). */
const HINTS_IN_FLIGHT = 2;

/**
 * A pushing client hints only files under this size: its daemon compares
 * each hinted old copy on the thread that plans the transfer, and a file
 * read there must not hold the other sessions back (bigger ones are
 * offered by their hash and hashed on the describing workers, as without
 * hints).
 */
export const PUSH_HINT_MAX_BYTES = 1 << 20;

/** Whether a regular file of `size` bytes gets a hint. */
export function hinted(size: number): boolean {
  return size >= DELTA_MIN_BYTES && size < HASH_FIRST_MAX_BYTES;
}

interface Opened {
  entry: FileEntry;
  file: ReadHandle;
  fd: number;
}

/**
 * `entries` (a walk of `tree`, paths relative to it) in order, each
 * regular file of a hinted size with `hash` set to its content hash
 * (xxh3-128, as the end-to-end check's) where it could be made: opened
 * through `tree` (contained, never a link), still the file listed (size
 * and mtime), read whole on a describing worker. A file that can't be
 * hashed so (no workers, changed while read) goes without a hint. At most
 * {@linkcode HINTS_IN_FLIGHT} batches are hashed at once, each holding at
 * most {@linkcode HINT_BATCH_FILES} files open.
 *
 * Permissions: read on `tree`.
 *
 * @example
 * ```ts ignore
 * import { withHashHints } from "./hash_hints.ts";
 * for await (const entry of withHashHints(tree, walkEntries(tree))) console.log(entry.path, entry.hash);
 * ```
 */
export async function* withHashHints(
  tree: Tree,
  entries: AsyncIterable<FileEntry>,
): AsyncGenerator<FileEntry> {
  let held: FileEntry[] = [];
  let group: Opened[] = [];
  let bytes = 0;
  const batches: Promise<FileEntry[]>[] = [];
  const launch = () => {
    const out = held;
    const files = group;
    held = [];
    group = [];
    bytes = 0;
    batches.push(hashGroup(files).then(() => out));
  };
  try {
    for await (const entry of entries) {
      held.push(entry);
      if (entry.kind === "file" && hinted(entry.size) && !entry.hash) {
        const opened = openListed(tree, entry);
        if (opened) {
          group.push(opened);
          bytes += entry.size;
        }
      }
      if (
        group.length >= HINT_BATCH_FILES || bytes >= HINT_BATCH_BYTES ||
        held.length >= HINT_BATCH_ENTRIES
      ) {
        launch();
        while (batches.length >= HINTS_IN_FLIGHT) yield* await batches.shift()!;
      }
    }
    launch();
    while (batches.length > 0) yield* await batches.shift()!;
  } finally {
    // Abandoned: what is open and not yet sent to be hashed is let go
    // (each batch sent closes its own).
    for (const { file } of group) file.close();
    group = [];
  }
}

/** `entry` opened through `tree`, when it is still the file listed. */
function openListed(tree: Tree, entry: FileEntry): Opened | undefined {
  let file: ReadHandle;
  try {
    file = tree.openRead(entry.path);
  } catch {
    return undefined;
  }
  try {
    const info = openedStatus(file);
    const fd = descriptorOf(file);
    if (
      fd !== undefined && info.isFile && info.size === entry.size &&
      mtimeMsOf(info) === entry.mtimeMs &&
      mtimeNsOf(info) === (entry.mtimeNs ?? 0)
    ) return { entry, file, fd };
  } catch {
    // not hinted
  }
  file.close();
  return undefined;
}

/** Hashes the opened files on a worker, sets their hints, closes them. */
async function hashGroup(files: Opened[]): Promise<void> {
  if (files.length === 0) return;
  try {
    const got = await describeFilesOffThread(
      files.map(({ fd, entry }) => ({
        fd,
        size: entry.size,
        content: false,
        byHash: true,
      })),
      0,
    );
    if (got === "here") return; // no workers: no hints
    for (let i = 0; i < files.length; i++) {
      const digest = got[i]?.byHash;
      if (digest && digest.length === 16) files[i].entry.hash = digest;
    }
  } catch {
    // no hints for this batch
  } finally {
    for (const { file } of files) file.close();
  }
}

/**
 * `entries` (a walk of the local directory `root`, paths relative to it)
 * in order, each regular file of a hinted size under
 * {@linkcode PUSH_HINT_MAX_BYTES} with `hash` set to its
 * content hash, read and hashed here, one at a time (a pushing client has
 * no workers): only where the file is still the one listed (size and
 * mtime) and did not change while read. A file that can't be hashed so
 * goes without a hint.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts ignore
 * import { withLocalHashHints } from "./hash_hints.ts";
 * for await (const entry of withLocalHashHints(dir, walkEntries(dir))) console.log(entry.path, entry.hash);
 * ```
 */
export async function* withLocalHashHints(
  root: string,
  entries: AsyncIterable<FileEntry>,
): AsyncGenerator<FileEntry> {
  let hasher: ContentHasher | undefined;
  const verified = new Set<string>();
  for await (const entry of entries) {
    if (
      entry.kind === "file" && hinted(entry.size) &&
      entry.size < PUSH_HINT_MAX_BYTES && !entry.hash
    ) {
      hasher ??= await contentHasher();
      const digest = hashListed(root, entry, hasher, verified);
      if (digest) entry.hash = digest;
    }
    yield entry;
  }
}

/** `entry`'s content hash, when it is still the file listed throughout. */
function hashListed(
  root: string,
  entry: FileEntry,
  hasher: ContentHasher,
  verified: Set<string>,
): Uint8Array | undefined {
  const file = openIfThere(root, entry.path, { verified });
  if (!file) return undefined;
  try {
    const info = openedStatus(file);
    if (
      !info.isFile || info.size !== entry.size ||
      mtimeMsOf(info) !== entry.mtimeMs ||
      mtimeNsOf(info) !== (entry.mtimeNs ?? 0)
    ) return undefined;
    return hashSteady(file, entry.size, hasher);
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}
