// Local copy and mirror: the fs stages wired to a disk sink. A deliberate
// fast path beside the two roles (lib/transfer/): source and destination
// are both the user's own, so there is no conversation and no framing;
// it shares the receiver's need list, apply step (apply_tree.ts), atomic
// files and mirror planner, and copies with copy_file_range on a pool.
import { preciseLstat } from "../fs/native_stat.ts";
import type { FileEntry, TransferStats } from "../fs/entry.ts";
import { entryFromPath, walkEntries } from "../fs/enumerate.ts";
import { NeedList, needsTransfer } from "../fs/need_list.ts";
import { hashFile } from "../fs/hash.ts";
import {
  applyDir,
  applyFileMode,
  applySymlink,
  dirTimeOf,
  setDirTimes,
  setRootTime,
} from "../fs/apply_tree.ts";
import { CopyPool } from "./_copy_pool.ts";
import {
  basename,
  ensureDirectory,
  placeLocal,
  realOrAbsolute,
  sourceIsDirectory,
} from "./placement.ts";
// Placement moved to placement.ts; re-exported for existing importers.
export {
  ensureDirectory,
  NotADirectoryError,
  placeLocal,
  type Placement,
  SourceNotFoundError,
} from "./placement.ts";
import {
  applyDeletions,
  countDeletions,
  planDeletions,
} from "../fs/mirror_plan.ts";

/** Options for {@linkcode localCopy}. */
export interface LocalCopyOptions {
  /** Delete destination entries the source lacks. Default: false. */
  mirror?: boolean;
  /** Report what would change, change nothing. Default: false. */
  dryRun?: boolean;
  /** Compare content hashes instead of size + mtime. Default: false. */
  checksum?: boolean;
  /** Globs to leave out. Default: none. */
  exclude?: readonly string[];
  /** Copy workers for big trees (0: copy on this thread). Default: 2. */
  workers?: number;
  /** Called after each file or link is queued for writing (for progress). */
  onFile?: (entry: FileEntry) => void;
  /**
   * Told `+` and the path of each file or link copied (or that would be),
   * `-` and the path of each one a mirror deletes (`-v`, dry-run listings).
   * The copy then decides each file before it is queued.
   */
  onItem?: (sign: "+" | "-", path: string) => void;
}

/** A local copy's two ends, checked and placed. */
interface LocalPlan {
  sourceIsDir: boolean;
  srcRoot: string;
  destRoot: string;
  /** For a file source: its name at the destination. */
  name?: string;
  /** The destination directory did not exist before. */
  rootCreated: boolean;
}

function planLocal(
  src: string,
  dst: string,
  dryRun: boolean,
): LocalPlan {
  const sourceIsDir = sourceIsDirectory(src);
  const srcRoot = sourceIsDir ? Deno.realPathSync(src) : src;
  const placement = placeLocal(dst, sourceIsDir, basename(src));
  let rootCreated = false;
  if (!dryRun) {
    try {
      Deno.statSync(placement.root);
    } catch {
      rootCreated = true;
    }
    ensureDirectory(placement.root);
  }
  const destRoot = realOrAbsolute(placement.root);
  if (
    sourceIsDir && (destRoot === srcRoot || destRoot.startsWith(`${srcRoot}/`))
  ) {
    throw new RangeError(
      `Destination ${dst} is inside the source ${src}; pick another destination`,
    );
  }
  return { sourceIsDir, srcRoot, destRoot, name: placement.name, rootCreated };
}

/** The source's entries, and where each file is read from. */
async function localEntries(
  src: string,
  plan: LocalPlan,
  options: LocalCopyOptions,
): Promise<
  { source: AsyncIterable<FileEntry>; pathOf: (e: FileEntry) => string }
> {
  if (plan.sourceIsDir) {
    return {
      source: walkEntries(plan.srcRoot, {
        exclude: options.exclude,
        hash: options.checksum,
      }),
      pathOf: (entry) => `${plan.srcRoot}/${entry.path}`,
    };
  }
  const entry = entryFromPath(src, plan.name!);
  if (options.checksum && entry.kind === "file") {
    entry.hash = await hashFile(src);
  }
  return { source: oneEntry(entry), pathOf: () => src };
}

async function* oneEntry(entry: FileEntry): AsyncGenerator<FileEntry> {
  yield entry;
}

type Counts = Omit<TransferStats, "filesDeleted">;

/** What a copy path works on; `dirs` collects directories for their times. */
interface CopyRun {
  entries: AsyncIterable<FileEntry>;
  plan: LocalPlan;
  pathOf: (entry: FileEntry) => string;
  dirs: FileEntry[];
  options: LocalCopyOptions;
}

/**
 * The fast path (a real copy by size and mtime): the up-to-date check runs
 * next to the copy, in the pool's workers, and is skipped under
 * directories this run created.
 */
async function copyFast(run: CopyRun): Promise<Counts> {
  const { entries, plan, pathOf, dirs, options } = run;
  const destRoot = plan.destRoot;
  const pool = new CopyPool(destRoot, { workers: options.workers ?? 2 });
  // A fresh destination will copy everything: start the workers now so
  // their start-up overlaps the walk. Otherwise start them on demand.
  if (plan.sourceIsDir && plan.rootCreated) pool.warm();
  const created = new Set<string>();
  let links = 0;
  let linksSkipped = 0;
  try {
    for await (const entry of entries) {
      const slash = entry.path.lastIndexOf("/");
      const parent = slash < 0 ? "" : entry.path.slice(0, slash);
      if (entry.kind === "dir") {
        dirs.push(entry);
        if (applyDir(destRoot, entry)) created.add(entry.path);
      } else if (entry.kind === "symlink") {
        if (await needsTransfer(destRoot, entry)) {
          applySymlink(destRoot, entry);
          links++;
          options.onFile?.(entry);
        } else linksSkipped++;
      } else {
        await pool.add({
          src: pathOf(entry),
          entry,
          check: !created.has(parent) && !(parent === "" && plan.rootCreated),
        });
        options.onFile?.(entry);
      }
    }
  } catch (error) {
    await pool.close();
    throw error;
  }
  await pool.finish();
  return {
    filesTransferred: pool.copied + links,
    bytesTransferred: pool.bytes,
    filesSkipped: pool.skipped + linksSkipped,
  };
}

