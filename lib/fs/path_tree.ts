// The client's tree: a local directory of the user's own, reached by path
// strings. Intermediate symlinks are checked (a hostile peer's manifest
// can't route a write through a link the transfer itself made), but this
// is not containment against other local users: the daemon never uses it.
import {
  normalizeRelative,
  resolveInside,
  type ResolveOptions,
} from "./safe_path.ts";
import type {
  DirHandle,
  PinOptions,
  ReadHandle,
  Tree,
  WriteHandle,
} from "./tree.ts";
import { joinRel } from "./tree.ts";
import { loadNativeStat, preciseLstat, setPathTimes } from "./native_stat.ts";
import {
  AT,
  cScratch,
  cScratchB,
  cString,
  ERRNO,
  errnoError,
  type Libc,
  loadLibc,
  O,
} from "./_libc.ts";
import { listDir } from "./_kernel_ops.ts";
import { KernelFile } from "./kernel_file.ts";

/**
 * A Deno.FsFile as a tree's write handle: chmod by path (Deno has no
 * fchmod), the rest on the open file.
 */
export class PathFile implements WriteHandle {
  /** The open file. */
  protected readonly file: Deno.FsFile;
  readonly #path: string;

  /** Wraps `file`, open at `path`. */
  constructor(file: Deno.FsFile, path: string) {
    this.file = file;
    this.#path = path;
  }

  /** Writes from `p`. */
  writeSync(p: Uint8Array): number {
    return this.file.writeSync(p);
  }

  /** Moves the write position. */
  seekSync(offset: number, whence: Deno.SeekMode): number {
    return this.file.seekSync(offset, whence);
  }

  /** Cuts or extends the file. */
  truncateSync(length: number): void {
    this.file.truncateSync(length);
  }

  /** The open file's status. */
  statSync(): Deno.FileInfo {
    return this.file.statSync();
  }

