// The source stage: walks a tree and streams its entries.
import type { FileEntry } from "./entry.ts";
import { excludeMatcher } from "./exclude.ts";
import { hashFile } from "./hash.ts";
import { isTempName } from "./temp_names.ts";
import type { TreeRoot } from "./tree.ts";
import { treeOf } from "./path_tree.ts";
import type { DirHandle, Tree } from "./tree.ts";
import { mtimeMsOf, mtimeNsOf, preciseLstat } from "./native_stat.ts";

/** Options for {@linkcode enumerate}. */
export interface EnumerateOptions {
  /** Globs to leave out (see `excludeMatcher`). Default: none. */
  exclude?: readonly string[];
  /** Attach an xxh3-128 content hash to regular files. Default: false. */
  hash?: boolean;
  /** Entries buffered ahead of the consumer. Default: 256. */
  highWaterMark?: number;
  /**
   * Wraps the walk of a directory (`sourceEntries` of a tree): given the
   * tree walked and its entries, the entries to hand on (the daemon's hash
   * hints, see lib/delta/hash_hints.ts). Default: none.
   */
  hints?: (
    tree: Tree,
    entries: AsyncIterable<FileEntry>,
  ) => AsyncIterable<FileEntry>;
}

interface PendingDir {
  /** Relative path of the directory ("" for the root). */
  rel: string;
  /** Sorted names still to visit. */
  names: string[];
  next: number;
  /** The directory held open, its names looked up one by one (see `Tree.openDir`). */
  dir?: DirHandle;
}

/**
 * Directories held open at once by a walk: deeper levels are looked up
 * by path (a deep tree must not use up the process's descriptors).
 */
const OPEN_DIRS = 32;

const utf8 = new TextEncoder();

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  // Byte order of the UTF-8 names: the same on every platform and locale.
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Directory `rel`'s pending listing, held open while within `OPEN_DIRS`. */
function pendingDir(tree: Tree, rel: string, depth: number): PendingDir {
  const dir = depth < OPEN_DIRS ? tree.openDir?.(rel) : undefined;
  if (!dir) return { rel, names: sortedNames(tree.readDir(rel)), next: 0 };
  try {
    return { rel, names: sortedNames(dir.names), next: 0, dir };
  } catch (error) {
    dir.close();
    throw error;
  }
}

function sortedNames(listed: readonly string[]): string[] {
  // Our own temp files (a transfer in flight, or a crash's) never cross.
  const names = listed.filter((name) => !isTempName(name));
  // UTF-16 order equals UTF-8 byte order below the surrogate range, so the
  // plain sort is exact for nearly every name; otherwise encode each once.
  if (!names.some((n) => /[\ud800-\uffff]/.test(n))) return names.sort();
  return names
    .map((name) => ({ name, bytes: utf8.encode(name) }))
    .sort((a, b) => compareBytes(a.bytes, b.bytes))
    .map((x) => x.name);
}

/**
 * The entry for status `info` at `rel` (`readLink` gives a link's target);
 * undefined for sockets, FIFOs and devices, which do not cross.
 *
 * @example
 * ```ts
 * import { entryOf } from "./enumerate.ts";
 * const dir = Deno.makeTempDirSync();
 * const info = Deno.lstatSync(dir);
 * Deno.removeSync(dir);
 * if (entryOf(() => "", "d", info)?.kind !== "dir") throw new Error("example failed");
 * ```
 */
export function entryOf(
  readLink: () => string,
  rel: string,
  info: Deno.FileInfo,
): FileEntry | undefined {
  const mtimeMs = mtimeMsOf(info);
  // Nanoseconds, where the stat knew them (and they are not zero).
  const ns = mtimeNsOf(info);
  const mode = (info.mode ?? 0o644) & 0o7777;
  // Made whole, one object an entry (no spread of a times object).
  if (info.isFile) {
    return ns
      ? { path: rel, kind: "file", size: info.size, mtimeMs, mtimeNs: ns, mode }
      : { path: rel, kind: "file", size: info.size, mtimeMs, mode };
  }
  if (info.isDirectory) {
    return ns
      ? { path: rel, kind: "dir", size: 0, mtimeMs, mtimeNs: ns, mode }
      : { path: rel, kind: "dir", size: 0, mtimeMs, mode };
  }
  if (info.isSymlink) {
    const target = readLink();
    const entry: FileEntry = {
      path: rel,
      kind: "symlink",
      size: utf8.encode(target).length,
      mtimeMs,
      mode,
      linkTarget: target,
    };
    if (ns) entry.mtimeNs = ns;
    return entry;
  }
  return undefined; // sockets, fifos and devices do not cross
}

