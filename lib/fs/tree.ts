// The storage seam: every filesystem call made for a transfer goes through
// a Tree. The daemon's trees resolve names in the kernel beneath a
// directory handle (kernel_tree.ts); the client's is a plain local
// directory (path_tree.ts); contained_root.ts is the weaker fallback for
// systems without openat2.

/** An open regular file to read (a Deno.FsFile fits). */
export interface ReadHandle {
  /** Reads into `p`; null at end of file. */
  readSync(p: Uint8Array): number | null;
  /** Moves the read position; returns the new one. */
  seekSync(offset: number, whence: Deno.SeekMode): number;
  /** The open file's status (never a path lookup). */
  statSync(): Deno.FileInfo;
  /** Closes the handle (a second call is a no-op for tree handles). */
  close(): void;
}

/** An open regular file being written (a temporary file, or a partial copy). */
export interface WriteHandle {
  /** Writes from `p`; returns how many bytes were written. */
  writeSync(p: Uint8Array): number;
  /** Moves the write position; returns the new one. */
  seekSync(offset: number, whence: Deno.SeekMode): number;
  /** Cuts or extends the file to `length` bytes. */
  truncateSync(length: number): void;
  /** The open file's status. */
  statSync(): Deno.FileInfo;
  /** Sets the permission bits on the open file (never by path). */
  chmodSync(mode: number): void;
  /**
   * Sets access and modification time to `mtimeMs` plus `mtimeNs`
   * nanoseconds (0-999,999) on the open file (never by path, on a daemon).
   */
  utimeSync(mtimeMs: number, mtimeNs?: number): void;
  /** Closes the handle. */
  close(): void;
}

/** Options for {@linkcode Tree.pin}. */
export interface PinOptions {
  /** Create the directory (and missing parents) first. Default: false. */
  create?: boolean;
}

/**
 * A directory tree every transfer call goes through. Names are relative
 * to the tree ("" for its top), '/'-separated, and checked by
 * `normalizeRelative`; no call follows a symlink in any component, and a
 * final component that is a symlink is acted on as a link (lstat,
 * readLink, remove, rename) or refused (open, setDirAttrs).
 */
export interface Tree {
  /**
   * How containment is enforced: "kernel" (openat2 beneath a directory
   * handle), "walk" (chdir and identity checks: the fallback), or "local"
   * (a user's own directory, trusted).
   */
  readonly containment: "kernel" | "walk" | "local";
  /** lstat of `rel`, or undefined when it or a parent is missing. */
  lstat(rel: string): Deno.FileInfo | undefined;
  /** The names in directory `rel` (unsorted; no "." or ".."). */
  readDir(rel: string): string[];
  /** The target text of symlink `rel`. */
  readLink(rel: string): string;
  /**
   * Opens the regular file `rel` to read; anything else (a link, a FIFO,
   * a device, a directory) is refused without blocking.
   */
  openRead(rel: string): ReadHandle;
  /** Creates the new file `rel` (never an existing name, never through a link). */
  createFile(rel: string, mode: number): WriteHandle;
  /**
   * Opens the existing regular file `rel` (one link only) to write; a
   * link or anything else is refused.
   */
  openWrite(rel: string): WriteHandle;
  /** Creates directory `rel` and any missing parents; existing ones are kept. */
  mkdirs(rel: string): void;
  /** Renames `from` to `to` (replacing a file or link at `to`). */
  rename(from: string, to: string): void;
  /** Removes the file, link or empty directory `rel`. */
  remove(rel: string): void;
  /** Creates symlink `rel` with `target` as its text. */
  symlink(target: string, rel: string): void;
  /** Sets the mode and/or mtime of directory `rel` on an open handle. */
  setDirAttrs(
    rel: string,
    attrs: { mode?: number; mtimeMs?: number; mtimeNs?: number },
  ): void;
  /**
   * Sets symlink `rel`'s own times (never its target's); a tree that
   * cannot (no libc) leaves them.
   */
  setLinkTimes(rel: string, mtimeMs: number, mtimeNs?: number): void;
  /** Told that a temporary file is about to be made next to `rel`. */
  noteTemp(rel: string): void;
  /** Module-relative directories temporary files were made in (see `noteTemp`). */
  readonly tempDirs: ReadonlySet<string>;
  /** A tree for the directory `rel` inside this one (not yet opened). */
  sub(rel: string): Tree;
  /**
   * Checks the top directory exists (creating it when asked) and holds on
   * to it: later calls resolve beneath this very directory. Returns its
   * status.
   */
  pin(options?: PinOptions): Deno.FileInfo;
  /** Re-checks the pinned top directory is still where it was pinned. */
  verify(): void;
  /** Releases the handles this tree holds (idempotent). */
  close(): void;
  /**
   * Opens directory `rel` to read its entries through one handle: its
   * names, and an lstat per name that resolves nothing but that name.
   * Undefined when this tree has no such handle (no libc, or `rel` could
   * not be opened): the caller uses `readDir` and `lstat`, which say why.
   */
  openDir?(rel: string): DirHandle | undefined;
}

