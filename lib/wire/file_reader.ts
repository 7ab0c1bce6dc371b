// The one reader of the byte path: a needed file (whole, a range of it,
// or resumed against the receiver's partial copy) read from its tree as
// the frame events a receiver's decoder yields. Each carrier frames the
// same events: the data plane as frames on a socket (frame_io.ts), the
// gRPC fallback as FileData chunks (grpc_data.ts), the in-memory stage as
// bytes (frame_stream.ts).
import type { FileEntry } from "../fs/entry.ts";
import { openForRead } from "../fs/contained_root.ts";
import type { TreeRoot } from "../fs/tree.ts";
import type { ReadHandle } from "../fs/tree.ts";
import { type ContentHasher, sameHash } from "../fs/hash.ts";
import { blockRuns, type KeptBlocks } from "../fs/resume.ts";
import type { FileRange, FrameEvent } from "./frame_codec.ts";
import {
  type BasisOffer,
  type ChunkDigest,
  offeredByHash,
} from "../delta/basis.ts";
import { deltaOps, ShrankError } from "../delta/matcher.ts";

/** A source file changed between the manifest and the transfer. */
export class SourceChangedError extends Error {
  /** Which file changed and what to do. */
  constructor(message: string) {
    super(message);
    this.name = "SourceChangedError";
  }
}

/**
 * Fills `into` from `file` (a regular file being sent), or throws when the
 * file ends first: it shrank since it was listed.
 *
 * @example
 * ```ts
 * import { readFull } from "./file_reader.ts";
 * const path = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(path, "abc");
 * using file = Deno.openSync(path);
 * const into = new Uint8Array(3);
 * readFull(file, into, "f", 3);
 * if (into[2] !== 99) throw new Error("example failed");
 * Deno.removeSync(path);
 * ```
 * @throws {SourceChangedError} when the file has fewer bytes left.
 */
export function readFull(
  file: ReadHandle,
  into: Uint8Array,
  path: string,
  declared: number,
): void {
  let got = 0;
  while (got < into.length) {
    // (The first read takes `into` itself: one read a small file.)
    const n = file.readSync(got === 0 ? into : into.subarray(got));
    if (n === null || n === 0) {
      throw new SourceChangedError(
        `File ${path} shrank during the transfer (declared ${declared} bytes); run the command again`,
      );
    }
    got += n;
  }
}

/**
 * What the reader reads: a whole file, a range of it, a file the
 * receiver holds a partial copy of (`kept`: the blocks it keeps), or one
 * it holds an older copy of (`basis`: its description; the file then
 * goes as a delta).
 */
export type ReadItem =
  | { entry: FileEntry; range?: FileRange }
  | { entry: FileEntry; kept: KeptBlocks }
  | { entry: FileEntry; basis: BasisOffer };

/** Options for {@linkcode readEvents}. */
export interface ReadOptions {
  /**
   * Directories already checked (see `resolveInside`): only for a sender
   * reading its own trusted tree. Default: none (every path checked).
   */
  verified?: Set<string>;
  /** Told body bytes as they are read (progress). */
  onBytes?: (n: number) => void;
  /** Hashes a delta's chunks, seeded as its basis says (required for an item with a `basis`). */
  chunkDigest?: ChunkDigest;
}

/**
 * The frame events of `item` read from `root`: `file` (with its range),
 * `data` pieces of at most `scratch.length` bytes, `hash` (the content
 * hash of the body or range); for a resumed file `resume` first, then
 * each run not kept as a range. Data events are views of `scratch`,
 * valid until the next event is asked for. Synchronous: a tree of small
 * files costs no promise per file.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { readEvents } from "@blit/cli/internals";
 * import { contentHasher } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/a`, "hello");
 * const entry = { path: "a", kind: "file" as const, size: 5, mtimeMs: 0, mode: 0o644 };
 * const types = [...readEvents(root, { entry }, await contentHasher(), new Uint8Array(2))].map((e) => e.type);
 * if (types.join() !== "file,data,data,data,hash") throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 * @throws {SourceChangedError} when a file shrank since it was listed.
 */
export function* readEvents(
  root: TreeRoot,
  item: ReadItem,
  hasher: ContentHasher,
  scratch: Uint8Array,
  options: ReadOptions = {},
): Generator<FrameEvent> {
  const { entry } = item;
  if ("basis" in item) {
    yield* deltaEvents(root, entry, item.basis, hasher, scratch, options);
    return;
  }
  if (!("kept" in item)) {
    yield* bodyEvents(root, entry, item.range, hasher, scratch, options);
    return;
  }
  yield { type: "resume", entry, kept: item.kept };
  for (const run of blockRuns(item.kept, entry.size, false)) {
    yield* bodyEvents(root, entry, run, hasher, scratch, options);
  }
}

function* bodyEvents(
  root: TreeRoot,
  entry: FileEntry,
  range: FileRange | undefined,
  hasher: ContentHasher,
  scratch: Uint8Array,
  options: ReadOptions,
): Generator<FrameEvent> {
  const file = openForRead(root, entry.path, { verified: options.verified });
  try {
    yield range ? { type: "file", entry, range } : { type: "file", entry };
    const start = range?.offset ?? 0;
    if (start > 0) file.seekSync(start, Deno.SeekMode.Start);
    hasher.init();
    const length = range?.length ?? entry.size;
    yield* dataEvents(file, length, entry, hasher, scratch, options);
  } finally {
    file.close();
  }
  yield { type: "hash", digest: hasher.digest("binary") };
}

