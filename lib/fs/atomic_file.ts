// Atomic files: written under a temp name (a big one under its partial
// copy's name, kept if interrupted) and renamed when complete, so nothing
// half-written ever sits under a final name; the registry of those open.
// Every call goes through a Tree (see tree.ts): single names under a
// checked directory, never a path string, and modes and times set on the
// open file.
import type { FileEntry } from "./entry.ts";
import {
  normalizeRelative,
  PathEscapeError,
  type ResolveOptions,
} from "./safe_path.ts";
import { treeOf } from "./path_tree.ts";
import {
  ContainmentError,
  fileIdentity,
  joinRel,
  type ReadHandle,
  splitRel,
  type Tree,
  type TreeRoot,
  type WriteHandle,
} from "./tree.ts";
import { KernelFile } from "./kernel_file.ts";
import { partialNameFor, tempNameFor } from "./temp_names.ts";
import {
  heldPartial,
  holdPartial,
  partialKey,
  releasePartial,
  RESUME_MIN_BYTES,
} from "./partial_copies.ts";
import {
  createIn,
  refuseDirectory,
  removeQuietly,
  renameInto,
  umask,
  writeAll,
} from "./_replace.ts";

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

const open = new Set<AtomicFile>();
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
 * import { AtomicFile } from "@blit/cli/internals";
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
  /** Set for a partial copy (kept by `suspend`): its key (see partial_copies.ts). */
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
    if (partial) holdPartial(partial);
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
      if (key !== undefined && !heldPartial(key)) {
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
    if (key === undefined || heldPartial(key)) {
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
    writeAll(this.#room(chunk.length), chunk);
    if (this.#partial) {
      addRange(this.#ranges, this.#written, this.#written + chunk.length);
    }
    this.#written += chunk.length;
  }

  /**
   * Appends `length` bytes of `source` from `offset`, copied by the kernel
   * where both are kernel handles (see `KernelFile.copyFrom`): returns the
   * bytes appended so, 0 to `length` (the rest is the caller's to write).
   *
   * @throws {SizeMismatchError} when this would exceed the declared size.
   */
  appendFrom(source: ReadHandle, offset: number, length: number): number {
    const file = this.#room(length);
    if (!(file instanceof KernelFile) || !(source instanceof KernelFile)) {
      return 0;
    }
    const n = file.copyFrom(source, offset, length);
    if (this.#partial) {
      addRange(this.#ranges, this.#written, this.#written + n);
    }
    this.#written += n;
    return n;
  }

  /**
   * {@linkcode AtomicFile.appendFrom} on another thread: the `length`
   * bytes are counted as written at once (the file's position moves past
   * them: what is written next goes after them) and the kernel copies
   * them meanwhile (`KernelFile.copyFromLater`); what it did not copy is
   * read and written here once it is done. The promise settles when they
   * are all in place; undefined (nothing done) where both are not kernel
   * handles. Commit only once it has settled.
   *
   * @throws {SizeMismatchError} when this would exceed the declared size.
   */
  appendFromLater(
    source: ReadHandle,
    offset: number,
    length: number,
  ): Promise<void> | undefined {
    const file = this.#room(length);
    if (!(file instanceof KernelFile) || !(source instanceof KernelFile)) {
      return undefined;
    }
    const at = this.#written;
    file.seekSync(at + length, Deno.SeekMode.Start);
    this.#written += length;
    return file.copyFromLater(source, offset, at, length).then((n) => {
      // Closed meanwhile (the transfer failed): nothing more to do.
      if (this.#file !== file) return;
      if (n < length) copyRange(source, offset + n, file, at + n, length - n);
      if (this.#partial) addRange(this.#ranges, at, at + length);
    });
  }

  /**
   * The open temp file, where `length` more bytes may be appended.
   *
   * @throws {SizeMismatchError} when they would exceed the declared size.
   */
  #room(length: number): WriteHandle {
    const file = this.#file;
    if (!file) throw new Error(`File ${this.entry.path} is already closed`);
    if (this.#written + length > this.entry.size) {
      throw new SizeMismatchError(
        `File ${this.entry.path} got more than its declared ${this.entry.size} bytes`,
      );
    }
    return file;
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
      this.#file.utimeSync(this.entry.mtimeMs, this.entry.mtimeNs);
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
    if (this.#partial) releasePartial(this.#partial);
  }
}

/**
 * Copies `length` bytes of `source` from `offset` to `at` in `out`,
 * through this thread; both files' positions are left as they were.
 */
function copyRange(
  source: ReadHandle,
  offset: number,
  out: WriteHandle,
  at: number,
  length: number,
): void {
  const from = source.seekSync(0, Deno.SeekMode.Current);
  const to = out.seekSync(0, Deno.SeekMode.Current);
  const piece = new Uint8Array(Math.min(length, 1 << 20));
  source.seekSync(offset, Deno.SeekMode.Start);
  out.seekSync(at, Deno.SeekMode.Start);
  for (let left = length; left > 0;) {
    const view = piece.subarray(0, Math.min(left, piece.length));
    let got = 0;
    while (got < view.length) {
      const n = source.readSync(view.subarray(got));
      if (n === null || n === 0) {
        throw new SizeMismatchError("the old copy ended while copied");
      }
      got += n;
    }
    writeAll(out, view);
    left -= view.length;
  }
  source.seekSync(from, Deno.SeekMode.Start);
  out.seekSync(to, Deno.SeekMode.Start);
}

/** dev:ino: which inode a status describes (how it was reached aside). */
function inode(info: Deno.FileInfo): string {
  return `${info.dev}:${info.ino}`;
}

/**
 * Aborts every file still open in this process (for SIGINT/SIGTERM);
 * with `keepPartials`, partial copies of big files are kept for a later
 * transfer to resume (see {@linkcode AtomicFile.suspend}). Returns how
 * many files were removed and how many kept.
 *
 * @example
 * ```ts
 * import { abortAllOpen } from "@blit/cli/internals";
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
 * import { writeFileAtomic } from "@blit/cli/internals";
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
      file.utimeSync(entry.mtimeMs, entry.mtimeNs);
    } finally {
      file.close();
    }
    renameInto(tree, tempRel, rel);
  } catch (error) {
    removeQuietly(tree, tempRel);
    throw error;
  }
}

/** The temp names of the atomic files this process has open (never swept). */
export function openTempNames(): Set<string> {
  return new Set([...open].map((file) => file.tempName));
}
