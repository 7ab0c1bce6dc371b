// The daemon's fallback tree where the kernel has no openat2 (not Linux,
// or Linux before 5.6): weaker than kernel_tree.ts, see the README.
//
// Deno has no openat(2), and its permission checks follow symlinks, so a
// check on a path string goes stale before the call that uses it. The
// process's working directory is the one directory handle Deno offers: it
// names an inode, not a path. Before each call the walk below enters the
// target's parent one component at a time, refusing symlinks and checking
// after every chdir that the directory entered is the one just lstat'ed
// (same dev/ino). The call then uses a single name relative to that
// directory, in the same synchronous turn, so no swap of any path
// component can redirect it. Every call here is synchronous: nothing else
// in the process runs, or moves the working directory, in between.
import { ifExists, type NativeStat, setPathTimes } from "./native_stat.ts";
import type { TreeRoot } from "./tree.ts";
import { lstatOrUndefined, openLocalRead, PathFile } from "./path_tree.ts";
import {
  ContainmentError,
  fileIdentity,
  type PinOptions,
  type ReadHandle,
  type Tree,
  type WriteHandle,
} from "./tree.ts";
import {
  normalizeRelative,
  PathEscapeError,
  resolveInside,
  type ResolveOptions,
} from "./safe_path.ts";

export { ContainmentError, fileIdentity, lstatOrUndefined };

/** Options for {@linkcode ContainedRoot} lookups. */
export interface ContainedOptions {
  /** Create missing directories on the way (mode 0o755 less the umask). Default: false. */
  create?: boolean;
}

/** Options for {@linkcode ContainedRoot}. */
export interface ContainedRootOptions {
  /**
   * Told each module-relative directory, once per root, before the first
   * temporary file is made there: the daemon journals it so a crash's
   * leftovers can be swept at the next start.
   */
  onTempDir?: (moduleRel: string) => void;
  /**
   * lstat through libc (see native_stat.ts) for {@linkcode ContainedRoot.lstat}:
   * the name stays relative to the entered directory, one system call
   * instead of Deno's permission-checked dozen. Default: Deno's lstat.
   */
  nativeStat?: NativeStat;
}

// Which directory the process's working directory was verified to be, as
// "moduleId\0relative path"; "" when unknown. Only this module changes it.
// It is forgotten at the end of the event-loop turn (a zero timer), so a
// burst of files in one directory costs one walk, and no check outlives
// the turn it was made in. Within a turn the working directory stays
// pinned to the verified directory's inode whatever happens to its path:
// at worst a call then fails (the directory was deleted), it never lands
// elsewhere.
let cwdKey = "";
let forgetQueued = false;

function remember(key: string): void {
  cwdKey = key;
  if (forgetQueued) return;
  forgetQueued = true;
  setTimeout(() => {
    cwdKey = "";
    forgetQueued = false;
  }, 0);
}

