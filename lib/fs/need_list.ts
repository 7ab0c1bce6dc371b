// The compare stage: keeps only the entries the destination lacks.
import type { FileEntry } from "./entry.ts";
import { hashFile, sameHash } from "./hash.ts";
import { normalizeRelative } from "./safe_path.ts";
import type { TreeRoot } from "./tree.ts";
import { lstatOrUndefined, treeOf } from "./path_tree.ts";
import { mtimeMsOf } from "./native_stat.ts";
import type { Tree } from "./tree.ts";

/** Options for {@linkcode NeedList} (and `NeedListStream`). */
export interface NeedListOptions {
  /**
   * Compare content hashes (source entries carry `hash`) instead of
   * size + mtime. Hashes are computed only when sizes match. Default: false.
   */
  checksum?: boolean;
  /**
   * Remember each needed file with a regular file of at least this many
   * bytes at the destination (an old copy a delta can start from; see
   * {@linkcode NeedList.hasOldCopy}). Default: none remembered.
   */
  oldCopyMinBytes?: number;
  /**
   * Called with each entry before it is looked at (it may still change
   * the entry, e.g. its path); a promise it returns is waited for. Saves
   * a stage of its own in front (a stream hop per entry).
   */
  onEntry?: (entry: FileEntry) => Promise<void> | void;
  /**
   * Called for a file that is up to date but for its permission bits (see
   * {@linkcode modeDiffers}), with the destination's status: true when it
   * gave the file the entry's bits in place (the entry is then skipped,
   * as unchanged), false to have the entry passed on (sent again). Without
   * it, such a file is passed on.
   */
  onModeOnly?: (entry: FileEntry, info: Deno.FileInfo) => boolean;
}

/**
 * Decides whether one source entry needs action at `destRoot`.
 *
 * Permissions: read on `destRoot`.
 *
 * @example
 * ```ts
 * import { needsTransfer } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 };
 * if (!(await needsTransfer(root, e))) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {PathEscapeError} when `entry.path` would leave `destRoot`.
 */
export async function needsTransfer(
  destRoot: TreeRoot,
  entry: FileEntry,
  options: NeedListOptions = {},
): Promise<boolean> {
  const tree = treeOf(destRoot);
  const info = tree.lstat(entry.path);
  if (!info) return true;
  return await differs(tree, info, entry, options);
}

// Answers at once unless a file must be hashed (no promise per entry on
// a no-op).
function differs(
  tree: Tree,
  info: Deno.FileInfo,
  entry: FileEntry,
  options: NeedListOptions,
): boolean | Promise<boolean> {
  switch (entry.kind) {
    case "dir":
      return true; // cheap to re-apply; mode and mtime are set at the end
    case "symlink":
      return !info.isSymlink || tree.readLink(entry.path) !== entry.linkTarget;
    case "file": {
      if (options.checksum) {
        if (!info.isFile || info.size !== entry.size || !entry.hash) {
          return true;
        }
        // Opened before the first await: the handle, not a name, is hashed.
        const hash = entry.hash;
        return hashFile(tree.openRead(entry.path)).then((digest) =>
          !sameHash(hash, digest)
        );
      }
      return fileDiffers(info, entry);
    }
  }
}

/**
 * The quick check: does a regular file at the destination (its lstat
 * `info`, or undefined when missing) differ from `entry` by kind, size or
 * whole-second mtime? Sync, so copy workers can use it too.
 *
 * @example
 * ```ts
 * import { fileDiffers } from "./need_list.ts";
 * const e = { path: "a", kind: "file" as const, size: 1, mtimeMs: 1500, mode: 0o644 };
 * if (!(fileDiffers(undefined, e))) throw new Error("example failed");
 * ```
 */
export function fileDiffers(
  info: Deno.FileInfo | undefined,
  entry: FileEntry,
): boolean {
  if (!info || !info.isFile || info.size !== entry.size) return true;
  // Whole seconds: what every filesystem and rsync agree on.
  const mtime = mtimeMsOf(info);
  return Math.floor(mtime / 1000) !== Math.floor(entry.mtimeMs / 1000);
}

/**
 * Whether a regular file at the destination (`info`) has other permission
 * bits than `entry` asks for: an up-to-date file whose mode was changed
 * at the source still needs its new mode (`rsync -a` sets it).
 *
 * @example
 * ```ts
 * import { modeDiffers } from "./need_list.ts";
 * const entry = { path: "f", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o600 };
 * const info = { isFile: true, mode: 0o100644 } as Deno.FileInfo;
 * if (!modeDiffers(info, entry)) throw new Error("example failed");
 * ```
 */
export function modeDiffers(info: Deno.FileInfo, entry: FileEntry): boolean {
  return info.isFile && info.mode !== null &&
    (info.mode & 0o7777) !== (entry.mode & 0o7777);
}

/**
 * lstat that answers undefined for a missing path (or a missing parent).
 *
 * @example
 * ```ts
 * import { lstatIfExists } from "./need_list.ts";
 * if (!(lstatIfExists("/definitely/not/here") === undefined)) throw new Error("example failed");
 * ```
 */
export function lstatIfExists(abs: string): Deno.FileInfo | undefined {
  return lstatOrUndefined(abs);
}

