// Applying a manifest's directories and links to a tree, and directory
// modes and times last (deepest first).
import type { FileEntry } from "./entry.ts";
import { normalizeRelative, PathEscapeError } from "./safe_path.ts";
import { treeOf } from "./path_tree.ts";
import {
  fileIdentity,
  joinRel,
  openedStatus,
  splitRel,
  type TreeRoot,
} from "./tree.ts";
import { depth } from "./paths.ts";
import { mtimeMsOf, mtimeNsOf } from "./native_stat.ts";
import { tempNameFor } from "./temp_names.ts";
import { refuseDirectory, removeQuietly, renameInto } from "./_replace.ts";
import { openForRead } from "./contained_root.ts";
import { KernelFile } from "./kernel_file.ts";

/**
 * Creates (or keeps) a directory; a file or link in the way is replaced.
 * The owner keeps write access until {@linkcode setDirTimes} applies the
 * final mode, so read-only directories can still be filled. Returns
 * whether the directory was created (so its contents are known missing).
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { applyDir } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * applyDir(root, { path: "x/y", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 });
 * if (!(Deno.statSync(`${root}/x/y`).isDirectory)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function applyDir(root: TreeRoot, entry: FileEntry): boolean {
  const tree = treeOf(root);
  const rel = normalizeRelative(entry.path);
  let info = tree.lstat(rel);
  if (info && !info.isDirectory) {
    tree.remove(rel);
    info = undefined;
  }
  if (!info) tree.mkdirs(rel);
  const mode = (entry.mode & 0o7777) | 0o700;
  if (!info || ((info.mode ?? 0) & 0o7777) !== mode) {
    tree.setDirAttrs(rel, { mode });
  }
  return info === undefined;
}

/**
 * Gives a file that is otherwise up to date (its size and mtime are the
 * source's) the source's permission bits, in place, as `rsync -a` does:
 * opened through the tree (no link followed, a regular file only),
 * checked to be the very file `info` describes, and changed through its
 * descriptor (never by name). False where that can't be done here (the
 * file changed meanwhile, or the tree's handles have no descriptor to
 * change it by): then the caller sends the file again, which sets the
 * bits too.
 *
 * Permissions: read and write on `root`, ffi (libc).
 *
 * @example
 * ```ts
 * import { applyFileMode } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/f`, "x");
 * Deno.chmodSync(`${root}/f`, 0o644);
 * const info = Deno.lstatSync(`${root}/f`);
 * const entry = { path: "f", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o600 };
 * if (applyFileMode(root, entry, info)) {
 *   if ((Deno.statSync(`${root}/f`).mode! & 0o7777) !== 0o600) throw new Error("example failed");
 * }
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function applyFileMode(
  root: TreeRoot,
  entry: FileEntry,
  info: Deno.FileInfo,
): boolean {
  let file;
  try {
    file = openForRead(root, entry.path);
  } catch {
    return false;
  }
  try {
    if (!(file instanceof KernelFile)) return false;
    // The status the open checked (no second call for it).
    const now = openedStatus(file);
    if (!now.isFile || fileIdentity(now) !== fileIdentity(info)) return false;
    file.chmodSync(entry.mode & 0o7777);
    return true;
  } catch {
    return false;
  } finally {
    file.close();
  }
}

/**
 * Creates a symlink under a temp name, then renames it over the final
 * name, so an existing link is replaced and never followed.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { applySymlink } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * applySymlink(root, { path: "l", kind: "symlink", size: 1, mtimeMs: 0, mode: 0o777, linkTarget: "t" });
 * if (!(Deno.readLinkSync(`${root}/l`) === "t")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {EntryConflictError} when a directory sits at the final path.
 */
export function applySymlink(root: TreeRoot, entry: FileEntry): void {
  if (entry.linkTarget === undefined) {
    throw new TypeError(`Symlink ${entry.path} has no target`);
  }
  const tree = treeOf(root);
  const rel = normalizeRelative(entry.path);
  if (rel === "") throw new PathEscapeError(entry.path, "names no link");
  tree.noteTemp(rel);
  refuseDirectory(tree, rel);
  const { dir, name } = splitRel(rel);
  tree.mkdirs(dir);
  const tempRel = joinRel(dir, tempNameFor(name));
  try {
    tree.symlink(entry.linkTarget, tempRel);
    // The link's own time (rename keeps it), as rsync -a does.
    tree.setLinkTimes(tempRel, entry.mtimeMs, entry.mtimeNs);
    renameInto(tree, tempRel, rel);
  } catch (error) {
    removeQuietly(tree, tempRel);
    throw error;
  }
}

/**
 * Applies final modes and mtimes to directories, deepest first, after
 * their contents were written (writing into a directory changes its
 * mtime), on an open handle of each. Missing directories, and names that
 * are no longer directories, are skipped.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { setDirTimes } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${root}/d`);
 * setDirTimes(root, [{ path: "d", kind: "dir", size: 0, mtimeMs: 1000, mode: 0o755 }]);
 * if (!(Deno.statSync(`${root}/d`).mtime!.getTime() === 1000)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function setDirTimes(
  root: TreeRoot,
  dirs: readonly FileEntry[],
): void {
  const tree = treeOf(root);
  const sorted = [...dirs].sort((a, b) => depth(b.path) - depth(a.path));
  for (const dir of sorted) {
    try {
      tree.setDirAttrs(dir.path, {
        mode: dir.mode & 0o7777,
        mtimeMs: dir.mtimeMs,
        mtimeNs: dir.mtimeNs,
      });
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound) &&
        !(error instanceof Deno.errors.NotADirectory) &&
        !(error instanceof PathEscapeError)
      ) throw error;
    }
  }
}

/** A directory's own mtime: milliseconds, and nanoseconds past them. */
export interface DirTime {
  /** Milliseconds since the epoch. */
  mtimeMs: number;
  /** Nanoseconds past that millisecond (0-999,999), where known. */
  mtimeNs?: number;
}

/**
 * The mtime of the directory `info` describes (undefined for anything
 * else, or no status): what a transfer's root gives the directory it
 * fills (see {@linkcode setRootTime}).
 *
 * @example
 * ```ts
 * import { dirTimeOf } from "./apply_tree.ts";
 * if (dirTimeOf(Deno.statSync("."))?.mtimeMs !== Deno.statSync(".").mtime?.getTime()) throw new Error("example failed");
 * ```
 */
export function dirTimeOf(
  info: Deno.FileInfo | undefined,
): DirTime | undefined {
  if (!info?.isDirectory) return undefined;
  return { mtimeMs: mtimeMsOf(info), mtimeNs: mtimeNsOf(info) };
}

/**
 * Gives `root` (the directory a transfer filled) the mtime `time` of the
 * directory it came from: its time only (it keeps its own mode: it may be
 * a module's root), and last, once every write and deletion in it is
 * done. A root that is gone or no longer a directory is left alone.
 *
 * Permissions: write on `root`.
 *
 * @example
 * ```ts
 * import { setRootTime } from "./apply_tree.ts";
 * const dir = Deno.makeTempDirSync();
 * setRootTime(dir, { mtimeMs: 1_600_000_000_000 });
 * if (Deno.statSync(dir).mtime?.getTime() !== 1_600_000_000_000) throw new Error("example failed");
 * Deno.removeSync(dir);
 * ```
 */
export function setRootTime(root: TreeRoot, time: DirTime): void {
  try {
    treeOf(root).setDirAttrs("", time);
  } catch (error) {
    if (
      !(error instanceof Deno.errors.NotFound) &&
      !(error instanceof Deno.errors.NotADirectory)
    ) throw error;
  }
}