/** A directory held open while its entries are read (see `Tree.openDir`). */
export interface DirHandle {
  /** The names in it when opened (unsorted; no "." or ".."). */
  readonly names: readonly string[];
  /**
   * lstat of `name` (one name, no "/") in it, or undefined when gone.
   *
   * @throws {Deno.errors.PermissionDenied} when it may not be looked at.
   */
  lstat(name: string): Deno.FileInfo | undefined;
  /** Releases the handle (idempotent). */
  close(): void;
}

/**
 * The status of `handle` as it was opened: a kernel tree's handle checked
 * it then (its type, its links) and keeps it, so the open costs one
 * status call, not two; any other handle is asked now. Only for what
 * was true at the open (which file, its size then): a file read since
 * is asked again with `statSync`.
 *
 * @example
 * ```ts
 * import { openedStatus } from "./tree.ts";
 * const path = Deno.makeTempFileSync();
 * using file = Deno.openSync(path);
 * if (!openedStatus(file).isFile) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function openedStatus(handle: ReadHandle): Deno.FileInfo {
  return (handle as { statusAtOpen?: Deno.FileInfo }).statusAtOpen ??
    handle.statSync();
}

/**
 * Which file a status describes: dev:ino, plus the birth time where the
 * filesystem keeps one (a file deleted and made again often gets the same
 * inode number back).
 *
 * @example
 * ```ts
 * import { fileIdentity } from "@blit/cli/internals";
 * const f = Deno.makeTempFileSync();
 * if (fileIdentity(Deno.lstatSync(f)) !== fileIdentity(Deno.statSync(f))) throw new Error();
 * Deno.removeSync(f);
 * ```
 */
export function fileIdentity(info: Deno.FileInfo): string {
  // A statx status has its birth time in ms already (no Date made).
  const birthMs = (info as { birthtimeMs?: number }).birthtimeMs;
  if (birthMs !== undefined) {
    return `${info.dev}:${info.ino}:${Number.isNaN(birthMs) ? "" : birthMs}`;
  }
  return `${info.dev}:${info.ino}:${info.birthtime?.getTime() ?? ""}`;
}

/**
 * A file's size, modification and status-change times to the nanosecond,
 * or undefined where the status has no nanoseconds of its change time
 * (only the kernel tree's statx gives them): any write to a file moves its
 * change time, which no user can set back.
 *
 * @example
 * ```ts
 * import { contentStamp } from "@blit/cli/internals";
 * if (contentStamp(Deno.statSync(".")) !== undefined) throw new Error("example failed");
 * ```
 */
export function contentStamp(info: Deno.FileInfo): string | undefined {
  const ns = (info as { ctimeNs?: number }).ctimeNs;
  if (ns === undefined) return undefined;
  // A statx status has its times in ms already (no Date made).
  const { mtimeMs, ctimeMs } = info as { mtimeMs?: number; ctimeMs?: number };
  if (mtimeMs !== undefined && ctimeMs !== undefined) {
    return `${info.size}:${mtimeMs}:${
      (info as { mtimeNs?: number }).mtimeNs ?? 0
    }:${ctimeMs}:${ns}`;
  }
  if (!info.ctime || !info.mtime) return undefined;
  return `${info.size}:${info.mtime.getTime()}:${
    (info as { mtimeNs?: number }).mtimeNs ?? 0
  }:${info.ctime.getTime()}:${ns}`;
}

/**
 * A directory on the session's path changed identity while in use, or an
 * opened file is not the kind expected (a link, a FIFO, a device).
 * Nothing was read or written through it.
 */
export class ContainmentError extends Error {
  /** The path as the client named it (relative to the module). */
  readonly path: string;
  /** `path` is module-relative ("" for the module itself). */
  constructor(path: string, reason: string) {
    super(
      path === ""
        ? `The ${reason}; nothing was read or written through it`
        : `${
          JSON.stringify(path)
        } ${reason}; nothing was read or written through it`,
    );
    this.name = "ContainmentError";
    this.path = path;
  }
}

/**
 * The descriptor behind a tree's handle, where it has one (a kernel
 * tree's: for sendfile and the hash Workers).
 *
 * @example
 * ```ts
 * import { descriptorOf } from "./tree.ts";
 * if (descriptorOf({ fd: 5 }) !== 5 || descriptorOf({}) !== undefined) throw new Error("example failed");
 * ```
 */
export function descriptorOf(handle: object): number | undefined {
  const fd = (handle as { fd?: unknown }).fd;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/** Joins a tree-relative directory and a name ("" is the top). */
export function joinRel(dir: string, name: string): string {
  if (dir === "") return name;
  return name === "" ? dir : `${dir}/${name}`;
}

/** The parent ("" for the top) and last component of a normalized `rel`. */
export function splitRel(rel: string): { dir: string; name: string } {
  const slash = rel.lastIndexOf("/");
  if (slash < 0) return { dir: "", name: rel };
  return { dir: rel.slice(0, slash), name: rel.slice(slash + 1) };
}

/** Where a tree lives: a local path (the user's own) or a tree. */
export type TreeRoot = string | Tree;