/**
 * The compare stage's decisions, without a stream: passes on (to `emit`)
 * the entries the destination lacks: missing or different-kind entries,
 * files whose size or whole-second mtime differ (content hash with
 * `checksum`), links with another target, and every directory. Unchanged
 * files and links are counted in {@linkcode NeedList.skipped}.
 * `NeedListStream` is this as a stream stage; a receiver takes its
 * entries here directly (a stream hop per entry costs more than the
 * decision, and a command that makes no stream never loads the runtime's
 * streams code).
 *
 * Every destination lookup goes through `resolveInside`, so a hostile path
 * in the source (`../x`) throws `PathEscapeError`.
 *
 * Permissions: read on `destRoot`.
 *
 * @example
 * ```ts
 * import { NeedList } from "@blit/cli/internals";
 * const dest = Deno.realPathSync(Deno.makeTempDirSync());
 * const list = new NeedList(dest);
 * const out: string[] = [];
 * await list.take({ path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 }, (e) => out.push(e.path));
 * if (out.join() !== "a" || list.skipped !== 0 || list.decided !== 1) throw new Error("example failed");
 * Deno.removeSync(dest, { recursive: true });
 * ```
 */
export class NeedList {
  #counts = { skipped: 0, decided: 0, passed: 0 };
  readonly #oldCopies: WeakMap<FileEntry, number>;

  /** A need list against the tree at `destRoot`. */
  constructor(destRoot: TreeRoot, options: NeedListOptions = {}) {
    if (destRoot === "") {
      throw new TypeError(
        `destRoot must be a non-empty path, got ${JSON.stringify(destRoot)}`,
      );
    }
    const counts = { skipped: 0, decided: 0, passed: 0 };
    const pass = (entry: FileEntry, emit: (entry: FileEntry) => void) => {
      counts.passed++;
      counts.decided++;
      emit(entry);
    };
    // Directories found missing: their contents are missing too, which
    // saves an lstat (and a thrown NotFound) per entry on fresh copies.
    const missing = new Set<string>();
    // A local destination (a string root) is the user's own tree: each
    // directory on the way is checked once per transfer (writes still
    // check every time). A contained root checks every walk itself.
    const verified = typeof destRoot === "string"
      ? new Set<string>()
      : undefined;
    const tree = treeOf(destRoot, { verified });
    const oldCopies = new WeakMap<FileEntry, number>();
    const oldMin = options.oldCopyMinBytes ?? Infinity;
    const onEntry = options.onEntry;
    const onModeOnly = options.onModeOnly;
    const look = (
      entry: FileEntry,
      emit: (entry: FileEntry) => void,
    ): Promise<void> | void => {
      // A link listed where a checked directory was (a hostile peer's
      // manifest): nothing checked before it can be trusted now.
      if (entry.kind === "symlink" && verified?.has(entry.path)) {
        verified.clear();
      }
      const slash = entry.path.lastIndexOf("/");
      if (slash > 0 && missing.has(entry.path.slice(0, slash))) {
        normalizeRelative(entry.path); // still refuse hostile paths
        if (entry.kind === "dir") missing.add(entry.path);
        pass(entry, emit);
        return;
      }
      const info = tree.lstat(entry.path);
      if (!info) {
        if (entry.kind === "dir") missing.add(entry.path);
        pass(entry, emit);
        return;
      }
      const decide = (changed: boolean) => {
        // Up to date but for its mode: given it in place, else sent.
        if (
          !changed && entry.kind === "file" && modeDiffers(info, entry) &&
          !(onModeOnly?.(entry, info) ?? false)
        ) changed = true;
        if (changed && info.isFile && info.size >= oldMin) {
          oldCopies.set(entry, info.size);
        }
        if (changed) pass(entry, emit);
        else {
          counts.skipped++;
          counts.decided++;
        }
      };
      const changed = differs(tree, info, entry, options);
      if (typeof changed === "boolean") decide(changed);
      else return changed.then(decide);
    };
    const take = (
      entry: FileEntry,
      emit: (entry: FileEntry) => void,
    ): Promise<void> | void => {
      if (onEntry) {
        const before = onEntry(entry);
        if (before) return before.then(() => look(entry, emit));
      }
      return look(entry, emit);
    };
    this.#counts = counts;
    this.#oldCopies = oldCopies;
    this.#take = take;
  }

  readonly #take: (
    entry: FileEntry,
    emit: (entry: FileEntry) => void,
  ) => Promise<void> | void;

  /**
   * The decision on one entry: `emit` is called with it when it is passed
   * on. Take entries in manifest order, waiting for a returned promise
   * before the next.
   */
  take(
    entry: FileEntry,
    emit: (entry: FileEntry) => void,
  ): Promise<void> | void {
    return this.#take(entry, emit);
  }

  /**
   * Whether a needed `entry` (as passed on) has a regular file of at least
   * `oldCopyMinBytes` at the destination.
   */
  hasOldCopy(entry: FileEntry): boolean {
    return this.#oldCopies.has(entry);
  }

  /**
   * The size the old copy of `entry` had when it was looked at (see
   * {@linkcode NeedList.hasOldCopy}), or undefined when none was kept.
   */
  oldCopySize(entry: FileEntry): number | undefined {
    return this.#oldCopies.get(entry);
  }

  /** Files and links left alone because they were up to date. */
  get skipped(): number {
    return this.#counts.skipped;
  }

  /** Entries decided so far (passed on or skipped), in input order. */
  get decided(): number {
    return this.#counts.decided;
  }

  /** Entries passed on so far. */
  get passed(): number {
    return this.#counts.passed;
  }
}