/**
 * A module directory (and optionally a session directory inside it) that
 * every lookup stays in, whatever a client renames, replaces or links
 * meanwhile: symlinked directories on the way are refused, a directory that
 * changed identity while in use is refused, and opened files are checked
 * to be the regular file that was looked at.
 *
 * Lookups return a name valid for the very next synchronous filesystem
 * call only: they move the process's working directory.
 *
 * Permissions: read on the module (write for changes).
 *
 * @example
 * ```ts
 * import { ContainedRoot } from "@blit/cli/internals";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * const root = new ContainedRoot(dir);
 * const before = Deno.cwd();
 * Deno.writeTextFileSync(root.at("a/b.txt", { create: true }), "hi");
 * Deno.chdir(before);
 * if (Deno.readTextFileSync(`${dir}/a/b.txt`) !== "hi") throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class ContainedRoot implements Tree {
  /** How containment is enforced (see {@linkcode Tree.containment}). */
  readonly containment = "walk" as const;
  /** The module's absolute, real path (never shown to clients). */
  readonly modulePath: string;
  /** The session directory, relative to the module ("" for the module). */
  readonly base: string;
  readonly #moduleId: string;
  #baseId: string | undefined;
  readonly #onTempDir: ((moduleRel: string) => void) | undefined;
  readonly #nativeStat: NativeStat | undefined;
  /** Module-relative directories temp files were made in (see {@linkcode noteTemp}). */
  readonly tempDirs: Set<string> = new Set();

  /**
   * A root for the module at `modulePath` (absolute and real), optionally
   * narrowed to the session directory `base` inside it.
   *
   * @throws {TypeError} when `modulePath` is not an absolute path to a
   * directory (a symlink is refused: resolve it when loading the config).
   */
  constructor(
    modulePath: string,
    base = "",
    options: ContainedRootOptions = {},
  ) {
    if (!modulePath.startsWith("/")) {
      throw new TypeError(`Module path must be absolute, got ${modulePath}`);
    }
    const info = Deno.lstatSync(modulePath);
    if (!info.isDirectory) {
      throw new TypeError(`Module path is not a directory: ${modulePath}`);
    }
    this.modulePath = modulePath;
    this.base = normalizeRelative(base);
    this.#moduleId = fileIdentity(info);
    this.#onTempDir = options.onTempDir;
    this.#nativeStat = options.nativeStat;
  }

  /**
   * Records that a temp file is about to be made next to `rel` (call it
   * before creating the file).
   */
  noteTemp(rel: string): void {
    const slash = rel.lastIndexOf("/");
    const dir = this.#join(slash < 0 ? "" : rel.slice(0, slash));
    if (this.tempDirs.has(dir)) return;
    this.tempDirs.add(dir);
    this.#onTempDir?.(dir);
  }

  /**
   * Checks the session directory exists (creating it when asked) and
   * records its identity: from now on a replaced session directory fails
   * every call. Returns its lstat.
   *
   * @throws {PathEscapeError} when it is reached through a symlink.
   * @throws {Deno.errors.NotFound} when it is missing and not created.
   */
  pin(options: PinOptions = {}): Deno.FileInfo {
    this.#enter(this.base, options.create ?? false);
    const info = Deno.statSync(".");
    this.#baseId = fileIdentity(info);
    return info;
  }

  /** A session directory below this one (or this one for `""`), unpinned. */
  sub(rel: string): ContainedRoot {
    const normal = normalizeRelative(rel);
    return new ContainedRoot(this.modulePath, this.#join(normal), {
      onTempDir: this.#onTempDir,
      nativeStat: this.#nativeStat,
    });
  }

  /**
   * Enters the parent of `rel` and returns the name to use for `rel`
   * (`"."` for the session directory itself). The final component is not
   * followed: callers lstat, create or unlink it.
   *
   * @throws {PathEscapeError} for unsafe paths or symlinked directories.
   * @throws {ContainmentError} when a directory changed while entered.
   */
  at(rel: string, options: ContainedOptions = {}): string {
    const normal = normalizeRelative(rel);
    if (normal === "") {
      this.#enter(this.base, options.create ?? false);
      return ".";
    }
    const slash = normal.lastIndexOf("/");
    const parent = slash < 0 ? "" : normal.slice(0, slash);
    this.#enter(this.#join(parent), options.create ?? false);
    return normal.slice(slash + 1);
  }

  /**
   * Enters the directory `rel` itself and returns `"."`.
   *
   * @throws {PathEscapeError} when it is a symlink or not a directory.
   */
  dir(rel: string, options: ContainedOptions = {}): string {
    this.#enter(this.#join(normalizeRelative(rel)), options.create ?? false);
    return ".";
  }

  /** lstat of `rel`, or undefined when it (or a parent) is missing. */
  lstat(rel: string): Deno.FileInfo | undefined {
    const name = ifExists(() => this.at(rel));
    if (name === undefined) return undefined;
    // Same synchronous turn as the walk: `name` is in the entered directory.
    return this.#nativeStat
      ? this.#nativeStat.lstat(name)
      : lstatOrUndefined(name);
  }

  /**
   * Opens the regular file `rel` for reading and checks that the open
   * handle is the file that was lstat'ed (a link swapped in between is
   * caught by its different inode).
   *
   * @throws {ContainmentError} when `rel` is not a regular file, or
   * changed between the check and the open.
   */
  openRead(rel: string): Deno.FsFile & ReadHandle {
    const name = this.at(rel);
    const before = Deno.lstatSync(name);
    if (!before.isFile) {
      throw new ContainmentError(rel, "is no longer a regular file");
    }
    const file = Deno.openSync(name, { read: true });
    let after: Deno.FileInfo;
    try {
      after = file.statSync();
    } catch (error) {
      file.close();
      throw error;
    }
    if (!after.isFile || fileIdentity(after) !== fileIdentity(before)) {
      file.close();
      throw new ContainmentError(rel, "was replaced while being opened");
    }
    return file;
  }

  /** The names in directory `rel`. */
  readDir(rel: string): string[] {
    const names: string[] = [];
    for (const item of Deno.readDirSync(this.dir(rel))) names.push(item.name);
    return names;
  }

  /** The target text of symlink `rel`. */
  readLink(rel: string): string {
    return Deno.readLinkSync(this.at(rel));
  }

  /** Creates the new file `rel` (O_EXCL: never through a link). */
  createFile(rel: string, mode: number): WriteHandle {
    const name = this.at(rel);
    return new WalkFile(
      Deno.openSync(name, { write: true, createNew: true, mode: mode & 0o777 }),
      this,
      rel,
    );
  }

  /** Opens the existing plain regular file `rel` to write, checked by its handle. */
  openWrite(rel: string): WriteHandle {
    const name = this.at(rel);
    const before = Deno.lstatSync(name);
    if (!before.isFile) {
      throw new ContainmentError(rel, "is no longer a regular file");
    }
    const file = Deno.openSync(name, { write: true });
    const after = file.statSync();
    if (
      !after.isFile || fileIdentity(after) !== fileIdentity(before) ||
      (after.nlink ?? 1) !== 1
    ) {
      file.close();
      throw new ContainmentError(rel, "was replaced while being opened");
    }
    return new WalkFile(file, this, rel);
  }

  /** Creates directory `rel` and missing parents. */
  mkdirs(rel: string): void {
    if (normalizeRelative(rel) === "") return;
    this.dir(rel, { create: true });
  }

  /** Renames within one directory walk each (names re-entered per call). */
  rename(from: string, to: string): void {
    const a = normalizeRelative(from);
    const b = normalizeRelative(to);
    const slashA = a.lastIndexOf("/");
    const slashB = b.lastIndexOf("/");
    if (a.slice(0, Math.max(0, slashA)) !== b.slice(0, Math.max(0, slashB))) {
      throw new TypeError("Renames stay within one directory");
    }
    const name = this.at(a);
    Deno.renameSync(name, b.slice(slashB + 1));
  }

  /** Removes the file, link or empty directory `rel`. */
  remove(rel: string): void {
    Deno.removeSync(this.at(rel));
  }

  /** Creates symlink `rel` (needs full permissions under Deno's sandbox). */
  symlink(target: string, rel: string): void {
    Deno.symlinkSync(target, this.at(rel));
  }

  /** Sets mode and mtime of directory `rel`, entered first ("." is never a link). */
  setDirAttrs(
    rel: string,
    attrs: { mode?: number; mtimeMs?: number; mtimeNs?: number },
  ): void {
    const name = this.dir(rel);
    if (attrs.mode !== undefined) Deno.chmodSync(name, attrs.mode & 0o7777);
    if (attrs.mtimeMs !== undefined) {
      setPathTimes(name, attrs.mtimeMs, attrs.mtimeNs);
    }
  }

  /** Sets symlink `rel`'s own times, in its checked parent (libc only). */
  setLinkTimes(rel: string, mtimeMs: number, mtimeNs?: number): void {
    setPathTimes(this.at(rel), mtimeMs, mtimeNs, true);
  }

  /** Nothing held: every call walks from the module path. */
  close(): void {}

  /** Re-checks the module and session directories still are the ones pinned. */
  verify(): void {
    cwdKey = "";
    this.#enter(this.base, false);
  }

  #join(rel: string): string {
    if (this.base === "") return rel;
    return rel === "" ? this.base : `${this.base}/${rel}`;
  }

  /** chdir into module-relative `rel`, one verified component at a time. */
  #enter(rel: string, create: boolean): void {
    const key = `${this.#moduleId}\0${rel}`;
    if (cwdKey === key) return;
    cwdKey = "";
    let top: Deno.FileInfo;
    try {
      top = Deno.lstatSync(this.modulePath);
    } catch {
      throw new ContainmentError("", "module directory is missing");
    }
    if (!top.isDirectory || fileIdentity(top) !== this.#moduleId) {
      throw new ContainmentError("", "module directory was replaced");
    }
    Deno.chdir(this.modulePath);
    if (fileIdentity(Deno.statSync(".")) !== this.#moduleId) {
      throw new ContainmentError("", "module directory was replaced");
    }
    const parts = rel === "" ? [] : rel.split("/");
    const baseDepth = this.base === "" ? 0 : this.base.split("/").length;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      let info = lstatOrUndefined(part);
      if (!info && create) {
        try {
          Deno.mkdirSync(part);
        } catch (error) {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
        info = Deno.lstatSync(part);
      }
      const shown = parts.slice(0, i + 1).join("/");
      if (!info) {
        throw new Deno.errors.NotFound(`No such directory: ${shown}`);
      }
      if (info.isSymlink) {
        throw new PathEscapeError(shown, "goes through a symlink");
      }
      if (!info.isDirectory) {
        throw new Deno.errors.NotADirectory(`Not a directory: ${shown}`);
      }
      Deno.chdir(part);
      const here = fileIdentity(Deno.statSync("."));
      if (here !== fileIdentity(info)) {
        throw new ContainmentError(shown, "changed while in use");
      }
      if (i + 1 === baseDepth && this.#baseId && here !== this.#baseId) {
        throw new ContainmentError(
          shown,
          "was replaced during the transfer",
        );
      }
    }
    remember(key);
  }
}