/** Runs `events` through, for the hashing their reads do. */
function hashOnly(events: Iterable<FrameEvent>): void {
  for (const _ of events) {
    // each read was hashed as it was made
  }
}

/**
 * The next `length` bytes of `file` (listed as `entry`) as data events of
 * at most `scratch.length` bytes (views of it), each hashed into `hasher`.
 */
function* dataEvents(
  file: ReadHandle,
  length: number,
  entry: FileEntry,
  hasher: ContentHasher,
  scratch: Uint8Array,
  options: ReadOptions,
): Generator<FrameEvent> {
  for (let left = length; left > 0;) {
    const view = scratch.subarray(0, Math.min(left, scratch.length));
    readFull(file, view, entry.path, entry.size);
    hasher.update(view);
    left -= view.length;
    options.onBytes?.(view.length);
    yield { type: "data", bytes: view };
  }
}

/**
 * A file as a delta against the receiver's old copy: the delta header,
 * copy events and data (literal) events in order, the whole body's hash.
 */
function* deltaEvents(
  root: TreeRoot,
  entry: FileEntry,
  basis: BasisOffer,
  hasher: ContentHasher,
  scratch: Uint8Array,
  options: ReadOptions,
): Generator<FrameEvent> {
  if (offeredByHash(basis)) {
    yield* hashFirstEvents(root, entry, basis, hasher, scratch, options);
    return;
  }
  const chunkDigest = options.chunkDigest;
  if (!chunkDigest) throw new TypeError("a delta needs options.chunkDigest");
  const file = openForRead(root, entry.path, { verified: options.verified });
  try {
    yield { type: "delta", entry };
    hasher.init();
    const ops = deltaOps(file, entry.size, basis, chunkDigest, hasher, scratch);
    for (const op of ops) {
      if (op.op === "copy") {
        options.onBytes?.(op.length);
        yield { type: "copy", offset: op.offset, length: op.length };
      } else {
        options.onBytes?.(op.bytes.length);
        yield { type: "data", bytes: op.bytes };
      }
    }
  } catch (error) {
    if (!(error instanceof ShrankError)) throw error;
    throw new SourceChangedError(
      `File ${entry.path} shrank during the transfer (declared ${entry.size} bytes); run the command again`,
    );
  } finally {
    file.close();
  }
  yield { type: "hash", digest: hasher.digest("binary") };
}

/**
 * A file whose old copy the receiver offered by its content hash alone:
 * when the file is that content, a delta of copies of all of it (the
 * receiver reads nothing back); when it is longer and begins with that
 * content (an append), a copy of the old copy and the rest as literal
 * data; else a describe-again frame (the receiver names it again with a
 * full description). A file shorter than the old copy is not read here.
 */
function* hashFirstEvents(
  root: TreeRoot,
  entry: FileEntry,
  basis: BasisOffer,
  hasher: ContentHasher,
  scratch: Uint8Array,
  options: ReadOptions,
): Generator<FrameEvent> {
  if (entry.size < basis.size) {
    yield { type: "describe", entry };
    return;
  }
  const file = openForRead(root, entry.path, { verified: options.verified });
  try {
    hasher.init();
    hashOnly(dataEvents(file, basis.size, entry, hasher, scratch, {}));
    const digest = hasher.digest("binary");
    if (!sameHash(digest, basis.whole!)) {
      yield { type: "describe", entry };
      return;
    }
    options.onBytes?.(basis.size);
    yield { type: "delta", entry };
    yield { type: "copy", offset: 0, length: basis.size };
    if (entry.size === basis.size) {
      yield { type: "hash", digest };
      return;
    }
    // The wasm hasher's digest ends its hash (the native one's does not):
    // the start is hashed again, from a second handle on the same file.
    let rest = file;
    if (!hasher.saveState) {
      rest = openForRead(root, entry.path, { verified: options.verified });
      hasher.init();
      hashOnly(dataEvents(rest, basis.size, entry, hasher, scratch, {}));
    }
    try {
      const tail = entry.size - basis.size;
      yield* dataEvents(rest, tail, entry, hasher, scratch, options);
    } finally {
      if (rest !== file) rest.close();
    }
  } finally {
    file.close();
  }
  yield { type: "hash", digest: hasher.digest("binary") };
}

/**
 * The content hash of a file's body (or a range of it), read as the
 * reader reads it: for a body the kernel sends without us seeing it.
 *
 * Permissions: read on `root`.
 *
 * @throws {SourceChangedError} when the file shrank since it was listed.
 */
export function hashBody(
  root: TreeRoot,
  entry: FileEntry,
  range: FileRange | undefined,
  hasher: ContentHasher,
  scratch: Uint8Array,
  verified?: Set<string>,
): Uint8Array {
  for (
    const event of bodyEvents(root, entry, range, hasher, scratch, {
      verified,
    })
  ) {
    if (event.type === "hash") return event.digest;
  }
  throw new Error("unreachable: a body always ends with its hash");
}
