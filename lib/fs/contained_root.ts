// Containment for the daemon: every filesystem call made for a client is
// pinned to a directory verified by identity, never to a path string.
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
import type { NativeStat } from "./native_stat.ts";
import {
  normalizeRelative,
  PathEscapeError,
  resolveInside,
  type ResolveOptions,
} from "./safe_path.ts";

/**
 * A directory on the session's path changed identity while in use (it was
 * replaced, or became a symlink), or an opened file is not the one checked.
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

/** What {@linkcode ContainedRoot.removeTree} removed. */
export interface RemovedCounts {
  /** Files and symlinks. */
  files: number;
  /** Directories. */
  dirs: number;
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
 * Which file an lstat or fstat saw: dev:ino, plus the birth time where
 * the filesystem keeps one (a file deleted and made again often gets the
 * same inode number back).
 *
 * @example
 * ```ts
 * import { fileIdentity } from "./contained_root.ts";
 * const f = Deno.makeTempFileSync();
 * if (fileIdentity(Deno.lstatSync(f)) !== fileIdentity(Deno.statSync(f))) throw new Error();
 * ```
 */
export function fileIdentity(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}:${info.birthtime?.getTime() ?? ""}`;
}

/**
 * lstat that answers undefined for a missing path (or one under a file,
 * where a directory should be).
 *
 * @example
 * ```ts
 * import { lstatOrUndefined } from "./contained_root.ts";
 * if (lstatOrUndefined("/definitely/not/here") !== undefined) throw new Error("example failed");
 * ```
 */
export function lstatOrUndefined(name: string): Deno.FileInfo | undefined {
  return ifExists(() => Deno.lstatSync(name));
}

/** `fn()`, or undefined when it finds a path missing (or a file in the way). */
function ifExists<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (
      error instanceof Deno.errors.NotFound ||
      error instanceof Deno.errors.NotADirectory
    ) return undefined;
    throw error;
  }
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
 * import { ContainedRoot } from "./contained_root.ts";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * const root = new ContainedRoot(dir);
 * const before = Deno.cwd();
 * Deno.writeTextFileSync(root.at("a/b.txt", { create: true }), "hi");
 * Deno.chdir(before);
 * if (Deno.readTextFileSync(`${dir}/a/b.txt`) !== "hi") throw new Error();
 * ```
 */
export class ContainedRoot {
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
  pin(options: ContainedOptions = {}): Deno.FileInfo {
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
  openRead(rel: string): Deno.FsFile {
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

  /**
   * Removes `rel` without following any symlink: a file or link is
   * unlinked, a directory emptied depth-first and removed. Missing is not
   * an error. `rel` `""` empties the session directory and keeps it.
   */
  removeTree(
    rel: string,
    counts: RemovedCounts = { files: 0, dirs: 0 },
    options: {
      dryRun?: boolean;
      /** Told the session-relative path of each file or link removed. */
      onFile?: (rel: string) => void;
    } = {},
  ): RemovedCounts {
    const dryRun = options.dryRun ?? false;
    const normal = normalizeRelative(rel);
    if (normal !== "") {
      const name = this.at(normal);
      const info = lstatOrUndefined(name);
      if (!info) return counts;
      if (!info.isDirectory) {
        if (!dryRun) Deno.removeSync(name);
        counts.files++;
        options.onFile?.(normal);
        return counts;
      }
    }
    // Post-order over an explicit stack: every directory is entered by the
    // checked walk, so a directory swapped for a link mid-way is refused.
    const stack: { rel: string; expanded: boolean }[] = [
      { rel: normal, expanded: false },
    ];
    for (let guard = 0; stack.length > 0 && guard < 100_000_000; guard++) {
      const top = stack[stack.length - 1];
      if (top.expanded) {
        stack.pop();
        if (top.rel === "") continue;
        if (!dryRun) Deno.removeSync(this.at(top.rel));
        counts.dirs++;
        continue;
      }
      top.expanded = true;
      const names: string[] = [];
      for (const item of Deno.readDirSync(this.dir(top.rel))) {
        names.push(item.name);
      }
      for (const name of names) {
        const child = top.rel === "" ? name : `${top.rel}/${name}`;
        // Still in top.rel: readDir left the working directory there.
        const info = lstatOrUndefined(name);
        if (!info) continue;
        if (info.isDirectory) stack.push({ rel: child, expanded: false });
        else {
          if (!dryRun) Deno.removeSync(name);
          counts.files++;
          options.onFile?.(child);
        }
      }
    }
    return counts;
  }

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

/** Where a tree lives: an absolute path (trusted, local) or a contained root. */
export type TreeRoot = string | ContainedRoot;

/**
 * A path for `rel` under `root`, valid for the next synchronous call: an
 * absolute path for a string root, a name in the entered parent directory
 * for a contained one.
 *
 * @example
 * ```ts
 * import { pathAt } from "./contained_root.ts";
 * if (pathAt("/srv", "a/b") !== "/srv/a/b") throw new Error();
 * ```
 */
export function pathAt(
  root: TreeRoot,
  rel: string,
  options: ContainedOptions & ResolveOptions = {},
): string {
  if (typeof root !== "string") return root.at(rel, options);
  return resolveInside(root, rel, options);
}

/**
 * Opens the regular file `rel` under `root` for reading; for a contained
 * root the handle is checked to be the file that was looked at.
 *
 * @example
 * ```ts
 * import { openForRead } from "./contained_root.ts";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${dir}/f`, "x");
 * using file = openForRead(dir, "f");
 * if (file.statSync().size !== 1) throw new Error();
 * ```
 */
export function openForRead(
  root: TreeRoot,
  rel: string,
  options: ResolveOptions = {},
): Deno.FsFile {
  if (typeof root !== "string") return root.openRead(rel);
  return Deno.openSync(resolveInside(root, rel, options), { read: true });
}