/** A file of the walk tree: chmod re-enters the parent and uses the name. */
class WalkFile extends PathFile {
  readonly #root: ContainedRoot;
  readonly #rel: string;
  #ident: string | undefined;

  constructor(file: Deno.FsFile, root: ContainedRoot, rel: string) {
    super(file, rel);
    this.#root = root;
    this.#rel = rel;
  }

  override chmodSync(mode: number): void {
    // Deno has no fchmod: the name is re-entered and checked to still be
    // this very file (not a link) in the same synchronous turn.
    this.#ident ??= fileIdentity(this.file.statSync());
    const name = this.#root.at(this.#rel);
    const info = Deno.lstatSync(name);
    if (!info.isFile || fileIdentity(info) !== this.#ident) {
      throw new ContainmentError(this.#rel, "was replaced while being written");
    }
    Deno.chmodSync(name, mode & 0o7777);
  }
}

export type { TreeRoot };

/**
 * Opens the regular file `rel` under `root` for reading (a local path, or
 * a tree that checks what it opens).
 *
 * @example
 * ```ts
 * import { openForRead } from "@blit/cli/internals";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${dir}/f`, "x");
 * const file = openForRead(dir, "f");
 * if (file.statSync().size !== 1) throw new Error();
 * file.close();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function openForRead(
  /** The directory's path. */
  root: TreeRoot,
  rel: string,
  options: ResolveOptions = {},
): ReadHandle {
  if (typeof root !== "string") return root.openRead(rel);
  return openLocalRead(resolveInside(root, rel, options));
}

/**
 * {@linkcode openForRead}, or undefined where `rel` can't be opened so
 * (missing, a link, another kind, not allowed).
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { openIfThere } from "./contained_root.ts";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * if (openIfThere(dir, "missing") !== undefined) throw new Error("example failed");
 * Deno.removeSync(dir);
 * ```
 */
export function openIfThere(
  root: TreeRoot,
  rel: string,
  options: ResolveOptions = {},
): ReadHandle | undefined {
  try {
    return openForRead(root, rel, options);
  } catch {
    return undefined;
  }
}
