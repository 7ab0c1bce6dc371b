// The daemon's tree on Linux: a directory handle, and every name resolved
// by the kernel beneath it with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
// | RESOLVE_NO_MAGICLINKS). Later calls use the directory handle the
// resolution returned and a single name, never a path string, so no
// rename, exchange or symlink planted by a local user between two calls
// can redirect one outside. Modes and times are set on open descriptors.
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
  RESOLVE,
} from "./_libc.ts";
import { normalizeRelative } from "./safe_path.ts";
import {
  ContainmentError,
  fileIdentity,
  joinRel,
  type PinOptions,
  type ReadHandle,
  splitRel,
  type Tree,
  type WriteHandle,
} from "./tree.ts";
import { KernelFile } from "./kernel_file.ts";
import { TurnCache } from "./_turn_cache.ts";
import {
  BENEATH,
  listDir,
  mkdirsBeneath,
  readLinkAt,
  removeAt,
  resolveError,
  setAttrs,
} from "./_kernel_ops.ts";

/** How many times a pinned top must be found in place before it is used. */
const PIN_CHECKS = 64;
const EMPTY = cString("");
const DOT = cString(".");

/** Options for {@linkcode KernelTree}. */
export interface KernelTreeOptions {
  /**
   * Told each module-relative directory, once per tree, before the first
   * temporary file is made there (the daemon journals it so a crash's
   * leftovers can be swept at the next start).
   */
  onTempDir?: (moduleRel: string) => void;
}