/**
 * Makes an entry for one path (lstat: a symlink stays a symlink).
 *
 * Permissions: read on `absPath`.
 *
 * @example
 * ```ts
 * import { entryFromPath } from "@blit/cli/internals";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "abc");
 * if (!(entryFromPath(path, "x.txt").size === 3)) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 * @throws {Deno.errors.NotFound} when nothing exists at `absPath`.
 * @throws {TypeError} for sockets, fifos and devices.
 */
export function entryFromPath(absPath: string, relPath: string): FileEntry {
  const info = preciseLstat(absPath);
  if (!info) throw new Deno.errors.NotFound(`No such file: ${absPath}`);
  const entry = entryOf(() => Deno.readLinkSync(absPath), relPath, info);
  if (!entry) {
    throw new TypeError(
      `Cannot transfer ${absPath}: not a file, directory or symlink`,
    );
  }
  return entry;
}

/**
 * Walks `root` depth-first and streams its entries: a directory before its
 * contents, siblings in UTF-8 byte order, symlinks as links (never
 * followed), empty directories included, the root itself left out.
 * Only a stack of pending directory listings is held, never the tree.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { enumerate } from "@blit/cli/mod";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/d`);
 * Deno.writeTextFileSync(`${root}/d/f.txt`, "x");
 * const paths = (await Array.fromAsync(enumerate(root))).map((e) => e.path);
 * if (!(paths.join() === "d,d/f.txt")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {Deno.errors.NotFound} (through the stream) when `root` is missing.
 */
export function enumerate(
  root: TreeRoot,
  options: EnumerateOptions = {},
): ReadableStream<FileEntry> {
  const highWaterMark = checkedHighWaterMark(options);
  // One pull takes a batch: per-entry pulls would cost a promise each.
  const batch = Math.max(1, Math.min(64, highWaterMark));
  const entries = walk(root, options);
  return new ReadableStream<FileEntry>({
    async pull(controller) {
      for (let emitted = 0; emitted < batch; emitted++) {
        const next = await entries.next();
        if (next.done) {
          controller.close();
          return;
        }
        controller.enqueue(next.value);
      }
    },
    async cancel() {
      await entries.return(undefined);
    },
  }, { highWaterMark });
}

/**
 * The entries of {@linkcode enumerate} as an async iterable, without a
 * stream (what a transfer walks: a command that never makes a stream never
 * loads the runtime's streams code). Leaving the loop early closes the
 * directories it holds open.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { walkEntries } from "@blit/cli/internals";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/f.txt`, "x");
 * const paths = (await Array.fromAsync(walkEntries(root))).map((e) => e.path);
 * if (paths.join() !== "f.txt") throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {Deno.errors.NotFound} (on the first step) when `root` is missing.
 */
export function walkEntries(
  root: TreeRoot,
  options: EnumerateOptions = {},
): AsyncGenerator<FileEntry> {
  checkedHighWaterMark(options);
  return walk(root, options);
}

function checkedHighWaterMark(options: EnumerateOptions): number {
  const highWaterMark = options.highWaterMark ?? 256;
  if (!Number.isInteger(highWaterMark) || highWaterMark < 1) {
    throw new RangeError(
      `highWaterMark must be a positive integer, got ${highWaterMark}`,
    );
  }
  return highWaterMark;
}

/**
 * The walk as a hand-made async iterator: one settled promise an entry
 * (an async generator costs a few more hops a step: ~1 us an entry here,
 * 10 ms of a 10,000-file no-op).
 */