/** The checked path (a dry run, or --checksum): the need list decides first. */
async function copyChecked(run: CopyRun): Promise<Counts> {
  const { entries, plan, pathOf, dirs, options } = run;
  const destRoot = plan.destRoot;
  const dryRun = options.dryRun ?? false;
  const counts: Counts = {
    filesTransferred: 0,
    bytesTransferred: 0,
    filesSkipped: 0,
  };
  const needList = new NeedList(destRoot, {
    checksum: options.checksum,
    onModeOnly: (entry, info) => dryRun || applyFileMode(destRoot, entry, info),
  });
  const pool = new CopyPool(destRoot, { workers: options.workers ?? 2 });
  const needed: FileEntry[] = [];
  const keep = (entry: FileEntry) => needed.push(entry);
  try {
    for await (const listed of entries) {
      await needList.take(listed, keep);
      for (const entry of needed.splice(0)) {
        if (entry.kind === "dir") {
          dirs.push(entry);
          if (!dryRun) applyDir(destRoot, entry);
          continue;
        }
        if (!dryRun) {
          if (entry.kind === "symlink") applySymlink(destRoot, entry);
          else await pool.add({ src: pathOf(entry), entry, check: false });
        }
        counts.filesTransferred++;
        if (entry.kind === "file") counts.bytesTransferred += entry.size;
        options.onFile?.(entry);
        options.onItem?.("+", entry.path);
      }
    }
  } catch (error) {
    await pool.close();
    throw error;
  }
  await pool.finish();
  counts.filesSkipped = needList.skipped;
  return counts;
}

/** `entries`, each path added to `keep` on the way (a mirror's keep-set). */
async function* remembered(
  entries: AsyncIterable<FileEntry>,
  keep: Set<string>,
): AsyncGenerator<FileEntry> {
  for await (const entry of entries) {
    keep.add(entry.path);
    yield entry;
  }
}

/** Mirror deletions (or their count, in a dry run), after every copy. */
async function mirrorLocal(
  destRoot: string,
  keep: ReadonlySet<string>,
  options: LocalCopyOptions,
): Promise<number> {
  const dryRun = options.dryRun ?? false;
  const plan = await planDeletions(destRoot, keep, {
    exclude: options.exclude,
  }).catch((error) => {
    // A dry run into a destination that does not exist yet.
    if (dryRun && error instanceof Deno.errors.NotFound) return [];
    throw error;
  });
  // Directories are told (with a trailing "/") and counted too.
  const onItem = options.onItem;
  const told = onItem && ((path: string) => onItem("-", path));
  const toldDir = onItem && ((path: string) => onItem("-", `${path}/`));
  const counts = dryRun
    ? countDeletions(destRoot, plan, told, toldDir)
    : applyDeletions(destRoot, plan, told, toldDir);
  return counts.files + counts.dirs;
}

/**
 * Copies `src` to `dst` locally: enumerate -> need list -> a sink that
 * creates directories and links and copies files with copy_file_range
 * into temp names renamed into place; directory mtimes last; mirror
 * deletions only after every copy succeeded.
 *
 * Permissions: read on `src`, read and write on `dst`.
 *
 * @example
 * ```ts
 * import { localCopy } from "@blit/cli/mod";
 * const src = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${src}/a.txt`, "hi");
 * const top = Deno.makeTempDirSync();
 * const dst = `${top}/out`;
 * const stats = await localCopy(src, dst);
 * if (!(stats.filesTransferred === 1 && Deno.readTextFileSync(`${dst}/a.txt`) === "hi")) throw new Error("example failed");
 * Deno.removeSync(src, { recursive: true });
 * Deno.removeSync(top, { recursive: true });
 * ```
 * @throws {SourceNotFoundError} when `src` does not exist.
 */
export async function localCopy(
  src: string,
  dst: string,
  options: LocalCopyOptions = {},
): Promise<TransferStats> {
  const dryRun = options.dryRun ?? false;
  const plan = planLocal(src, dst, dryRun);
  const { source, pathOf } = await localEntries(src, plan, options);
  const keep = new Set<string>();
  // The keep-set step only exists when mirroring: each step costs per entry.
  const entries = options.mirror ? remembered(source, keep) : source;
  const dirs: FileEntry[] = [];
  const run = { entries, plan, pathOf, dirs, options };
  const counts = !dryRun && !options.checksum && !options.onItem
    ? await copyFast(run)
    : await copyChecked(run);
  if (!dryRun) setDirTimes(plan.destRoot, dirs);
  const filesDeleted = options.mirror && plan.sourceIsDir
    ? await mirrorLocal(plan.destRoot, keep, options)
    : 0;
  // Last, as a remote transfer does: the source directory's own mtime.
  const root = !dryRun && plan.sourceIsDir
    ? dirTimeOf(preciseLstat(plan.srcRoot))
    : undefined;
  if (root) setRootTime(plan.destRoot, root);
  return { ...counts, filesDeleted };
}
