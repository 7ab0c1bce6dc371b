// The atomic write sink's primitives: temp name, then rename; nothing
// half-written ever sits under a final name. Every call goes through a
// Tree (see tree.ts): single names under a checked directory, never a
// path string, and modes and times set on the open file.
import type { FileEntry } from "./entry.ts";
import {
  normalizeRelative,
  PathEscapeError,
  resolveInside,
  type ResolveOptions,
} from "./safe_path.ts";
import { treeOf } from "./path_tree.ts";
import { ERRNO, SyscallError } from "./_libc.ts";
import {
  ContainmentError,
  fileIdentity,
  joinRel,
  splitRel,
  type Tree,
  type WriteHandle,
} from "./tree.ts";

/** Where a tree lives: a local path (the user's own) or a tree. */
export type TreeRoot = string | Tree;

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

/** A partial copy could not be resumed; the transfer can be run again. */
export class ResumeError extends Error {
  /** Names the file and what happened to its partial copy. */
  constructor(path: string, what: string) {
    super(`The partial copy of ${path} ${what}`);
    this.name = "ResumeError";
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

// Temp names: a random per-thread prefix plus a counter, so the hot path
// makes no random-number call per file; O_EXCL still refuses a clash.
const tempPrefix = Array.from(
  crypto.getRandomValues(new Uint8Array(3)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");
let tempCounter = 0;

function randomHex(): string {
  tempCounter = (tempCounter + 1) % 0x1000000;
  return tempPrefix + tempCounter.toString(16).padStart(6, "0");
}

const utf8 = new TextEncoder();
/** Longest part of a final name kept in a temp name, in UTF-8 bytes. */
const TEMP_NAME_BYTES = 200;

/** `name` cut to at most `bytes` UTF-8 bytes (never inside a character). */
function cutName(name: string, bytes: number): string {
  if (name.length * 3 <= bytes) return name;
  let short = name;
  while (utf8.encode(short).length > bytes) {
    short = Array.from(short).slice(0, -1).join("");
  }
  return short;
}

/** FNV-1a, 64 bits, as 16 hex digits: tells long names apart in a temp name. */
function nameDigest(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of utf8.encode(name)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

/** A hidden sibling name for `name`; long names are cut so it stays legal. */
function tempNameFor(name: string): string {
  return `.${cutName(name, TEMP_NAME_BYTES)}.blit-${randomHex()}.tmp`;
}

/**
 * The partial copy's name for a final name: the same for every transfer
 * of that file, so an interrupted one can be found again. A name too long
 * to fit whole gets a digest of the full name, so two long names never
 * share one.
 *
 * @example
 * ```ts
 * import { partialNameFor } from "./atomic_write.ts";
 * if (partialNameFor("big") !== ".big.blit-partial.tmp") throw new Error("example failed");
 * const a = partialNameFor("x".repeat(201) + "a"), b = partialNameFor("x".repeat(201) + "b");
 * if (a === b) throw new Error("example failed");
 * ```
 */
export function partialNameFor(name: string): string {
  const whole = name.length * 3 <= TEMP_NAME_BYTES ||
    utf8.encode(name).length <= TEMP_NAME_BYTES;
  if (whole) return `.${name}.blit-partial.tmp`;
  return `.${cutName(name, 150)}~${nameDigest(name)}.blit-partial.tmp`;
}

/**
 * Identifies the partial copy of `rel` across the trees of one process:
 * the parent directory's identity and the partial name, so two names can
 * never share one, whichever session or root they came through.
 */
function partialKey(tree: Tree, rel: string): string | undefined {
  const { dir, name } = splitRel(rel);
  const info = tree.lstat(dir);
  if (!info?.isDirectory) return undefined;
  return `${fileIdentity(info)}\0${partialNameFor(name)}`;
}

/** A partial copy found by {@linkcode findPartialCopy}. */
export interface FoundPartial {
  /** The partial copy's name, relative to the tree. */
  rel: string;
  /** Its status (a plain regular file with one link). */
  info: Deno.FileInfo;
}

/**
 * The partial copy a transfer of `rel` left under `root`, and its lstat;
 * undefined when there is none, it is not a plain regular file (a link, a
 * hard link, anything else is never resumed), or this process is writing
 * it.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { findPartialCopy } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/.big.blit-partial.tmp`, "abc");
 * if (findPartialCopy(root, "big")?.info.size !== 3) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function findPartialCopy(
  root: TreeRoot,
  rel: string,
): FoundPartial | undefined {
  const tree = treeOf(root);
  let normal: string;
  let key: string | undefined;
  try {
    normal = normalizeRelative(rel);
    key = partialKey(tree, normal);
  } catch {
    return undefined; // no parent directory (or not a safe one): nothing kept
  }
  if (key === undefined || partials.has(key)) return undefined;
  const { dir, name } = splitRel(normal);
  const partialRel = joinRel(dir, partialNameFor(name));
  let info: Deno.FileInfo | undefined;
  try {
    info = tree.lstat(partialRel);
  } catch {
    return undefined;
  }
  if (!info?.isFile || (info.nlink ?? 1) !== 1) return undefined;
  return { rel: partialRel, info };
}

function conflict(rel: string): EntryConflictError {
  return new EntryConflictError(
    `Cannot replace directory ${
      JSON.stringify(rel)
    } with a file; delete it first or use --mirror`,
  );
}

function refuseDirectory(tree: Tree, rel: string): void {
  if (tree.lstat(rel)?.isDirectory) throw conflict(rel);
}

function removeQuietly(tree: Tree, rel: string): void {
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
function createIn(tree: Tree, rel: string, mode: number): WriteHandle {
  try {
    return tree.createFile(rel, mode);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    tree.mkdirs(splitRel(rel).dir);
    return tree.createFile(rel, mode);
  }
}

function writeAll(handle: WriteHandle, data: Uint8Array): void {
  let off = 0;
  // Bounded: every turn writes at least one byte or throws.
  while (off < data.length) {
    const n = handle.writeSync(data.subarray(off));
    if (n <= 0) throw new Error("A write made no progress");
    off += n;
  }
}

/** Merges [start, end) into sorted, disjoint `ranges`. */
function addRange(ranges: [number, number][], start: number, end: number) {
  if (end <= start) return;
  ranges.push([start, end]);
  ranges.sort((a, b) => a[0] - b[0]);
  let w = 0;
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] <= ranges[w][1]) {
      ranges[w][1] = Math.max(ranges[w][1], ranges[i][1]);
    } else ranges[++w] = ranges[i];
  }
  ranges.length = w + 1;
}

/**
 * A regular file being written under a temporary name in its final
 * directory; `commit` applies mode and mtime on the open file and renames
 * it into place, `abort` removes it. Sync I/O: per-file costs dominate
 * for small files.
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
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class AtomicFile {
  /** The entry being written (its mode and mtime are applied on commit). */
  readonly entry: FileEntry;
  readonly #tree: Tree;
  /** The final name, relative to the tree (normalized). */
  readonly #rel: string;
  /** The temp name, relative to the tree. */
  readonly #tempRel: string;
  /** Set for a partial copy (kept by `suspend`): its key in `partials`. */
  readonly #partial: string | undefined;
  #file: WriteHandle | undefined;
  #written = 0;
  /** Byte ranges written (or kept from a resumed copy), merged. */
  readonly #ranges: [number, number][] = [];

  private constructor(
    tree: Tree,
    entry: FileEntry,
    rel: string,
    tempRel: string,
    file: WriteHandle,
    partial?: string,
  ) {
    this.#tree = tree;
    this.entry = entry;
    this.#rel = rel;
    this.#tempRel = tempRel;
    this.#file = file;
    this.#partial = partial;
    if (partial) partials.add(partial);
    open.add(this);
  }

  /** Whether this is a partial copy an interrupted transfer keeps. */
  get resumable(): boolean {
    return this.#partial !== undefined;
  }

  /** The temp file's name (a sibling of the final name). */
  get tempName(): string {
    return splitRel(this.#tempRel).name;
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
    const tree = treeOf(root, options);
    const rel = normalizeRelative(entry.path);
    if (rel === "") throw new PathEscapeError(entry.path, "names no file");
    tree.noteTemp(rel);
    refuseDirectory(tree, rel);
    const { dir, name } = splitRel(rel);
    if (entry.size >= RESUME_MIN_BYTES) {
      tree.mkdirs(dir);
      const key = partialKey(tree, rel);
      if (key !== undefined && !partials.has(key)) {
        const tempRel = joinRel(dir, partialNameFor(name));
        // O_EXCL never follows a link planted under the partial name; an
        // older partial copy (unlinked, never followed) makes way.
        removeQuietly(tree, tempRel);
        try {
          const file = tree.createFile(tempRel, 0o600);
          return new AtomicFile(tree, entry, rel, tempRel, file, key);
        } catch (error) {
          // Something that is not a file holds the partial name (a
          // directory, say): not resumable, written under a random name.
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        }
      }
    }
    const tempRel = joinRel(dir, tempNameFor(name));
    const file = createIn(tree, tempRel, 0o600);
    return new AtomicFile(tree, entry, rel, tempRel, file);
  }

  /**
   * Reopens the partial copy of `entry` an interrupted transfer kept (see
   * {@linkcode findPartialCopy}), checked to be the very file that was
   * looked at (`identity`, from `fileIdentity`), and cut to the entry's
   * size if longer (never extended: only what arrives makes it longer).
   * The byte ranges in `kept` count as written; the caller writes the
   * rest with `writeAt` and commits as usual.
   *
   * @throws {ResumeError} when the partial copy is gone, was replaced, or
   * is being written by another transfer of this process.
   */
  static resume(
    root: TreeRoot,
    entry: FileEntry,
    identity: string,
    kept: readonly { offset: number; length: number }[],
    options: ResolveOptions = {},
  ): AtomicFile {
    const tree = treeOf(root, options);
    const rel = normalizeRelative(entry.path);
    const key = partialKey(tree, rel);
    if (key === undefined || partials.has(key)) {
      throw new ResumeError(entry.path, "is being written by another transfer");
    }
    const { dir, name } = splitRel(rel);
    const tempRel = joinRel(dir, partialNameFor(name));
    tree.noteTemp(rel);
    // Opened without create or truncate, refusing a link, FIFO or hard
    // link, then checked by its handle to be the file that was hashed.
    let file: WriteHandle;
    try {
      file = tree.openWrite(tempRel);
    } catch {
      throw new ResumeError(entry.path, "changed before it could be resumed");
    }
    try {
      const info = file.statSync();
      if (!info.isFile || fileIdentity(info) !== identity) {
        throw new ResumeError(entry.path, "changed before it could be resumed");
      }
      if (info.size > entry.size) file.truncateSync(entry.size);
    } catch (error) {
      file.close();
      throw error;
    }
    const atomic = new AtomicFile(tree, entry, rel, tempRel, file, key);
    for (const run of kept) {
      addRange(atomic.#ranges, run.offset, run.offset + run.length);
      atomic.#written += run.length;
    }
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
    writeAll(this.#file, chunk);
    if (this.#partial) {
      addRange(this.#ranges, this.#written, this.#written + chunk.length);
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
    writeAll(this.#file, chunk);
    addRange(this.#ranges, offset, offset + chunk.length);
    this.#written += chunk.length;
  }

  /**
   * Applies mode and mtime on the open file, closes it, renames it over
   * the final name.
   *
   * @throws {SizeMismatchError} when fewer bytes than declared were written
   * (the temp file is removed).
   * @throws {EntryConflictError} when a directory took the final name.
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
    try {
      // On the descriptor: a name could point at something else by now.
      this.#file.chmodSync(this.entry.mode & 0o7777);
      this.#file.utimeSync(this.entry.mtimeMs);
      const ours = inode(this.#file.statSync());
      this.#file.close();
      this.#file = undefined;
      // A local user may have put something else (a link out, say) under
      // the temp name: it is never followed, and never renamed into place.
      const temp = this.#tree.lstat(this.#tempRel);
      if (!temp?.isFile || inode(temp) !== ours) {
        throw new ContainmentError(
          this.entry.path,
          "was replaced while being written",
        );
      }
      renameInto(this.#tree, this.#tempRel, this.#rel);
      const landed = this.#tree.lstat(this.#rel);
      if (!landed?.isFile || inode(landed) !== ours) {
        // Swapped between the check and the rename: what landed is not
        // ours, so it goes (a name is unlinked, never followed).
        removeQuietly(this.#tree, this.#rel);
        throw new ContainmentError(
          this.entry.path,
          "was replaced while being written",
        );
      }
    } catch (error) {
      this.#close();
      removeQuietly(this.#tree, this.#tempRel);
      throw error;
    } finally {
      this.#release();
    }
  }

  /** Closes and removes the temp file. Never throws. */
  abort(): void {
    this.#close();
    removeQuietly(this.#tree, this.#tempRel);
    this.#release();
  }

  /**
   * An interrupted transfer: a partial copy is cut after the last byte
   * that arrived (it is never longer than what was received), closed and
   * kept for the next transfer to resume (which checks every block it
   * keeps); any other temp file is removed. Returns whether the file was
   * kept. Never throws.
   */
  suspend(): boolean {
    if (!this.#partial || !this.#file) {
      this.abort();
      return false;
    }
    // Cut after the last byte that arrived: a copy is never longer than
    // what was received (a sparse tail a local user left goes too). Gaps
    // between ranges from parallel streams stay holes, which a resume
    // offer never counts (see resume.ts).
    const last = this.#ranges[this.#ranges.length - 1];
    const end = last ? last[1] : 0;
    try {
      this.#file.truncateSync(end);
    } catch {
      this.abort();
      return false;
    }
    this.#close();
    this.#release();
    if (end === 0) {
      removeQuietly(this.#tree, this.#tempRel);
      return false;
    }
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

/** dev:ino: which inode a status describes (how it was reached aside). */
function inode(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}`;
}

/** Renames a finished temp file over `rel`; a directory there is a conflict. */
function renameInto(tree: Tree, tempRel: string, rel: string): void {
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
      if (open.has(file)) file.abort();
      counts.removed++;
    }
  }
  return counts;
}

/**
 * Writes a whole small file at once: temp file, mode and mtime on the
 * open file, rename.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { writeFileAtomic } from "./atomic_write.ts";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * writeFileAtomic(root, { path: "d/a", kind: "file", size: 1, mtimeMs: 0, mode: 0o600 }, new Uint8Array(1));
 * if (!(Deno.statSync(`${root}/d/a`).size === 1)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
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
  const tree = treeOf(root, options);
  const rel = normalizeRelative(entry.path);
  if (rel === "") throw new PathEscapeError(entry.path, "names no file");
  tree.noteTemp(rel);
  const { dir, name } = splitRel(rel);
  const tempRel = joinRel(dir, tempNameFor(name));
  const mode = entry.mode & 0o7777;
  const file = createIn(tree, tempRel, mode & 0o777);
  try {
    try {
      writeAll(file, data);
      // open() applies the umask and never sets special bits: fix the
      // bits on the descriptor only when something was taken away.
      if ((mode & ~0o777) !== 0 || (mode & umask()) !== 0) file.chmodSync(mode);
      file.utimeSync(entry.mtimeMs);
    } finally {
      file.close();
    }
    renameInto(tree, tempRel, rel);
  } catch (error) {
    removeQuietly(tree, tempRel);
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
  const tmp = localTempPath(finalPath);
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
    removePath(tmp);
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

// Local copies (client side, the user's own tree): path helpers.

function localTempPath(abs: string): string {
  const slash = abs.lastIndexOf("/");
  return `${abs.slice(0, slash + 1)}${tempNameFor(abs.slice(slash + 1))}`;
}

function ensureParent(abs: string): void {
  const dir = abs.slice(0, abs.lastIndexOf("/")) || "/";
  try {
    if (Deno.statSync(dir).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  Deno.mkdirSync(dir, { recursive: true });
}

function removePath(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // already gone
  }
}

function renameOrConflict(tmp: string, finalPath: string, rel: string): void {
  try {
    Deno.renameSync(tmp, finalPath);
  } catch (error) {
    if (
      error instanceof Deno.errors.IsADirectory ||
      Deno.statSync(finalPath).isDirectory
    ) throw conflict(rel);
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
 * import { setDirTimes } from "./atomic_write.ts";
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
 * Removes our temp files from the given directories of a tree (a crashed
 * or failed session's leftovers), except those this process is still
 * writing and recent partial copies when asked to keep them; directories
 * that are gone or became links are skipped. Returns how many were
 * removed.
 *
 * @example
 * ```ts
 * import { sweepTemps } from "./atomic_write.ts";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${dir}/.a.blit-0123456789ab.tmp`, "");
 * const removed = sweepTemps(dir, [""]);
 * if (removed !== 1) throw new Error(`removed ${removed}`);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function sweepTemps(
  root: TreeRoot,
  dirs: Iterable<string>,
  options: SweepOptions = {},
): number {
  const tree = treeOf(root);
  const keepMs = options.keepPartialsMs ?? 0;
  let removed = 0;
  for (const dir of dirs) {
    try {
      // Files still being written by a live transfer are left alone.
      const busy = new Set([...open].map((file) => file.tempName));
      const names = tree.readDir(dir).filter((name) =>
        TEMP_PATTERN.test(name) && !busy.has(name)
      );
      const now = Date.now();
      let kept = false;
      for (const name of names) {
        const rel = joinRel(dir, name);
        if (keepMs > 0 && PARTIAL_PATTERN.test(name)) {
          const info = tree.lstat(rel);
          const age = now - (info?.mtime?.getTime() ?? 0);
          if (info?.isFile && age < keepMs) {
            kept = true;
            continue;
          }
        }
        removeQuietly(tree, rel);
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
 * copies `.NAME.blit-partial.tmp`) under the local directory `root`,
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
 * Deno.removeSync(root, { recursive: true });
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
        removePath(abs);
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