  /** Sets the permission bits (by path: the user's own directory). */
  chmodSync(mode: number): void {
    Deno.chmodSync(this.#path, mode & 0o7777);
  }

  /** Sets access and modification time (to the nanosecond, by path). */
  utimeSync(mtimeMs: number, mtimeNs?: number): void {
    if (mtimeNs && loadNativeStat()) {
      setPathTimes(this.#path, mtimeMs, mtimeNs);
      return;
    }
    const seconds = mtimeMs / 1000;
    this.file.utimeSync(seconds, seconds);
  }

  /** Closes it (again: a no-op). */
  close(): void {
    try {
      this.file.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }
}

/**
 * A local directory tree by path (the client's side of a transfer).
 *
 * Permissions: read on `root` (write for changes).
 *
 * @example
 * ```ts
 * import { PathTree } from "@blit/cli/internals";
 * const dir = Deno.makeTempDirSync();
 * const tree = new PathTree(dir);
 * tree.mkdirs("a/b");
 * if (!tree.lstat("a/b")?.isDirectory) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class PathTree implements Tree {
  /** How containment is enforced (see {@linkcode Tree.containment}). */
  readonly containment = "local" as const;
  /** The directory's absolute path. */
  readonly root: string;
  /** Directories (relative) checked to be real directories this run. */
  readonly #verified: Set<string>;

  /**
   * A tree at `root` (absolute, or relative to the working directory);
   * `options.verified` shares the set of checked directories between the
   * trees of one transfer.
   */
  constructor(root: string, options: ResolveOptions = {}) {
    if (root === "") throw new TypeError("Tree root must be a non-empty path");
    this.root = root;
    this.#verified = options.verified ?? new Set();
  }

  /** The path of `rel`, intermediate links checked once per run. */
  path(rel: string): string {
    return resolveInside(this.root, rel, { verified: this.#verified });
  }

  /** lstat of `rel` (no link followed), or undefined when it or a parent is missing. */
  lstat(rel: string): Deno.FileInfo | undefined {
    return lstatOrUndefined(this.path(rel));
  }

  /** The names in directory `rel` (unsorted). */
  readDir(rel: string): string[] {
    const names: string[] = [];
    for (const item of Deno.readDirSync(this.path(rel))) names.push(item.name);
    return names;
  }

  /** The target text of symlink `rel`. */
  readLink(rel: string): string {
    return Deno.readLinkSync(this.path(rel));
  }

  /**
   * Directory `rel` open through libc (a link there is not followed,
   * except at the top the user named), listed and looked into by single
   * names; undefined without libc or when it can't be opened.
   */
  openDir(rel: string): DirHandle | undefined {
    const libc = loadLibc();
    if (!libc) return undefined;
    const normal = normalizeRelative(rel);
    const fd = libc.openat2(
      AT.FDCWD,
      cString(normal === "" ? this.root : this.path(normal)),
      O.RDONLY | O.DIRECTORY | O.CLOEXEC | (normal === "" ? 0 : O.NOFOLLOW),
      0,
      0,
    );
    if (fd < 0) return undefined;
    try {
      return new LibcDir(libc, fd, listDir(libc, fd, normal), normal);
    } catch (error) {
      libc.fn.close(fd);
      throw error;
    }
  }

  /** Opens the regular file `rel` to read; anything else is refused without blocking. */
  openRead(rel: string): ReadHandle {
    return openLocalRead(this.path(rel));
  }

  /** Creates the new file `rel` (O_EXCL, never through a link). */
  createFile(rel: string, mode: number): WriteHandle {
    const path = this.path(rel);
    // Through libc where it may be called: the file's mode and times then
    // go on its descriptor, and the calls cost about half of Deno's.
    const libc = loadLibc();
    if (libc) {
      const fd = libc.openat2(
        AT.FDCWD,
        cScratch(path),
        O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.NOCTTY | O.CLOEXEC,
        mode & 0o777,
        0,
      );
      if (fd >= 0) return new KernelFile(libc, fd, path);
      // Failed: Deno's own call below says why, in its words.
    }
    const file = Deno.openSync(path, {
      write: true,
      createNew: true,
      mode: mode & 0o777,
    });
    return new PathFile(file, path);
  }

  /** Opens the existing plain regular file `rel` (one link) to write. */
  openWrite(rel: string): WriteHandle {
    const path = this.path(rel);
    return new PathFile(Deno.openSync(path, { write: true }), path);
  }

  /** Creates directory `rel` and missing parents. */
  mkdirs(rel: string): void {
    const normal = normalizeRelative(rel);
    if (normal === "") return;
    Deno.mkdirSync(this.path(normal), { recursive: true });
  }

  /** Renames `from` to `to`. */
  rename(from: string, to: string): void {
    const a = this.path(from);
    const b = this.path(to);
    const libc = loadLibc();
    if (
      libc &&
      libc.fn.renameat2(AT.FDCWD, cScratchB(a), AT.FDCWD, cScratch(b), 0) === 0
    ) return;
    // Not through libc, or failed: Deno's call says why.
    Deno.renameSync(a, b);
  }

  /** Removes the file, link or empty directory `rel`. */
  remove(rel: string): void {
    Deno.removeSync(this.path(rel));
    // Whatever was checked below it is gone.
    this.#verified.clear();
  }

  /** Creates symlink `rel` with the text `target`. */
  symlink(target: string, rel: string): void {
    Deno.symlinkSync(target, this.path(rel));
    // A link now stands where a checked directory may have been.
    this.#verified.clear();
  }

  /** Sets mode and/or mtime of directory `rel` on an open handle. */
  setDirAttrs(
    rel: string,
    attrs: { mode?: number; mtimeMs?: number; mtimeNs?: number },
  ): void {
    const path = this.path(rel);
    if (Deno.lstatSync(path).isSymlink) {
      throw new Deno.errors.NotADirectory(`Not a directory: ${rel}`);
    }
    if (attrs.mode !== undefined) Deno.chmodSync(path, attrs.mode & 0o7777);
    if (attrs.mtimeMs !== undefined) {
      setPathTimes(path, attrs.mtimeMs, attrs.mtimeNs);
    }
  }

  /** Sets symlink `rel`'s own modification time (where libc allows). */
  setLinkTimes(rel: string, mtimeMs: number, mtimeNs?: number): void {
    setPathTimes(this.path(rel), mtimeMs, mtimeNs, true);
  }

  /** Notes that a temporary file is about to be made next to `rel`. */
  noteTemp(_rel: string): void {
    // Nothing to journal on a client.
  }

  /** Always empty: a client journals nothing. */
  readonly tempDirs: ReadonlySet<string> = NO_TEMP_DIRS;

  /** A tree for directory `rel` inside this one. */
  sub(rel: string): PathTree {
    const normal = normalizeRelative(rel);
    return new PathTree(normal === "" ? this.root : this.path(normal));
  }

  /** Checks (or creates) the top directory and holds on to it. */
  pin(options: PinOptions = {}): Deno.FileInfo {
    if (options.create) Deno.mkdirSync(this.root, { recursive: true });
    return Deno.statSync(this.root);
  }

  /** Re-checks the pinned top is still where it was pinned. */
  verify(): void {
    // A user's own directory: nothing to re-check.
  }

  /** Releases the handles this tree holds (idempotent). */
  close(): void {
    // No handles held.
  }
}

/** Closes the handle of a directory dropped unclosed (a walk abandoned). */
const dirLeaks = new FinalizationRegistry<{ libc: Libc; fd: number }>(
  (held) => {
    if (held.fd >= 0) held.libc.fn.close(held.fd);
  },
);

/** A directory open as `fd`, its entries looked up by single names. */
class LibcDir implements DirHandle {
  readonly #held: { libc: Libc; fd: number };
  readonly names: readonly string[];
  readonly #shown: string;

  constructor(libc: Libc, fd: number, names: string[], shown: string) {
    this.#held = { libc, fd };
    this.names = names;
    this.#shown = shown;
    dirLeaks.register(this, this.#held, this);
  }

  get #fd(): number {
    return this.#held.fd;
  }

  lstat(name: string): Deno.FileInfo | undefined {
    if (this.#fd < 0) throw new Error("The directory handle is closed");
    if (name === "" || name === "." || name === ".." || name.includes("/")) {
      throw new TypeError(`Not a single name: ${JSON.stringify(name)}`);
    }
    const info = this.#held.libc.statx(
      this.#fd,
      cScratch(name),
      AT.SYMLINK_NOFOLLOW,
    );
    if (typeof info !== "number") return info;
    if (-info === ERRNO.ENOENT || -info === ERRNO.ENOTDIR) return undefined;
    throw errnoError("lstat", joinRel(this.#shown, name), -info);
  }

  close(): void {
    if (this.#fd < 0) return;
    this.#held.libc.fn.close(this.#fd);
    this.#held.fd = -1;
    dirLeaks.unregister(this);
  }
}

/**
 * The tree for a root given as a local path or as a tree; `options.verified`
 * shares a local tree's checked directories with other trees of the run.
 *
 * @example
 * ```ts
 * import { treeOf } from "@blit/cli/internals";
 * if (treeOf("/tmp").containment !== "local") throw new Error("example failed");
 * ```
 */
export function treeOf(
  root: string | Tree,
  options: ResolveOptions = {},
): Tree {
  if (typeof root !== "string") return root;
  // A transfer's calls share one set of checked directories: the tree of
  // the last call serves the next with the same root and set (a tree is
  // its root and that set; ~150 bytes and a Set a received file before).
  const verified = options.verified;
  const last = lastTree;
  if (verified && last?.root === root && last.verified === verified) {
    return last.tree;
  }
  const tree = new PathTree(root, options);
  if (verified) lastTree = { root, verified, tree };
  return tree;
}

/** A client's trees journal no temp directories: one empty set for all. */
const NO_TEMP_DIRS: ReadonlySet<string> = new Set();

let lastTree:
  | { root: string; verified: Set<string>; tree: PathTree }
  | undefined;

/**
 * lstat that answers undefined for a missing path (or one under a file,
 * where a directory should be).
 *
 * @example
 * ```ts
 * import { lstatOrUndefined } from "./path_tree.ts";
 * if (lstatOrUndefined("/definitely/not/here") !== undefined) throw new Error("example failed");
 * ```
 */
export function lstatOrUndefined(name: string): Deno.FileInfo | undefined {
  // To the nanosecond where libc may be called.
  return preciseLstat(name);
}

/**
 * Opens the local regular file `path` to read. Through libc where it may
 * be called (Deno's open, read and close cost ~3x as much here): the last
 * name is not followed and a FIFO or device found there is refused
 * without blocking. When the libc open fails (a link there, no
 * permission, ...), Deno's own open is made, as before, so the user sees
 * Deno's error in its words.
 *
 * Permissions: read on `path` (and ffi for the libc route).
 *
 * @throws {ContainmentError} when `path` is a FIFO, device or socket.
 */
export function openLocalRead(path: string): ReadHandle {
  const libc = loadLibc();
  if (libc) {
    const fd = libc.openat2(
      AT.FDCWD,
      cScratch(path),
      O.RDONLY | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY | O.CLOEXEC,
      0,
      0,
    );
    if (fd >= 0) return KernelFile.regular(libc, fd, path, false);
  }
  return Deno.openSync(path, { read: true });
}
