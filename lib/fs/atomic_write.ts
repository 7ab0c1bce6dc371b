// The atomic write sink's primitives: temp name, then rename; nothing
// half-written ever sits under a final name.
import type { FileEntry } from "./entry.ts";
import {
  PathEscapeError,
  resolveInside,
  type ResolveOptions,
} from "./safe_path.ts";
import {
  type ContainedRoot,
  fileIdentity,
  lstatOrUndefined,
  pathAt,
  type TreeRoot,
} from "./contained_root.ts";

/** A non-directory can't replace a directory (or the reverse) here. */
export class EntryConflictError extends Error {
  /** Says which entry is in the way and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "EntryConflictError";
  }
}

/** A file body that did not match its declared size. */
export class SizeMismatchError extends Error {
  /** Says which file and by how much. */
  constructor(message: string) {
    super(message);
    this.name = "SizeMismatchError";
  }
}

const TEMP_PATTERN = /^\..*\.blit-(?:[0-9a-f]{12}|partial)\.tmp$/;
const PARTIAL_PATTERN = /^\..*\.blit-partial\.tmp$/;
const open = new Set<AtomicFile>();
/** Partial copies this process has open, by {@linkcode partialKey}. */
const partials = new Set<string>();

/**
 * Files at least this big are written under a name of their own
 * (`.NAME.blit-partial.tmp`) that outlives an interrupted transfer, so the
 * next one can resume it (see resume.ts); smaller ones are simply sent
 * again.
 */
export const RESUME_MIN_BYTES = 16 * 1024 * 1024;

/**
 * How long a daemon keeps an interrupted transfer's partial copy for a
 * rerun to resume; its start-up sweep removes older ones.
 */
export const PARTIAL_KEEP_MS = 24 * 60 * 60 * 1000;

/** Identifies the file `rel` of `root` across the roots of one process. */
function partialKey(root: TreeRoot, rel: string): string {
  if (typeof root === "string") return `${root}\0${rel}`;
  return `${root.modulePath}\0${
    root.base === "" ? rel : `${root.base}/${rel}`
  }`;
}

function splitPath(abs: string): { dir: string; base: string } {
  const slash = abs.lastIndexOf("/");
  if (slash < 0) return { dir: "", base: abs };
  return { dir: abs.slice(0, slash) || "/", base: abs.slice(slash + 1) };
}

// Temp names: a random per-thread prefix plus a counter, so the hot path
// makes no random-number call per file; createNew still refuses a clash.
const tempPrefix = Array.from(
  crypto.getRandomValues(new Uint8Array(3)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");
let tempCounter = 0;

function randomHex(): string {
  tempCounter = (tempCounter + 1) % 0x1000000;
  return tempPrefix + tempCounter.toString(16).padStart(6, "0");
}

/** A hidden sibling name; long names are cut so the temp name stays legal. */
function tempPathFor(abs: string): string {
  const { dir, base } = splitPath(abs);
  let short = base;
  while (new TextEncoder().encode(short).length > 200) {
    short = short.slice(0, -1);
  }
  const name = `.${short}.blit-${randomHex()}.tmp`;
  return dir === "" ? name : `${dir}/${name}`;
}

/**
 * The partial copy's name for a final path: the same for every transfer
 * of that file, so an interrupted one can be found again.
 */
function partialPathFor(abs: string): string {
  return tempPathFor(abs).replace(
    /blit-[0-9a-f]{12}\.tmp$/,
    "blit-partial.tmp",
  );
}

/**
 * The partial copy a transfer of `rel` left under `root`, for a next
 * synchronous call: its name (a path for a string root, a name in the
 * entered parent directory for a contained one) and its lstat; undefined
 * when there is none, it is not a plain regular file (a link, a hard link,
 * anything else is never resumed), or this process is writing it.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { findPartialCopy } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/.big.blit-partial.tmp`, "abc");
 * if (findPartialCopy(root, "big")?.info.size !== 3) throw new Error("example failed");
 * ```
 */
export function findPartialCopy(
  root: TreeRoot,
  rel: string,
): { name: string; info: Deno.FileInfo } | undefined {
  if (partials.has(partialKey(root, rel))) return undefined;
  let name: string;
  try {
    name = partialPathFor(pathAt(root, rel));
  } catch {
    return undefined; // no parent directory (or not a safe one): nothing kept
  }
  const info = lstatOrUndefined(name);
  if (!info?.isFile || (info.nlink ?? 1) !== 1) return undefined;
  return { name, info };
}

/**
 * The path for `rel`'s final name and, for a contained root, the temp
 * directory noted first (so a crash's leftovers are found).
 */
function placeForWrite(
  root: TreeRoot,
  rel: string,
  verified?: Set<string>,
): string {
  if (typeof root === "string") return resolveInside(root, rel, { verified });
  root.noteTemp(rel);
  return root.at(rel, { create: true });
}

function ensureParent(abs: string): void {
  const { dir } = splitPath(abs);
  if (dir === "") return; // a contained root's walk made the parent
  try {
    if (Deno.statSync(dir).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  Deno.mkdirSync(dir, { recursive: true });
}

function refuseDirectory(abs: string, rel: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(abs);
  } catch {
    return;
  }
  if (info.isDirectory) {
    throw new EntryConflictError(
      `Cannot replace directory ${
        JSON.stringify(rel)
      } with a file; delete it first or use --mirror`,
    );
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}

/**
 * A regular file being written under a temporary name in its final
 * directory; `commit` applies mode and mtime and renames it into place,
 * `abort` removes it. Sync I/O: per-file costs dominate for small files.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { AtomicFile } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const f = AtomicFile.open(root, { path: "a.txt", kind: "file", size: 2, mtimeMs: 0, mode: 0o644 });
 * f.write(new TextEncoder().encode("hi"));
 * f.commit();
 * if (!(Deno.readTextFileSync(`${root}/a.txt`) === "hi")) throw new Error("example failed");
 * ```
 */
export class AtomicFile {
  /** The entry being written (its mode and mtime are applied on commit). */
  readonly entry: FileEntry;
  readonly #root: TreeRoot;
  /** Absolute for a string root; names in the parent for a contained one. */
  readonly #finalPath: string;
  readonly #tempPath: string;
  /** Set for a partial copy (kept by `suspend`): its key in `partials`. */
  readonly #partial: string | undefined;
  #file: Deno.FsFile | undefined;
  #written = 0;

  private constructor(
    root: TreeRoot,
    entry: FileEntry,
    finalPath: string,
    tempPath: string,
    file: Deno.FsFile,
    partial?: string,
  ) {
    this.#root = root;
    this.entry = entry;
    this.#finalPath = finalPath;
    this.#tempPath = tempPath;
    this.#file = file;
    this.#partial = partial;
    if (partial) partials.add(partial);
  }

  /** Whether this is a partial copy an interrupted transfer keeps. */
  get resumable(): boolean {
    return this.#partial !== undefined;
  }

  /** The temp file's name (a sibling of the final name). */
  get tempName(): string {
    return splitPath(this.#tempPath).base;
  }

  /**
   * The temp and final paths for the next synchronous call: a contained
   * root re-enters the parent directory by its checked walk first.
   */
  #paths(): { temp: string; final: string } {
    if (typeof this.#root === "string") {
      return { temp: this.#tempPath, final: this.#finalPath };
    }
    const final = this.#root.at(this.entry.path);
    return { temp: this.#tempPath, final };
  }

  /**
   * Opens a temp file for `entry` under `root`, creating missing parents.
   * A file of {@linkcode RESUME_MIN_BYTES} or more becomes a partial copy
   * (`.NAME.blit-partial.tmp`, replacing an older one) that `suspend`
   * keeps for a later transfer to resume, unless this process is already
   * writing that file.
   *
   * @throws {PathEscapeError} when `entry.path` would leave `root`.
   * @throws {EntryConflictError} when a directory sits at the final path.
   */
  static open(
    root: TreeRoot,
    entry: FileEntry,
    options: ResolveOptions = {},
  ): AtomicFile {
    const finalPath = placeForWrite(root, entry.path, options.verified);
    refuseDirectory(finalPath, entry.path);
    ensureParent(finalPath);
    let partial = entry.size >= RESUME_MIN_BYTES
      ? partialKey(root, entry.path)
      : undefined;
    if (partial && partials.has(partial)) partial = undefined;
    let tempPath = partial ? partialPathFor(finalPath) : tempPathFor(finalPath);
    // createNew (O_EXCL) never follows a link planted under the temp name;
    // an older partial copy (unlinked, never followed) makes way.
    if (partial) removeQuietly(tempPath);
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(tempPath, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
    } catch (error) {
      if (!partial || !(error instanceof Deno.errors.AlreadyExists)) {
        throw error;
      }
      // Something that is not a file holds the partial name: not resumable.
      partial = undefined;
      tempPath = tempPathFor(finalPath);
      file = Deno.openSync(tempPath, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
    }
    const atomic = new AtomicFile(
      root,
      entry,
      finalPath,
      tempPath,
      file,
      partial,
    );
    open.add(atomic);
    return atomic;
  }

  /**
   * Reopens the partial copy of `entry` an interrupted transfer kept (see
   * {@linkcode findPartialCopy}), checked to be the very file that was
   * looked at (`identity`, from {@linkcode fileIdentity}), and cuts it to
   * the entry's size; `kept` of its bytes count as written. The caller
   * writes the rest with `writeAt` and commits as usual.
   *
   * @throws {ResumeError} when the partial copy is gone, was replaced, or
   * is being written by another transfer of this process.
   */
  static resume(
    root: TreeRoot,
    entry: FileEntry,
    identity: string,
    kept: number,
    options: ResolveOptions = {},
  ): AtomicFile {
    const key = partialKey(root, entry.path);
    if (partials.has(key)) {
      throw new ResumeError(entry.path, "is being written by another transfer");
    }
    const finalPath = placeForWrite(root, entry.path, options.verified);
    const tempPath = partialPathFor(finalPath);
    const before = lstatOrUndefined(tempPath);
    if (!before?.isFile || fileIdentity(before) !== identity) {
      throw new ResumeError(entry.path, "changed before it could be resumed");
    }
    // Opened without create or truncate, then checked by its handle: a
    // link swapped in after the lstat is caught before a byte is written.
    const file = Deno.openSync(tempPath, { write: true });
    try {
      const after = file.statSync();
      if (
        !after.isFile || fileIdentity(after) !== identity ||
        (after.nlink ?? 1) !== 1
      ) {
        throw new ResumeError(entry.path, "changed before it could be resumed");
      }
      file.truncateSync(entry.size);
    } catch (error) {
      file.close();
      throw error;
    }
    const atomic = new AtomicFile(root, entry, finalPath, tempPath, file, key);
    atomic.#written = kept;
    open.add(atomic);
    return atomic;
  }

  /** Bytes written so far. */
  get written(): number {
    return this.#written;
  }

  /**
   * Appends bytes.
   *
   * @throws {SizeMismatchError} when this would exceed the declared size.
   */
  write(chunk: Uint8Array): void {
    if (!this.#file) {
      throw new Error(`File ${this.entry.path} is already closed`);
    }
    if (this.#written + chunk.length > this.entry.size) {
      throw new SizeMismatchError(
        `File ${this.entry.path} got more than its declared ${this.entry.size} bytes`,
      );
    }
    let offset = 0;
    while (offset < chunk.length) {
      offset += this.#file.writeSync(chunk.subarray(offset));
    }
    this.#written += chunk.length;
  }

  /**
   * Writes `chunk` at `offset` (a range of a file arriving on parallel
   * streams; the caller checks ranges don't overlap).
   *
   * @throws {SizeMismatchError} when it would end past the declared size.
   */
  writeAt(chunk: Uint8Array, offset: number): void {
    if (!this.#file) {
      throw new Error(`File ${this.entry.path} is already closed`);
    }
    if (offset + chunk.length > this.entry.size) {
      throw new SizeMismatchError(
        `File ${this.entry.path} got bytes past its declared ${this.entry.size}`,
      );
    }
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < chunk.length) {
      done += this.#file.writeSync(chunk.subarray(done));
    }
    this.#written += chunk.length;
  }

  /**
   * Closes, applies mode and mtime, renames over the final name.
   *
   * @throws {SizeMismatchError} when fewer bytes than declared were written
   * (the temp file is removed).
   */
  commit(): void {
    if (!this.#file) {
      throw new Error(`File ${this.entry.path} is already closed`);
    }
    if (this.#written !== this.entry.size) {
      const written = this.#written;
      this.abort();
      throw new SizeMismatchError(
        `File ${this.entry.path} ended after ${written} of ${this.entry.size} bytes`,
      );
    }
    const seconds = this.entry.mtimeMs / 1000;
    try {
      // On the descriptor: a path could name something else by now.
      this.#file.utimeSync(seconds, seconds);
    } finally {
      this.#file.close();
      this.#file = undefined;
    }
    let paths: { temp: string; final: string } | undefined;
    try {
      paths = this.#paths();
      Deno.chmodSync(paths.temp, this.entry.mode & 0o7777);
      Deno.renameSync(paths.temp, paths.final);
    } catch (error) {
      if (paths) removeQuietly(paths.temp);
      throw error;
    } finally {
      this.#release();
    }
  }

  /** Closes and removes the temp file. Never throws. */
  abort(): void {
    this.#close();
    try {
      removeQuietly(this.#paths().temp);
    } catch {
      // The directory went away or was replaced: the sweep finds it.
    }
    this.#release();
  }

  /**
   * An interrupted transfer: a partial copy is closed and kept for the
   * next transfer of the file to resume (it checks every block it keeps);
   * any other temp file is removed. Returns whether the file was kept.
   * Never throws.
   */
  suspend(): boolean {
    if (!this.#partial) {
      this.abort();
      return false;
    }
    this.#close();
    this.#release();
    return true;
  }

  #close(): void {
    if (!this.#file) return;
    try {
      this.#file.close();
    } catch {
      // already closed
    }
    this.#file = undefined;
  }

  #release(): void {
    open.delete(this);
    if (this.#partial) partials.delete(this.#partial);
  }
}

/** A partial copy could not be resumed; the transfer can be run again. */
export class ResumeError extends Error {
  /** Names the file and what happened to its partial copy. */
  constructor(path: string, what: string) {
    super(`The partial copy of ${path} ${what}`);
    this.name = "ResumeError";
  }
}

/**
 * Aborts every file still open in this process (for SIGINT/SIGTERM);
 * with `keepPartials`, partial copies of big files are kept for a later
 * transfer to resume (see {@linkcode AtomicFile.suspend}). Returns how
 * many files were removed and how many kept.
 *
 * @example
 * ```ts
 * import { abortAllOpen } from "./atomic_write.ts";
 * if (abortAllOpen().removed !== 0) throw new Error("example failed");
 * ```
 */
export function abortAllOpen(
  options: { keepPartials?: boolean } = {},
): { removed: number; kept: number } {
  const counts = { removed: 0, kept: 0 };
  for (const file of [...open]) {
    if (options.keepPartials && file.suspend()) counts.kept++;
    else {
      file.abort();
      counts.removed++;
    }
  }
  return counts;
}

/**
 * Writes a whole small file at once: temp file, mode, mtime, rename.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * writeFileAtomic(root, { path: "d/a", kind: "file", size: 1, mtimeMs: 0, mode: 0o600 }, new Uint8Array(1));
 * if (!(Deno.statSync(`${root}/d/a`).size === 1)) throw new Error("example failed");
 * ```
 * @throws {SizeMismatchError} when `data.length !== entry.size`.
 */
export function writeFileAtomic(
  root: TreeRoot,
  entry: FileEntry,
  data: Uint8Array,
  options: ResolveOptions = {},
): void {
  if (data.length !== entry.size) {
    throw new SizeMismatchError(
      `File ${entry.path} has ${data.length} bytes, declared ${entry.size}`,
    );
  }
  const finalPath = placeForWrite(root, entry.path, options.verified);
  const tmp = tempPathFor(finalPath);
  try {
    writeTemp(tmp, finalPath, entry, data);
    renameOrConflict(tmp, finalPath, entry.path);
  } catch (error) {
    removeQuietly(tmp);
    throw error;
  }
}

/**
 * Copies a local file into place with the kernel's copy_file_range
 * (`Deno.copyFileSync`), then applies mode and mtime and renames.
 *
 * Permissions: read on `srcAbs`, read and write on `root`.
 *
 * @example
 * ```ts
 * import { copyFileAtomic } from "./atomic_write.ts";
 * const src = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(src, "abc");
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * copyFileAtomic(src, root, { path: "c", kind: "file", size: 3, mtimeMs: 0, mode: 0o644 });
 * if (!(Deno.readTextFileSync(`${root}/c`) === "abc")) throw new Error("example failed");
 * ```
 */
export function copyFileAtomic(
  srcAbs: string,
  root: string,
  entry: FileEntry,
  options: ResolveOptions = {},
): void {
  const finalPath = resolveInside(root, entry.path, options);
  const tmp = tempPathFor(finalPath);
  try {
    if (entry.size <= SMALL_COPY) copySmall(srcAbs, tmp, finalPath, entry);
    else {
      try {
        Deno.copyFileSync(srcAbs, tmp);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // Parent missing (cheaper to find out this way than to stat first).
        ensureParent(finalPath);
        Deno.copyFileSync(srcAbs, tmp);
      }
      // copyFile already carried the source's permission bits over.
      const seconds = entry.mtimeMs / 1000;
      Deno.utimeSync(tmp, seconds, seconds);
    }
    renameOrConflict(tmp, finalPath, entry.path);
  } catch (error) {
    removeQuietly(tmp);
    throw error;
  }
}

/** Files up to this size are copied through one reused buffer. */
const SMALL_COPY = 1 << 20;
let copyBuffer: Uint8Array | undefined;
let processUmask: number | undefined;

function umask(): number {
  if (processUmask === undefined) {
    try {
      processUmask = Deno.umask();
    } catch {
      processUmask = 0o7777; // unknown: always chmod
    }
  }
  return processUmask;
}

/**
 * Small files: read into a reused buffer, write a new temp file, set its
 * mtime on the open descriptor. Fewer syscalls than copy_file_range's
 * set-up for a few KiB, which is what dominates trees of small files.
 */
function copySmall(
  srcAbs: string,
  tmp: string,
  finalPath: string,
  entry: FileEntry,
): void {
  copyBuffer ??= new Uint8Array(SMALL_COPY + 1);
  const source = Deno.openSync(srcAbs, { read: true });
  let n = 0;
  try {
    for (;;) {
      const r = source.readSync(copyBuffer.subarray(n));
      if (r === null || r === 0) break;
      n += r;
      // A regular file's read comes back short only at its end: when the
      // declared size arrived with room to spare, skip the EOF read.
      if (n === entry.size && r < copyBuffer.length - (n - r)) break;
      if (n > SMALL_COPY) break;
    }
  } finally {
    source.close();
  }
  if (n > SMALL_COPY) {
    // It grew past the small-file size since we looked: let the kernel copy it.
    Deno.copyFileSync(srcAbs, tmp);
    const seconds = entry.mtimeMs / 1000;
    Deno.utimeSync(tmp, seconds, seconds);
    Deno.chmodSync(tmp, entry.mode & 0o7777);
    return;
  }
  writeTemp(tmp, finalPath, entry, copyBuffer.subarray(0, n));
}

/**
 * Writes `data` to a new temp file with the entry's mode and mtime (set on
 * the open descriptor), creating the parent directory if it is missing.
 */
function writeTemp(
  tmp: string,
  finalPath: string,
  entry: FileEntry,
  data: Uint8Array,
): void {
  const mode = entry.mode & 0o7777;
  let target: Deno.FsFile;
  try {
    target = Deno.openSync(tmp, { write: true, createNew: true, mode });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    // Parent missing: cheaper to find out this way than to stat first.
    ensureParent(finalPath);
    target = Deno.openSync(tmp, { write: true, createNew: true, mode });
  }
  try {
    let off = 0;
    while (off < data.length) off += target.writeSync(data.subarray(off));
    const seconds = entry.mtimeMs / 1000;
    target.utimeSync(seconds, seconds);
  } finally {
    target.close();
  }
  // open() applies the umask; fix the bits only when it took some away.
  if ((mode & umask()) !== 0) Deno.chmodSync(tmp, mode);
}

function renameOrConflict(tmp: string, finalPath: string, rel: string): void {
  try {
    Deno.renameSync(tmp, finalPath);
  } catch (error) {
    if (
      error instanceof Deno.errors.IsADirectory ||
      Deno.statSync(finalPath).isDirectory
    ) {
      throw new EntryConflictError(
        `Cannot replace directory ${
          JSON.stringify(rel)
        } with a file; delete it first or use --mirror`,
      );
    }
    throw error;
  }
}

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
 * import { applyDir } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * applyDir(root, { path: "x/y", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 });
 * if (!(Deno.statSync(`${root}/x/y`).isDirectory)) throw new Error("example failed");
 * ```
 */
export function applyDir(root: TreeRoot, entry: FileEntry): boolean {
  const abs = pathAt(root, entry.path, { create: true });
  let info: Deno.FileInfo | undefined;
  try {
    info = Deno.lstatSync(abs);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (info && !info.isDirectory) {
    Deno.removeSync(abs);
    info = undefined;
  }
  if (!info) Deno.mkdirSync(abs, { recursive: true });
  const mode = (entry.mode & 0o7777) | 0o700;
  if (!info || ((info.mode ?? 0) & 0o7777) !== mode) Deno.chmodSync(abs, mode);
  return info === undefined;
}

/**
 * Creates a symlink under a temp name, then renames it over the final
 * name, so an existing link is replaced and never followed.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { applySymlink } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * applySymlink(root, { path: "l", kind: "symlink", size: 1, mtimeMs: 0, mode: 0o777, linkTarget: "t" });
 * if (!(Deno.readLinkSync(`${root}/l`) === "t")) throw new Error("example failed");
 * ```
 * @throws {EntryConflictError} when a directory sits at the final path.
 */
export function applySymlink(root: TreeRoot, entry: FileEntry): void {
  if (entry.linkTarget === undefined) {
    throw new TypeError(`Symlink ${entry.path} has no target`);
  }
  const abs = placeForWrite(root, entry.path);
  refuseDirectory(abs, entry.path);
  ensureParent(abs);
  const tmp = tempPathFor(abs);
  try {
    Deno.symlinkSync(entry.linkTarget, tmp);
    Deno.renameSync(tmp, abs);
  } catch (error) {
    removeQuietly(tmp);
    throw error;
  }
}

/**
 * Applies final modes and mtimes to directories, deepest first, after
 * their contents were written (writing into a directory changes its
 * mtime). Missing directories are skipped.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { setDirTimes } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${root}/d`);
 * setDirTimes(root, [{ path: "d", kind: "dir", size: 0, mtimeMs: 1000, mode: 0o755 }]);
 * if (!(Deno.statSync(`${root}/d`).mtime!.getTime() === 1000)) throw new Error("example failed");
 * ```
 */
export function setDirTimes(
  root: TreeRoot,
  dirs: readonly FileEntry[],
): void {
  const sorted = [...dirs].sort((a, b) => depth(b.path) - depth(a.path));
  for (const dir of sorted) {
    try {
      // A contained root enters the directory itself: "." is never a link.
      const abs = typeof root === "string"
        ? resolveInside(root, dir.path)
        : root.dir(dir.path);
      Deno.chmodSync(abs, dir.mode & 0o7777);
      const seconds = dir.mtimeMs / 1000;
      Deno.utimeSync(abs, seconds, seconds);
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound) &&
        !(error instanceof Deno.errors.NotADirectory) &&
        !(error instanceof PathEscapeError)
      ) throw error;
    }
  }
}

/** Options for {@linkcode sweepTemps}. */
export interface SweepOptions {
  /**
   * Partial copies (see {@linkcode RESUME_MIN_BYTES}) changed within this
   * many milliseconds are kept for a rerun to resume. Default: 0 (every
   * temp file goes).
   */
  keepPartialsMs?: number;
  /** Told each directory where a partial copy was kept. */
  onKept?: (dir: string) => void;
}

/**
 * Removes our temp files from the given module-relative directories of a
 * contained root (a crashed or failed session's leftovers), except those
 * this process is still writing and recent partial copies when asked to
 * keep them; directories that are gone or became links are skipped.
 * Returns how many were removed.
 *
 * @example
 * ```ts
 * import { sweepTemps } from "./atomic_write.ts";
 * import { ContainedRoot } from "./contained_root.ts";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${dir}/.a.blit-0123456789ab.tmp`, "");
 * const cwd = Deno.cwd();
 * const removed = sweepTemps(new ContainedRoot(dir), [""]);
 * Deno.chdir(cwd);
 * if (removed !== 1) throw new Error(`removed ${removed}`);
 * ```
 */
export function sweepTemps(
  root: ContainedRoot,
  dirs: Iterable<string>,
  options: SweepOptions = {},
): number {
  const keepMs = options.keepPartialsMs ?? 0;
  let removed = 0;
  for (const dir of dirs) {
    try {
      const names: string[] = [];
      // Files still being written by a live transfer are left alone.
      const busy = new Set([...open].map((file) => file.tempName));
      for (const item of Deno.readDirSync(root.dir(dir))) {
        if (TEMP_PATTERN.test(item.name) && !busy.has(item.name)) {
          names.push(item.name);
        }
      }
      // Still inside `dir`: readDir left the working directory there.
      const now = Date.now();
      let kept = false;
      for (const name of names) {
        if (keepMs > 0 && PARTIAL_PATTERN.test(name)) {
          const info = lstatOrUndefined(name);
          const age = now - (info?.mtime?.getTime() ?? 0);
          if (info?.isFile && age < keepMs) {
            kept = true;
            continue;
          }
        }
        removeQuietly(name);
        removed++;
      }
      if (kept) options.onKept?.(dir);
    } catch {
      // gone, or no longer a plain directory: nothing of ours to reach
    }
  }
  return removed;
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * Removes leftover temp files (`.NAME.blit-XXXXXXXXXXXX.tmp`, and partial
 * copies `.NAME.blit-partial.tmp`) under `root`,
 * visiting at most `maxEntries` entries. Returns how many were removed.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { cleanupTemps } from "./atomic_write.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/.a.blit-0123456789ab.tmp`, "");
 * if (!(cleanupTemps(root) === 1)) throw new Error("example failed");
 * ```
 */
export function cleanupTemps(
  root: string,
  options: { maxEntries?: number } = {},
): number {
  const maxEntries = options.maxEntries ?? 1_000_000;
  const stack = [root];
  let visited = 0;
  let removed = 0;
  while (stack.length > 0 && visited < maxEntries) {
    const dir = stack.pop()!;
    let items: Deno.DirEntry[];
    try {
      items = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const item of items) {
      visited++;
      const abs = `${dir}/${item.name}`;
      if (item.isDirectory) stack.push(abs);
      else if (TEMP_PATTERN.test(item.name)) {
        removeQuietly(abs);
        removed++;
      }
    }
  }
  return removed;
}

/**
 * Whether a name is one of our temp files (listings hide them).
 *
 * @example
 * ```ts
 * import { isTempName } from "./atomic_write.ts";
 * if (!(isTempName(".a.blit-0123456789ab.tmp") && isTempName(".a.blit-partial.tmp") && !isTempName("a"))) throw new Error("example failed");
 * ```
 */
export function isTempName(name: string): boolean {
  return TEMP_PATTERN.test(name);
}