/**
 * A module directory (or a directory inside one) whose every lookup the
 * kernel keeps beneath it. Create with {@linkcode KernelTree.open}.
 *
 * Permissions: ffi on libc (see `loadLibc`); nothing else: no Deno path
 * call is made.
 *
 * @example
 * ```ts
 * import { KernelTree } from "@blit/cli/internals";
 * const dir = Deno.makeTempDirSync();
 * const tree = KernelTree.open(dir);
 * if (tree) {
 *   tree.mkdirs("a");
 *   const f = tree.createFile("a/b", 0o644);
 *   f.writeSync(new TextEncoder().encode("hi"));
 *   f.close();
 *   if (Deno.readTextFileSync(`${dir}/a/b`) !== "hi") throw new Error("example failed");
 *   tree.close();
 * }
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class KernelTree implements Tree {
  /** How containment is enforced (see {@linkcode Tree.containment}). */
  readonly containment = "kernel" as const;
  readonly #libc: Libc;
  /** The module's directory handle (O_PATH), shared with sub-trees. */
  readonly #root: { fd: number; owners: number };
  #closed = false;
  /** This tree's top, relative to the module ("" for the module). */
  readonly #base: string;
  /** The pinned top (see {@linkcode pin}), or -1: resolve from the root. */
  #baseFd = -1;
  #baseId: string | undefined;
  readonly #onTempDir: ((moduleRel: string) => void) | undefined;
  readonly #noted = new Set<string>();
  /** The directory (tree-relative, not "") `noteTemp` saw last. */
  #lastNoted: string | undefined;
  /** Directory handles, and the top's check, of this event-loop turn. */
  readonly #turn: TurnCache;

  private constructor(
    libc: Libc,
    root: { fd: number; owners: number },
    base: string,
    options: KernelTreeOptions,
  ) {
    this.#libc = libc;
    this.#turn = new TurnCache(libc);
    this.#root = root;
    this.#base = base;
    this.#onTempDir = options.onTempDir;
    leaks.register(this, { libc, root, base: this.#baseHolder }, this);
  }

  /** The pinned handle, where the leak guard can find it. */
  readonly #baseHolder = { fd: -1 };

  get #rootFd(): number {
    return this.#closed ? -1 : this.#root.fd;
  }

  /**
   * A tree for the directory at the absolute path `path` (trusted: from
   * the daemon's config), or undefined where openat2 is not available.
   *
   * @throws {Deno.errors.NotFound} when `path` is missing.
   * @throws {TypeError} when `path` is relative, a symlink or not a directory.
   */
  static open(
    path: string,
    options: KernelTreeOptions = {},
  ): KernelTree | undefined {
    const libc = loadLibc();
    if (!libc) return undefined;
    if (!path.startsWith("/")) {
      throw new TypeError(`Module path must be absolute, got ${path}`);
    }
    const fd = libc.openat2(
      AT.FDCWD,
      cString(path),
      O.PATH | O.DIRECTORY | O.CLOEXEC | O.NOFOLLOW,
      0,
      RESOLVE.NO_MAGICLINKS,
    );
    if (fd < 0) {
      if (-fd === ERRNO.ENOENT) {
        throw new Deno.errors.NotFound(`No such directory: ${path}`);
      }
      throw new TypeError(`Module path is not a directory: ${path}`);
    }
    return new KernelTree(libc, { fd, owners: 1 }, "", options);
  }

  /** The descriptor of the directory names resolve beneath. */
  get #top(): number {
    if (this.#closed) throw new Error("The tree is closed");
    return this.#baseFd >= 0 ? this.#baseFd : this.#rootFd;
  }

  /** `rel` as resolved beneath `#top` (the base prefixed when not pinned). */
  #resolvable(rel: string): string {
    if (this.#baseFd >= 0 || this.#base === "") return rel;
    return joinRel(this.#base, rel);
  }

  #openat2(rel: string, flags: number, mode = 0): number {
    // A pinned top is checked to still stand where it was pinned once an
    // event-loop turn: a local user swapping it out (or another directory
    // in) fails the session instead of steering it.
    if (!this.#turn.verified && this.#baseFd >= 0 && this.#base !== "") {
      this.verify();
      this.#turn.markVerified();
    }
    const name = this.#resolvable(rel);
    return this.#libc.openat2(
      this.#top,
      name === "" ? DOT : cScratch(name),
      flags | O.CLOEXEC,
      mode,
      BENEATH,
    );
  }

  #close(fd: number): void {
    this.#libc.fn.close(fd);
  }

  /**
   * A handle on directory `dir` (O_PATH), or -errno, kept for the rest of
   * this event-loop turn (see {@linkcode TurnCache}); callers never close
   * one.
   */
  #dirFd(dir: string): number {
    const cached = this.#turn.get(dir);
    if (cached !== undefined) return cached;
    const fd = this.#openat2(dir, O.PATH | O.DIRECTORY);
    if (fd >= 0) this.#turn.set(dir, fd);
    return fd;
  }

  /** Runs `fn` with a handle on `rel`'s parent directory and `rel`'s last name. */
  #inParent<T>(
    rel: string,
    fn: (dirfd: number, name: Uint8Array<ArrayBuffer>) => T,
  ): T {
    const { dir, name } = splitRel(rel);
    return fn(this.#parentFd(dir), cString(name));
  }

  /** {@linkcode KernelTree.#dirFd} of `dir`, or why it can't be opened. */
  #parentFd(dir: string): number {
    const dirfd = this.#dirFd(dir);
    if (dirfd < 0) throw resolveError("open", joinRel(this.#base, dir), -dirfd);
    return dirfd;
  }

  /** lstat of `rel` (no link followed), or undefined when it or a parent is missing. */
  lstat(rel: string): Deno.FileInfo | undefined {
    const normal = normalizeRelative(rel);
    if (normal === "") {
      const info = this.#libc.statx(this.#top, EMPTY, AT.EMPTY_PATH);
      return typeof info === "number" ? undefined : this.#maybeBase(info);
    }
    const { dir, name } = splitRel(normal);
    const dirfd = this.#dirFd(dir);
    if (dirfd < 0) {
      if (-dirfd === ERRNO.ENOENT || -dirfd === ERRNO.ENOTDIR) return undefined;
      throw resolveError("open", joinRel(this.#base, dir), -dirfd);
    }
    const info = this.#libc.statx(dirfd, cScratch(name), AT.SYMLINK_NOFOLLOW);
    if (typeof info !== "number") return info;
    if (-info === ERRNO.ENOENT || -info === ERRNO.ENOTDIR) return undefined;
    throw errnoError("lstat", normal, -info);
  }

  /** The unpinned top itself: undefined when a link or missing there. */
  #maybeBase(info: Deno.FileInfo): Deno.FileInfo | undefined {
    if (this.#baseFd >= 0 || this.#base === "") return info;
    const fd = this.#openat2("", O.PATH | O.DIRECTORY);
    if (fd < 0) {
      if (-fd === ERRNO.ENOENT || -fd === ERRNO.ENOTDIR) return undefined;
      throw resolveError("open", this.#base, -fd);
    }
    try {
      const own = this.#libc.statx(fd, EMPTY, AT.EMPTY_PATH);
      return typeof own === "number" ? undefined : own;
    } finally {
      this.#close(fd);
    }
  }

  /** The names in directory `rel` (unsorted). */
  readDir(rel: string): string[] {
    const normal = normalizeRelative(rel);
    const fd = this.#openat2(normal, O.RDONLY | O.DIRECTORY | O.NONBLOCK);
    if (fd < 0) {
      throw resolveError("open", joinRel(this.#base, normal), -fd);
    }
    try {
      return listDir(this.#libc, fd, normal);
    } finally {
      this.#close(fd);
    }
  }

  /** The target text of symlink `rel`. */
  readLink(rel: string): string {
    const normal = normalizeRelative(rel);
    return this.#inParent(
      normal,
      (dirfd, name) => readLinkAt(this.#libc, dirfd, name, normal),
    );
  }

  /** Opens the regular file `rel` to read; anything else is refused without blocking. */
  openRead(rel: string): ReadHandle {
    return this.#openExisting(rel, O.RDONLY, false);
  }

  /**
   * Opens the existing regular file `rel` with `access` flags. O_NONBLOCK:
   * a FIFO or device swapped in answers at once, and the fstat in
   * fstat below refuses it before a byte moves.
   */
  #openExisting(rel: string, access: number, oneLink: boolean): KernelFile {
    const normal = normalizeRelative(rel);
    const fd = this.#openat2(
      normal,
      access | O.NOFOLLOW | O.NONBLOCK | O.NOCTTY,
    );
    if (fd < 0) {
      // ELOOP: a link; ENXIO: a FIFO with no reader, or a device.
      if (-fd === ERRNO.ELOOP || -fd === ERRNO.ENXIO) {
        throw new ContainmentError(normal, "is no longer a regular file");
      }
      throw resolveError("open", normal, -fd);
    }
    return KernelFile.regular(this.#libc, fd, normal, oneLink);
  }

  /** Creates the new file `rel` (O_EXCL, never through a link). */
  createFile(rel: string, mode: number): WriteHandle {
    const normal = normalizeRelative(rel);
    const fd = this.#openat2(
      normal,
      O.WRONLY | O.CREAT | O.EXCL | O.NOFOLLOW | O.NOCTTY,
      mode & 0o777,
    );
    if (fd < 0) throw this.#explain(resolveError("create", normal, -fd));
    return new KernelFile(this.#libc, fd, normal);
  }

  /** Opens the existing plain regular file `rel` (one link) to write. */
  openWrite(rel: string): WriteHandle {
    return this.#openExisting(rel, O.WRONLY, true);
  }

  /** Creates directory `rel` and missing parents. */
  mkdirs(rel: string): void {
    const normal = normalizeRelative(rel);
    if (normal === "") return;
    try {
      mkdirsBeneath(this.#libc, this.#top, this.#resolvable(normal));
    } catch (error) {
      throw this.#explain(error);
    }
  }

  /** Renames `from` to `to`. */
  rename(from: string, to: string): void {
    const a = normalizeRelative(from);
    const b = normalizeRelative(to);
    // A moved or replaced directory's handles no longer match its name.
    this.#turn.forgetUnder(a);
    this.#turn.forgetUnder(b);
    const source = splitRel(a);
    const target = splitRel(b);
    if (source.dir === target.dir) {
      // One directory (a temp name and its final name): one handle, both
      // names in the shared buffers (nothing runs between).
      const dirfd = this.#parentFd(source.dir);
      this.#move(
        dirfd,
        cScratch(source.name),
        dirfd,
        cScratchB(target.name),
        b,
      );
      return;
    }
    this.#inParent(
      a,
      (fromFd, fromName) =>
        this.#inParent(
          b,
          (toFd, toName) => this.#move(fromFd, fromName, toFd, toName, b),
        ),
    );
  }

  /** renameat2 (no closure while it succeeds: a call a received file). */
  #move(
    fromFd: number,
    fromName: Uint8Array<ArrayBuffer>,
    toFd: number,
    toName: Uint8Array<ArrayBuffer>,
    to: string,
  ): void {
    const libc = this.#libc;
    if (libc.fn.renameat2(fromFd, fromName, toFd, toName, 0) === 0) return;
    const errno = libc.failed(() =>
      libc.fn.renameat2(fromFd, fromName, toFd, toName, 0) === 0
    );
    if (errno !== 0) throw errnoError("rename", to, errno);
  }

  /** Removes the file, link or empty directory `rel`. */
  remove(rel: string): void {
    const normal = normalizeRelative(rel);
    if (normal === "") throw new TypeError("Cannot remove the tree's top");
    this.#turn.forgetUnder(normal);
    this.#inParent(
      normal,
      (dirfd, name) => removeAt(this.#libc, dirfd, name, normal),
    );
  }

  /** Creates symlink `rel` with the text `target`. */
  symlink(target: string, rel: string): void {
    const normal = normalizeRelative(rel);
    this.#inParent(normal, (dirfd, name) => {
      const text = cString(target);
      const errno = this.#libc.attempt(() =>
        this.#libc.fn.symlinkat(text, dirfd, name)
      );
      if (errno !== 0) throw errnoError("symlink", normal, errno);
    });
  }

  /**
   * Sets symlink `rel`'s own times: utimensat(AT_SYMLINK_NOFOLLOW) on its
   * name beneath its parent's handle (the link itself, never a target).
   */
  setLinkTimes(rel: string, mtimeMs: number, mtimeNs?: number): void {
    const normal = normalizeRelative(rel);
    this.#inParent(normal, (dirfd, name) => {
      const r = this.#libc.utimensat(
        dirfd,
        name,
        mtimeMs,
        mtimeNs ?? 0,
        AT.SYMLINK_NOFOLLOW,
      );
      if (r !== 0) throw errnoError("utime", normal, -r);
    });
  }

  /** Sets mode and/or mtime of directory `rel` on an open handle. */
  setDirAttrs(
    rel: string,
    attrs: { mode?: number; mtimeMs?: number; mtimeNs?: number },
  ): void {
    const normal = normalizeRelative(rel);
    const fd = this.#openat2(
      normal,
      O.RDONLY | O.DIRECTORY | O.NOFOLLOW | O.NONBLOCK,
    );
    if (fd < 0) throw resolveError("open", normal, -fd);
    try {
      setAttrs(this.#libc, fd, attrs, normal);
    } finally {
      this.#close(fd);
    }
  }

  /** Notes that a temporary file is about to be made next to `rel`. */
  noteTemp(rel: string): void {
    const normal = normalizeRelative(rel);
    const slash = normal.lastIndexOf("/");
    // The directory of the last call again (a tree's files come by
    // directory): nothing made.
    if (
      this.#lastNoted !== undefined && slash === this.#lastNoted.length &&
      normal.startsWith(this.#lastNoted)
    ) return;
    const dir = slash < 0 ? "" : normal.slice(0, slash);
    this.#lastNoted = slash < 0 ? undefined : dir;
    const moduleRel = joinRel(this.#base, dir);
    if (this.#noted.has(moduleRel)) return;
    this.#noted.add(moduleRel);
    this.#onTempDir?.(moduleRel);
  }

  /** Module-relative directories temp files were made in. */
  get tempDirs(): ReadonlySet<string> {
    return this.#noted;
  }

  /** A tree for directory `rel` inside this one. */
  sub(rel: string): KernelTree {
    return this.#subTree(normalizeRelative(rel));
  }

  #subTree(normal: string): KernelTree {
    const prefix = this.#baseFd >= 0 ? "" : this.#base;
    if (this.#baseFd >= 0) {
      // Beneath this tree's pinned top: the new tree holds its own handle
      // on it (a sub-tree of a pinned tree stays beneath what was pinned).
      const fd = this.#libc.openat2(
        this.#baseFd,
        DOT,
        O.PATH | O.DIRECTORY | O.CLOEXEC,
        0,
        BENEATH,
      );
      if (fd < 0) throw errnoError("open", this.#base, -fd);
      return new KernelTree(this.#libc, { fd, owners: 1 }, normal, {
        onTempDir: this.#onTempDir,
      });
    }
    this.#root.owners++;
    return new KernelTree(this.#libc, this.#root, joinRel(prefix, normal), {
      onTempDir: this.#onTempDir,
    });
  }

  /** Checks (or creates) the top directory and holds on to it. */
  pin(options: PinOptions = {}): Deno.FileInfo {
    if (this.#baseFd < 0) {
      if (options.create && this.#base !== "") {
        mkdirsBeneath(this.#libc, this.#rootFd, this.#base);
      }
      const fd = this.#openBase();
      if (fd < 0) {
        if (-fd === ERRNO.ENOTDIR) {
          throw new Deno.errors.NotADirectory(`Not a directory: ${this.#base}`);
        }
        throw resolveError("open", this.#base, -fd);
      }
      this.#baseFd = fd;
      this.#baseHolder.fd = fd;
    }
    const info = this.#libc.statx(this.#baseFd, EMPTY, AT.EMPTY_PATH);
    if (typeof info === "number") throw errnoError("stat", this.#base, -info);
    this.#baseId = fileIdentity(info);
    // Held only if it stays put: a directory someone keeps exchanging
    // with another (a local user's rename loop) is refused now, before a
    // byte is read or written in either.
    if (this.#base !== "") {
      for (let i = 0; i < PIN_CHECKS; i++) this.verify();
    }
    return info;
  }

  /** The top, resolved afresh from the module's handle: a descriptor or -errno. */
  #openBase(): number {
    return this.#libc.openat2(
      this.#rootFd,
      this.#base === "" ? DOT : cString(this.#base),
      O.PATH | O.DIRECTORY | O.CLOEXEC,
      0,
      BENEATH,
    );
  }

  /** Re-checks the pinned top is still where it was pinned. */
  verify(): void {
    if (this.#baseFd < 0 || this.#baseId === undefined) return;
    const fd = this.#openBase();
    if (fd < 0) {
      if (-fd === ERRNO.ELOOP || -fd === ERRNO.EXDEV) {
        throw resolveError("open", this.#base, -fd);
      }
      throw new ContainmentError(
        this.#base,
        "was replaced during the transfer",
      );
    }
    try {
      const info = this.#libc.statx(fd, EMPTY, AT.EMPTY_PATH);
      if (typeof info === "number" || fileIdentity(info) !== this.#baseId) {
        throw new ContainmentError(
          this.#base,
          "was replaced during the transfer",
        );
      }
    } finally {
      this.#close(fd);
    }
  }

  /**
   * A call that found nothing where something should be: when the pinned
   * top itself was removed or replaced meanwhile, that is the error to
   * report (nothing was written anywhere else: the handle kept every call
   * in the old directory).
   */
  #explain(error: unknown): unknown {
    if (
      this.#baseFd < 0 || !(error instanceof Deno.errors.NotFound)
    ) return error;
    const info = this.#libc.statx(this.#baseFd, EMPTY, AT.EMPTY_PATH);
    if (typeof info !== "number" && (info.nlink ?? 1) > 0) return error;
    try {
      this.verify();
    } catch (replaced) {
      return replaced;
    }
    return new ContainmentError(this.#base, "was replaced during the transfer");
  }

  /** Releases the handles this tree holds (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#turn.clear();
    this.#closed = true;
    leaks.unregister(this);
    if (this.#baseFd >= 0) this.#close(this.#baseFd);
    this.#baseFd = this.#baseHolder.fd = -1;
    release(this.#libc, this.#root);
  }
}

/** Drops one owner of a shared root handle; the last closes it. */
function release(libc: Libc, root: { fd: number; owners: number }): void {
  if (--root.owners > 0 || root.fd < 0) return;
  libc.fn.close(root.fd);
  root.fd = -1;
}

/** Trees dropped without close(): their descriptors are closed anyway. */
const leaks = new FinalizationRegistry<
  { libc: Libc; root: { fd: number; owners: number }; base: { fd: number } }
>(({ libc, root, base }) => {
  if (base.fd >= 0) libc.fn.close(base.fd);
  release(libc, root);
});