function walk(
  root: TreeRoot,
  options: EnumerateOptions,
): AsyncGenerator<FileEntry> {
  const excluded = excludeMatcher(options.exclude ?? []);
  const withHash = options.hash ?? false;
  const tree = treeOf(root);
  let stack: PendingDir[] | undefined;
  /** A failure to hand on after the entry before it (see below). */
  let failure: { error: unknown } | undefined;
  const closeAll = () => {
    for (const pending of stack?.splice(0) ?? []) pending.dir?.close();
  };
  const done = (): IteratorResult<FileEntry> => ({
    value: undefined,
    done: true,
  });
  // The next entry, or a promise of it when a file must be hashed first.
  const step = ():
    | IteratorResult<FileEntry>
    | Promise<IteratorResult<FileEntry>> => {
    if (failure) {
      const { error } = failure;
      failure = undefined;
      throw error; // next() lets go of what is open
    }
    stack ??= [pendingDir(tree, "", 0)];
    for (;;) {
      const top = stack.at(-1);
      if (!top) return done();
      if (top.next >= top.names.length) {
        stack.pop()?.dir?.close();
        continue;
      }
      const name = top.names[top.next++];
      const rel = top.rel === "" ? name : `${top.rel}/${name}`;
      // Vanished between readDir and lstat: nothing to send.
      const info = top.dir ? top.dir.lstat(name) : tree.lstat(rel);
      if (!info) continue;
      if (excluded(rel, info.isDirectory)) continue;
      const entry = entryOf(() => tree.readLink(rel), rel, info);
      if (!entry) continue;
      if (entry.kind === "dir") {
        // Its listing is opened before the entry is handed on (the
        // consumer may take its time: the walk holds what it opened
        // then); if that fails, the entry still goes, then the failure.
        try {
          stack.push(pendingDir(tree, rel, stack.length));
        } catch (error) {
          failure = { error };
        }
      }
      if (entry.kind === "file" && withHash) {
        return hashFile(tree.openRead(rel)).then((hash) => {
          entry.hash = hash;
          return { value: entry, done: false };
        });
      }
      return { value: entry, done: false };
    }
  };
  const iterator: AsyncGenerator<FileEntry> = {
    next() {
      try {
        return Promise.resolve(step()).catch((error) => {
          closeAll();
          throw error;
        });
      } catch (error) {
        closeAll();
        return Promise.reject(error);
      }
    },
    return() {
      closeAll();
      stack = [];
      return Promise.resolve(done());
    },
    throw(error: unknown) {
      closeAll();
      stack = [];
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
    [Symbol.asyncDispose]() {
      closeAll();
      return Promise.resolve();
    },
  };
  return iterator;
}

/**
 * The entries a transfer offers from `path`: a directory's tree, or one
 * entry named `name` for a file or link (with its hash when asked).
 *
 * Permissions: read on `path`.
 *
 * @example
 * ```ts
 * import { sourceEntries } from "./enumerate.ts";
 * const path = Deno.makeTempFileSync();
 * const entries = await Array.fromAsync(sourceEntries(path, { name: "f" }));
 * if (!(entries.length === 1 && entries[0].path === "f")) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 */
export function sourceEntries(
  path: string | Tree,
  options: EnumerateOptions & { name?: string; rel?: string } = {},
): AsyncIterable<FileEntry> {
  if (typeof path !== "string") return containedSource(path, options);
  if (Deno.lstatSync(path).isDirectory) return walkEntries(path, options);
  const name = options.name ?? path.slice(path.lastIndexOf("/") + 1);
  return (async function* () {
    const entry = entryFromPath(path, name);
    if (options.hash && entry.kind === "file") {
      entry.hash = await hashFile(path);
    }
    yield entry;
  })();
}

/** The directory `rel` under `root`, for readDir. */
function containedSource(
  root: Tree,
  options: EnumerateOptions & { name?: string; rel?: string },
): AsyncIterable<FileEntry> {
  const rel = options.rel ?? "";
  const info = root.lstat(rel);
  if (!info) throw new Deno.errors.NotFound(`Not found: ${rel}`);
  if (info.isDirectory) {
    const tree = root.sub(rel);
    const walked = walkEntries(tree, options);
    return options.hints ? options.hints(tree, walked) : walked;
  }
  const name = options.name ?? rel.slice(rel.lastIndexOf("/") + 1);
  return (async function* () {
    const info = root.lstat(rel);
    if (!info) throw new Deno.errors.NotFound(`Not found: ${rel}`);
    const entry = entryOf(() => root.readLink(rel), name, info);
    if (!entry) {
      throw new TypeError(
        `Cannot transfer ${rel}: not a file, directory or symlink`,
      );
    }
    if (options.hash && entry.kind === "file") {
      entry.hash = await hashFile(root.openRead(rel));
    }
    yield entry;
  })();
}
