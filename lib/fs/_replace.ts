// Putting an entry in place by rename, shared by atomic files, the tree's
// directories and links, and local copies: what is in the way, a temp
// file's cleanup, the process umask.
import { ERRNO, SyscallError } from "./_libc.ts";
import { splitRel, type Tree, type WriteHandle } from "./tree.ts";

/** A non-directory can't replace a directory (or the reverse) here. */
export class EntryConflictError extends Error {
  /** Says which entry is in the way and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "EntryConflictError";
  }
}

export function conflict(rel: string): EntryConflictError {
  return new EntryConflictError(
    `Cannot replace directory ${
      JSON.stringify(rel)
    } with a file; delete it first or use --mirror`,
  );
}

export function refuseDirectory(tree: Tree, rel: string): void {
  if (tree.lstat(rel)?.isDirectory) throw conflict(rel);
}

export function removeQuietly(tree: Tree, rel: string): void {
  try {
    tree.remove(rel);
  } catch {
    // already gone (or its directory is): the sweep finds what is left
  }
}

/**
 * Creates the new file `rel`, making its parent directory when it is
 * missing (cheaper to find out by trying than to look first).
 */
export function createIn(tree: Tree, rel: string, mode: number): WriteHandle {
  try {
    return tree.createFile(rel, mode);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    tree.mkdirs(splitRel(rel).dir);
    return tree.createFile(rel, mode);
  }
}

export function writeAll(handle: WriteHandle, data: Uint8Array): void {
  let off = 0;
  // Bounded: every turn writes at least one byte or throws. (The first
  // write takes `data` itself: one write a small file, no view made.)
  while (off < data.length) {
    const n = handle.writeSync(off === 0 ? data : data.subarray(off));
    if (n <= 0) throw new Error("A write made no progress");
    off += n;
  }
}

/** Renames a finished temp file over `rel`; a directory there is a conflict. */
export function renameInto(tree: Tree, tempRel: string, rel: string): void {
  try {
    tree.rename(tempRel, rel);
  } catch (error) {
    if (
      error instanceof Deno.errors.IsADirectory ||
      (error instanceof SyscallError && error.errno === ERRNO.ENOTEMPTY) ||
      tree.lstat(rel)?.isDirectory
    ) throw conflict(rel);
    throw error;
  }
}

let processUmask: number | undefined;

export function umask(): number {
  if (processUmask === undefined) {
    try {
      processUmask = Deno.umask();
    } catch {
      processUmask = 0o7777; // unknown: always chmod
    }
  }
  return processUmask;
}

/** Removes a local path, ignoring one already gone. */
export function removePath(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}
