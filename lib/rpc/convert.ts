// Converts between pipeline entries and their protobuf messages.
import { zstd } from "../wire/zstd.ts";
import { create, DecodeError, fromBinary, Reader } from "./codec.ts";
import type { FileEntry } from "../fs/entry.ts";
import { normalizeRelative, PathEscapeError } from "../fs/safe_path.ts";
import type { FileDataChunk } from "../wire/grpc_data.ts";
import {
  decodeEntries,
  encodeEntries,
  type RawEntry,
} from "./packed_manifest.ts";
import {
  type BasisOffer as BasisOfferMessage,
  BasisOfferSchema,
  Choice as ChoiceMessage,
  EntryKind,
  type FileData,
  FileDataSchema,
  type FileHeader,
  FileHeaderSchema,
  type FileList,
  FileListSchema,
  type ManifestBatch,
  ManifestBatchSchema,
  type ManifestComplete,
  ManifestCompleteSchema,
  type PerfRun,
  PerfRunSchema,
  ResumeKeptSchema,
  ResumeOfferSchema,
} from "./gen/blit.ts";
import {
  type KeptBlocks,
  MAX_RESUME_BLOCKS,
  type ResumeOffer,
} from "../fs/resume.ts";
import { FrameProtocolError } from "../wire/frame_codec.ts";
import type { BasisOffer } from "../delta/basis.ts";
import {
  MAX_AVG_BITS,
  MAX_BASIS_CHUNKS,
  MIN_AVG_BITS,
} from "../delta/chunker.ts";
import { asciiInto } from "../text.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";

/** Longest symlink target accepted from a peer, in characters. */
export const MAX_LINK_TARGET = 4096;

/**
 * Builds the manifest message for an entry.
 *
 * @example
 * ```ts
 * import { entryToHeader } from "./convert.ts";
 * const h = entryToHeader({ path: "a", kind: "file", size: 1, mtimeMs: 5, mode: 0o644 });
 * if (!(h.path === "a" && h.size === 1n)) throw new Error("example failed");
 * ```
 */
export function entryToHeader(entry: FileEntry): FileHeader {
  return create(FileHeaderSchema, {
    path: entry.path,
    size: BigInt(entry.size),
    mtimeMs: BigInt(Math.trunc(entry.mtimeMs)),
    mtimeNs: entry.mtimeNs ?? 0,
    mode: entry.mode,
    kind: entry.kind === "file"
      ? EntryKind.FILE
      : entry.kind === "dir"
      ? EntryKind.DIR
      : EntryKind.SYMLINK,
    linkTarget: entry.linkTarget ?? "",
    hash: entry.hash ?? NO_BYTES,
  });
}

/**
 * Validates a manifest message from a peer and turns it into an entry.
 * The path is normalised; `..`, absolute paths, NUL and backslashes are
 * refused, as are unknown kinds and out-of-range numbers.
 *
 * @example
 * ```ts
 * import { entryToHeader, headerToEntry } from "./convert.ts";
 * const e = headerToEntry(entryToHeader({ path: "./a", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 }));
 * if (!(e.path === "a" && e.kind === "dir")) throw new Error("example failed");
 * ```
 * @throws {PathEscapeError} for unsafe paths.
 * @throws {RangeError} for bad kinds, sizes, modes or link targets.
 */
export function headerToEntry(header: FileHeader): FileEntry {
  if (header.size > BigInt(Number.MAX_SAFE_INTEGER) || header.size < 0n) {
    throw new RangeError(
      `Size ${header.size} of ${header.path} is out of range`,
    );
  }
  return checkedEntry({
    kind: header.kind,
    path: header.path,
    size: Number(header.size),
    mtimeMs: Number(header.mtimeMs),
    mtimeNs: header.mtimeNs,
    mode: header.mode,
    linkTarget: header.linkTarget,
    hash: header.hash,
  });
}

/**
 * Checks an entry's fields from a peer (a message or a packed batch) and
 * builds the entry: the one place a peer's manifest is validated.
 *
 * @throws {PathEscapeError} for unsafe paths.
 * @throws {RangeError} for bad kinds, sizes, times, modes or link targets.
 */
function checkedEntry(raw: RawEntry): FileEntry {
  const path = normalizeRelative(raw.path);
  if (path === "") {
    throw new PathEscapeError(raw.path, "names the transfer root itself");
  }
  if (!Number.isSafeInteger(raw.size) || raw.size < 0) {
    throw new RangeError(`Size ${raw.size} of ${path} is out of range`);
  }
  if (!Number.isFinite(raw.mtimeMs)) {
    throw new RangeError(`Mtime of ${path} is out of range`);
  }
  if (
    !Number.isInteger(raw.mtimeNs) || raw.mtimeNs < 0 || raw.mtimeNs > 999_999
  ) {
    throw new RangeError(`Mtime nanoseconds of ${path} are out of range`);
  }
  if (raw.mode > 0o7777) {
    throw new RangeError(
      `Mode ${raw.mode.toString(8)} of ${path} is out of range`,
    );
  }
  const entry: FileEntry = {
    path,
    kind: "file",
    size: raw.size,
    mtimeMs: raw.mtimeMs,
    mode: raw.mode,
  };
  if (raw.mtimeNs > 0) entry.mtimeNs = raw.mtimeNs;
  switch (raw.kind) {
    case EntryKind.FILE:
      break;
    case EntryKind.DIR:
      entry.kind = "dir";
      entry.size = 0;
      break;
    case EntryKind.SYMLINK:
      entry.kind = "symlink";
      if (
        raw.linkTarget === "" || raw.linkTarget.includes("\0") ||
        raw.linkTarget.length > MAX_LINK_TARGET
      ) {
        throw new RangeError(`Symlink ${path} has an invalid target`);
      }
      entry.linkTarget = raw.linkTarget;
      break;
    default:
      throw new RangeError(`Entry ${path} has unknown kind ${raw.kind}`);
  }
  if (raw.hash.length > 0) entry.hash = raw.hash;
  return entry;
}

/**
 * The ManifestBatch message for a batch of entries: packed, one bytes
 * field a batch, not a message an entry.
 *
 * @example
 * ```ts
 * import { entriesOfBatch, manifestBatchOf } from "./convert.ts";
 * const batch = manifestBatchOf([{ path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 }]);
 * if (entriesOfBatch(batch)[0].path !== "a") throw new Error("example failed");
 * ```
 */
export function manifestBatchOf(
  entries: readonly FileEntry[],
  compress = false,
): ManifestBatch {
  const packed = encodeEntries(entries);
  if (compress && packed.length >= 256) {
    const zipped = zstd().compressSync(packed, 3);
    if (zipped.length < packed.length) {
      return create(ManifestBatchSchema, {
        packedZstd: zipped,
        packedSize: packed.length,
      });
    }
  }
  return create(ManifestBatchSchema, { packed });
}

/** Most bytes a compressed manifest batch may unpack to. */
export const MAX_PACKED_BYTES = 8 << 20;

/**
 * The entries of a peer's ManifestBatch (single headers and the packed
 * batch alike), each validated with {@linkcode headerToEntry}'s checks.
 *
 * @throws {PathEscapeError} for unsafe paths.
 * @throws {RangeError} for bad kinds, sizes, times, modes or link targets.
 */
export function entriesOfBatch(batch: ManifestBatch): FileEntry[] {
  const entries = batch.entries.map(headerToEntry);
  decodeEntries(batch.packed, (raw) => entries.push(checkedEntry(raw)));
  if (batch.packedZstd.length > 0) {
    decodeEntries(unzipped(batch), (raw) => entries.push(checkedEntry(raw)));
  }
  return entries;
}

/** A compressed batch's packed entries, their size checked first. */
function unzipped(batch: ManifestBatch): Uint8Array {
  return unzstd(batch.packedZstd, batch.packedSize, "manifest batch");
}

/**
 * `zipped` decompressed to exactly `size` bytes, the size checked before
 * anything is unpacked (at most {@linkcode MAX_PACKED_BYTES}).
 *
 * @throws {RangeError} naming `what` when it is out of range or does not
 * decompress to that size.
 */
function unzstd(zipped: Uint8Array, size: number, what: string): Uint8Array {
  if (size === 0 || size > MAX_PACKED_BYTES) {
    throw new RangeError(
      `A compressed ${what} of ${size} bytes is out of range (1-${MAX_PACKED_BYTES})`,
    );
  }
  let out: Uint8Array;
  try {
    out = zstd().decompressSync(zipped, size);
  } catch {
    throw new RangeError(`A compressed ${what} does not decompress`);
  }
  if (out.length !== size) {
    throw new RangeError(
      `A compressed ${what} unpacked to ${out.length} bytes, not ${size}`,
    );
  }
  return out;
}

/**
 * The ManifestComplete message for a manifest of `count` entries, with the
 * transfer root directory's mtime when it is one.
 */
export function manifestCompleteOf(
  count: number,
  root?: { mtimeMs: number; mtimeNs?: number },
): ManifestComplete {
  return create(ManifestCompleteSchema, {
    entries: BigInt(count),
    ...(root
      ? {
        root: create(FileHeaderSchema, {
          kind: EntryKind.DIR,
          mtimeMs: BigInt(Math.trunc(root.mtimeMs)),
          mtimeNs: root.mtimeNs ?? 0,
        }),
      }
      : {}),
  });
}

/**
 * The root's mtime a ManifestComplete carries, when it carries a sane one
 * (a whole number of ms within ±2^53, ns under a million); else none.
 */
export function rootTimeOf(
  complete: ManifestComplete,
): { mtimeMs: number; mtimeNs: number } | undefined {
  const root = complete.root;
  if (!root) return undefined;
  const ms = Number(root.mtimeMs);
  const ns = root.mtimeNs;
  if (
    !Number.isSafeInteger(ms) || !Number.isInteger(ns) || ns < 0 ||
    ns > 999_999
  ) return undefined;
  return { mtimeMs: ms, mtimeNs: ns };
}

/** A peer broke the manifest's message order. */
export class ManifestProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestProtocolError";
  }
}

/** A peer sent more manifest entries than allowed. */
export class ManifestTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestTooLargeError";
  }
}

/**
 * The FileData message for a chunk of file bytes.
 *
 * @example
 * ```ts
 * import { chunkToFileData } from "./convert.ts";
 * const m = chunkToFileData({ path: "a", data: new Uint8Array(1), last: true });
 * if (m.path !== "a" || !m.last || m.header !== undefined) throw new Error("example failed");
 * ```
 */
export function chunkToFileData(chunk: FileDataChunk): FileData {
  return create(FileDataSchema, {
    path: chunk.path,
    data: chunk.data,
    last: chunk.last,
    header: chunk.header ? entryToHeader(chunk.header) : undefined,
    hash: chunk.hash,
    resume: chunk.resume
      ? create(ResumeKeptSchema, {
        blockSize: chunk.resume.blockSize,
        blocks: chunk.resume.blocks,
        bitmap: chunk.resume.bitmap,
      })
      : undefined,
    delta: chunk.delta ?? false,
    copies: chunk.copies?.map(BigInt) ?? [],
  });
}

/**
 * The chunk a FileData message carries; its path and header are checked
 * like any path from a peer.
 *
 * @example
 * ```ts
 * import { chunkToFileData, fileDataToChunk } from "./convert.ts";
 * const c = fileDataToChunk(chunkToFileData({ path: "./a", data: new Uint8Array(2), last: false }));
 * if (c.path !== "a" || c.data.length !== 2) throw new Error("example failed");
 * ```
 * @throws {PathEscapeError} for an unsafe path.
 */
export function fileDataToChunk(data: FileData): FileDataChunk {
  return {
    path: normalizeRelative(data.path),
    header: data.header ? headerToEntry(data.header) : undefined,
    data: data.data,
    last: data.last,
    ...(data.hash.length > 0 ? { hash: data.hash } : {}),
    ...(data.resume ? { resume: keptOf(data.resume, data.header) } : {}),
    ...(data.delta ? { delta: true } : {}),
    ...(data.copies.length > 0 ? { copies: copiesOf(data) } : {}),
  };
}

/** A delta message's copies as numbers, each checked to be one. */
function copiesOf(data: FileData): number[] {
  return data.copies.map((value) => {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FrameProtocolError(
        `A copy of ${data.path} is out of range (${value})`,
      );
    }
    return Number(value);
  });
}

/**
 * The old copies' descriptions of a received need batch, by path (a path
 * named twice keeps its first). Checked by the sender (see
 * `basisProblem`) before use.
 *
 * @example
 * ```ts
 * import { basesOf } from "./convert.ts";
 * import { create } from "./codec.ts";
 * import { BasisOfferSchema, FileListSchema } from "./service.ts";
 * const list = create(FileListSchema, { bases: [create(BasisOfferSchema, { path: "f", avgBits: 10, size: 5000n, lengths: [5000] })] });
 * if (basesOf(list).get("f")?.size !== 5000) throw new Error("example failed");
 * ```
 * @throws {FrameProtocolError} for a size past 2^53.
 */
export function basesOf(list: FileList): Map<string, BasisOffer> {
  const bases = new Map<string, BasisOffer>();
  for (const basis of list.bases) {
    if (bases.has(basis.path)) continue;
    if (basis.size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FrameProtocolError(`The old copy of ${basis.path} is too big`);
    }
    const size = Number(basis.size);
    bases.set(basis.path, {
      avgBits: basis.avgBits,
      seed: basis.seed,
      size,
      lengths: basis.weak.length > 0 && basis.lengths.length === 0
        ? blockLengths(size, basis.avgBits, basis.weak.length)
        : Uint32Array.from(basis.lengths),
      digests: basis.digests,
      ...(basis.whole.length > 0 ? { whole: basis.whole } : {}),
      ...(basis.weak.length > 0 ? { weak: basis.weak } : {}),
      ...(basis.runs.length > 0 ? { runs: basis.runs } : {}),
    });
  }
  return bases;
}

/**
 * The BasisOffer messages for a need batch's descriptions.
 *
 * @example
 * ```ts
 * import { basisMessages } from "./convert.ts";
 * const [m] = basisMessages(new Map([["f", { avgBits: 10, seed: 1, size: 5000, lengths: Uint32Array.of(5000), digests: new Uint8Array(4) }]]));
 * if (m.path !== "f" || m.size !== 5000n) throw new Error("example failed");
 * ```
 */
export function basisMessages(
  bases: ReadonlyMap<string, BasisOffer>,
): BasisOfferMessage[] {
  return [...bases].map(([path, basis]) =>
    create(BasisOfferSchema, {
      path,
      avgBits: basis.avgBits,
      seed: basis.seed,
      size: BigInt(basis.size),
      // In fixed blocks, the lengths go without saying.
      lengths: basis.weak ? [] : numbersOf(basis.lengths),
      digests: basis.digests,
      ...(basis.whole ? { whole: basis.whole } : {}),
      ...(basis.weak ? { weak: basis.weak } : {}),
      ...(basis.runs ? { runs: basis.runs } : {}),
    })
  );
}

// A loop, not a spread: spreading a typed array of ~13,000 lengths costs a
// fresh process ~10 ms (its iterator runs cold), the loop ~0.2.
function numbersOf(values: Uint32Array): number[] {
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i];
  return out;
}

/**
 * The lengths of an old copy's fixed blocks (see `describeBlocks`): all
 * `2^avgBits` bytes but the last. None where the block size or their
 * count is out of range, or the description does not carry a sum for
 * each (`sums` bytes, 4 a block): it is then refused when checked
 * (`basisProblem`), and what a peer makes this allocate is never more
 * than what it sent.
 */
export function blockLengths(
  size: number,
  avgBits: number,
  sums: number,
): Uint32Array {
  if (
    !Number.isInteger(avgBits) || avgBits < MIN_AVG_BITS ||
    avgBits > MAX_AVG_BITS || !Number.isSafeInteger(size) || size <= 0
  ) return NO_LENGTHS;
  const block = 2 ** avgBits;
  const count = Math.ceil(size / block);
  if (count > MAX_BASIS_CHUNKS || sums !== 4 * count) return NO_LENGTHS;
  const lengths = new Uint32Array(count).fill(block);
  lengths[count - 1] = size - (count - 1) * block;
  return lengths;
}

/** A resume message's blocks, checked like the data plane's resume frame. */
function keptOf(
  resume: NonNullable<FileData["resume"]>,
  header: FileHeader | undefined,
): KeptBlocks {
  const { blockSize, blocks, bitmap } = resume;
  const size = Number(header?.size ?? 0n);
  if (
    !header || blocks === 0 || blocks > MAX_RESUME_BLOCKS ||
    blockSize === 0 || (blocks - 1) * blockSize >= size ||
    bitmap.length !== Math.ceil(blocks / 8)
  ) {
    throw new FrameProtocolError(
      `Resume of ${header?.path ?? "a file"} has blocks outside the file`,
    );
  }
  return { blockSize, blocks, bitmap };
}

/**
 * A receiver's need list being gathered into FileList batches: the paths
 * named, and the resume offers for those it holds partial copies of.
 *
 * @example
 * ```ts
 * import { NeedBatch } from "./convert.ts";
 * const batch = new NeedBatch();
 * batch.add("a");
 * batch.add("big", { blockSize: 4 << 20, hashes: new Uint8Array(16) });
 * const list = batch.take({ decided: 2 });
 * if (list.paths.length !== 2 || list.resumes[0].path !== "big" || batch.size !== 0) throw new Error("example failed");
 * ```
 */
export class NeedBatch {
  #paths: string[] = [];
  #resumes: { path: string; offer: ResumeOffer }[] = [];

  /** Names `path`, with an offer when the receiver has a partial copy. */
  add(path: string, resume?: ResumeOffer): void {
    this.#paths.push(path);
    if (resume) this.#resumes.push({ path, offer: resume });
  }

  /** Paths named since the last `take`. */
  get size(): number {
    return this.#paths.length;
  }

  /** Whether an offer waits: it leaves at once (it can be big). */
  get offering(): boolean {
    return this.#resumes.length > 0;
  }

  /** The batch as a FileList message; the batch starts again empty. */
  take(fields: { decided: number; last?: boolean }): FileList {
    const list = create(FileListSchema, {
      paths: this.#paths,
      last: fields.last ?? false,
      decided: BigInt(fields.decided),
      resumes: this.#resumes.map(({ path, offer }) =>
        create(ResumeOfferSchema, {
          path,
          blockSize: offer.blockSize,
          hashes: offer.hashes,
        })
      ),
    });
    this.#paths = [];
    this.#resumes = [];
    return list;
  }
}

/**
 * The resume offers of a received need batch, by path (a path named
 * twice keeps its first offer).
 *
 * @example
 * ```ts
 * import { NeedBatch, offersOf } from "./convert.ts";
 * const batch = new NeedBatch();
 * batch.add("big", { blockSize: 4 << 20, hashes: new Uint8Array(16) });
 * if (offersOf(batch.take({ decided: 0 })).get("big")?.blockSize !== 4 << 20) throw new Error("example failed");
 * ```
 */
export function offersOf(list: FileList): Map<string, ResumeOffer> {
  const offers = new Map<string, ResumeOffer>();
  for (const resume of list.resumes) {
    if (offers.has(resume.path)) continue;
    offers.set(resume.path, {
      blockSize: resume.blockSize,
      hashes: resume.hashes,
    });
  }
  return offers;
}

/**
 * A history line as the `PerfRun` message (snapshots and uploads).
 *
 * @example
 * ```ts
 * import { recordToRun } from "./convert.ts";
 * const run = recordToRun({ ts: "2026-01-01T00:00:00.000Z", op: "push", transport: "tcp", streams: 1, files: 2, bytes: 3, duration_ms: 4, remote: null, handshake_ms: 0, manifest_ms: 0, transfer_ms: 4, retries: 0, fallback: false });
 * if (run.bytes !== 3n || run.remote !== "") throw new Error("example failed");
 * ```
 */
export function recordToRun(record: PerfRecord): PerfRun {
  const whole = (n: number | undefined) => BigInt(Math.round(n ?? 0));
  return create(PerfRunSchema, {
    ts: record.ts,
    op: record.op,
    transport: record.transport,
    streams: record.streams,
    files: whole(record.files),
    bytes: whole(record.bytes),
    durationMs: whole(record.duration_ms),
    remote: record.remote ?? "",
    fallback: record.fallback,
    source: record.source ?? "",
    sizeClass: record.size_class ?? "",
    handshakeMs: whole(record.handshake_ms),
    manifestMs: whole(record.manifest_ms),
    transferMs: whole(record.transfer_ms),
    retries: record.retries,
    skipped: record.skipped ?? "",
    handshakeProbeMs: record.handshake_probe_ms ?? 0,
    diskWriteMibS: record.disk_write_mib_s ?? 0,
    diskReadMibS: record.disk_read_mib_s ?? 0,
  });
}

/** Operations a history line may name. */
const RUN_OPS = new Set(["push", "pull", "copy", "mirror", "self_check"]);
const RUN_TRANSPORTS = new Set(["tcp", "grpc", "local", "none"]);
const SIZE_CLASSES = new Set(["", "small", "medium", "large"]);

/**
 * A `PerfRun` from a peer as a history line, checked field by field; or
 * undefined when any field is out of bounds (an unknown op or transport,
 * a time that is not an ISO date within a day of now, counts past 2^53,
 * more than 16 streams, a duration over a week, text over 64 bytes).
 * Only the schema's fields come through.
 *
 * @example
 * ```ts
 * import { recordToRun, runToRecord } from "./convert.ts";
 * const r = { ts: new Date().toISOString(), op: "push", transport: "tcp" as const, streams: 1, files: 2, bytes: 3, duration_ms: 4, remote: "h:1", handshake_ms: 0, manifest_ms: 0, transfer_ms: 4, retries: 0, fallback: false };
 * if (runToRecord(recordToRun(r))?.bytes !== 3) throw new Error("example failed");
 * if (runToRecord(recordToRun({ ...r, op: "rm -rf" })) !== undefined) throw new Error("example failed");
 * ```
 */
export function runToRecord(
  run: PerfRun,
  options: { now?: number } = {},
): PerfRecord | undefined {
  const now = options.now ?? Date.now();
  const time = Date.parse(run.ts);
  const count = (n: bigint) =>
    n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
  const files = count(run.files);
  const bytes = count(run.bytes);
  const duration = count(run.durationMs);
  const parts = [run.handshakeMs, run.manifestMs, run.transferMs].map(count);
  const short = (text: string) => text.length <= 64;
  if (
    !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(run.ts) || !Number.isFinite(time) ||
    Math.abs(now - time) > 86_400_000 || !RUN_OPS.has(run.op) ||
    !RUN_TRANSPORTS.has(run.transport) || run.streams > 16 ||
    files === undefined || bytes === undefined || duration === undefined ||
    duration > 7 * 86_400_000 || parts.some((p) => p === undefined) ||
    run.retries > 100 || !short(run.remote) || !short(run.skipped) ||
    !SIZE_CLASSES.has(run.sizeClass) ||
    ![run.handshakeProbeMs, run.diskWriteMibS, run.diskReadMibS].every((n) =>
      Number.isFinite(n) && n >= 0 && n < 1e9
    )
  ) return undefined;
  const record: PerfRecord = {
    ts: run.ts,
    op: run.op,
    transport: run.transport as PerfRecord["transport"],
    streams: run.streams,
    files,
    bytes,
    duration_ms: duration,
    remote: run.remote === "" ? null : run.remote,
    handshake_ms: parts[0]!,
    manifest_ms: parts[1]!,
    transfer_ms: parts[2]!,
    retries: run.retries,
    fallback: run.fallback,
  };
  if (run.sizeClass !== "") {
    record.size_class = run.sizeClass as PerfRecord["size_class"];
  }
  if (run.op === "push" || run.op === "pull") record.direction = run.op;
  if (run.source === "client" || run.source === "daemon") {
    record.source = run.source;
  }
  if (run.op === "self_check") {
    if (run.skipped !== "") record.skipped = run.skipped;
    else {
      record.handshake_probe_ms = run.handshakeProbeMs;
      record.disk_write_mib_s = run.diskWriteMibS;
      record.disk_read_mib_s = run.diskReadMibS;
    }
  }
  return record;
}

/**
 * A TransferOptions choice (delta, compress) as the roles' `Choice`; an
 * unset or unknown one is `auto`.
 *
 * @example
 * ```ts
 * import { choiceOf } from "./convert.ts";
 * import { Choice } from "./service.ts";
 * if (choiceOf(Choice.OFF) !== "off" || choiceOf(undefined) !== "auto") throw new Error("example failed");
 * ```
 */
export function choiceOf(
  choice: ChoiceMessage | undefined,
): "auto" | "on" | "off" {
  if (choice === ChoiceMessage.ON) return "on";
  if (choice === ChoiceMessage.OFF) return "off";
  return "auto";
}

/**
 * A need batch compressed: its paths, resumes and bases as a FileList of
 * their own, serialized and zstd-compressed (level 3), `last` and
 * `decided` kept outside. The inner FileList's bytes are written here
 * from the receiver's own records (the bytes the generic encoder makes),
 * with no message object a description (a receiver of a tree with its
 * mtimes changed names every file with one: the objects and the generic
 * encoder cost ~7 us a file on the thread that plans). Undefined when
 * compressing does not pay: the batch is small, would unpack past
 * {@linkcode MAX_PACKED_BYTES}, or does not shrink (it then goes as a
 * plain FileList).
 *
 * @example
 * ```ts
 * import { packedNeeds, unpackedFileList } from "./convert.ts";
 * import { loadZstd } from "../wire/zstd.ts";
 * await loadZstd();
 * const paths = Array.from({ length: 100 }, (_, i) => `dir/file-${i}.py`);
 * const packed = packedNeeds(paths, new Map(), new Map(), false, 100n);
 * if (unpackedFileList(packed!).paths[99] !== "dir/file-99.py") throw new Error("example failed");
 * ```
 */
export function packedNeeds(
  paths: readonly string[],
  resumes: ReadonlyMap<string, ResumeOffer>,
  bases: ReadonlyMap<string, BasisOffer>,
  last: boolean,
  decided: bigint,
): FileList | undefined {
  const inner = needListBytes(paths, resumes, bases);
  if (inner.length < 256 || inner.length > MAX_PACKED_BYTES) return undefined;
  const zipped = zstd().compressSync(inner, 3);
  if (zipped.length >= inner.length) return undefined;
  return create(FileListSchema, {
    last,
    decided,
    packedZstd: zipped,
    packedSize: inner.length,
  });
}

/**
 * The protobuf encoding of `FileList { paths, resumes, bases }` (fields
 * 1, 4 and 5, in that order; proto3 defaults left out; `lengths` packed,
 * and left out for a description in fixed blocks),
 * as `toBinary` writes it. Sizes first, then one buffer.
 */
export function needListBytes(
  paths: readonly string[],
  resumes: ReadonlyMap<string, ResumeOffer>,
  bases: ReadonlyMap<string, BasisOffer>,
): Uint8Array {
  // The paths' UTF-8 back to back in a kept buffer, where each ends (no
  // array a path: a need list names every file of a new tree).
  const pathEnds = new Array<number>(paths.length);
  let used = 0;
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i];
    if (pathScratch.length - used < path.length * 3) {
      const bigger = new Uint8Array(
        Math.max(pathScratch.length * 2, used + path.length * 3),
      );
      bigger.set(pathScratch.subarray(0, used));
      pathScratch = bigger;
    }
    const n = asciiInto(path, pathScratch, used);
    if (n === path.length) used += n;
    else used += utf8.encodeInto(path, pathScratch.subarray(used)).written;
    pathEnds[i] = used;
  }
  const names = pathScratch;
  const resumeParts = [...resumes].map(([path, offer]) => {
    const name = utf8Of(path);
    const size = fieldBytes(name.length) + uintBytes(offer.blockSize) +
      (offer.hashes.length > 0 ? fieldBytes(offer.hashes.length) : 0);
    return { name, offer, size };
  });
  const baseParts = [...bases].map(([path, basis]) => {
    const name = utf8Of(path);
    let packed = 0;
    // In fixed blocks, the lengths go without saying.
    if (!basis.weak) {
      for (let i = 0; i < basis.lengths.length; i++) {
        packed += varintSize(basis.lengths[i]);
      }
    }
    const size = fieldBytes(name.length) + uintBytes(basis.avgBits) +
      uintBytes(basis.seed) + uintBytes(basis.size) +
      (packed > 0 ? fieldBytes(packed) : 0) +
      (basis.digests.length > 0 ? fieldBytes(basis.digests.length) : 0) +
      (basis.whole && basis.whole.length > 0
        ? fieldBytes(basis.whole.length)
        : 0) +
      (basis.weak && basis.weak.length > 0
        ? fieldBytes(basis.weak.length)
        : 0) +
      (basis.runs && basis.runs.length > 0 ? fieldBytes(basis.runs.length) : 0);
    return { name, basis, packed, size };
  });
  let total = 0;
  for (let i = 0, start = 0; i < pathEnds.length; start = pathEnds[i++]) {
    total += fieldBytes(pathEnds[i] - start);
  }
  for (const part of resumeParts) total += fieldBytes(part.size);
  for (const part of baseParts) total += fieldBytes(part.size);
  const out = new Uint8Array(total);
  let at = 0;
  const varint = (value: number) => {
    while (value > 0x7f) {
      out[at++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    out[at++] = value;
  };
  const field = (tag: number, bytes: Uint8Array) => {
    out[at++] = tag;
    varint(bytes.length);
    out.set(bytes, at);
    at += bytes.length;
  };
  // A scalar field: left out when 0 (proto3's default).
  const uint = (tag: number, value: number) => {
    if (value === 0) return;
    out[at++] = tag;
    varint(value);
  };
  for (let i = 0, start = 0; i < pathEnds.length; start = pathEnds[i++]) {
    out[at++] = 0x0a;
    varint(pathEnds[i] - start);
    for (let k = start; k < pathEnds[i]; k++) out[at++] = names[k];
  }
  for (const { name, offer, size } of resumeParts) {
    out[at++] = 0x22;
    varint(size);
    field(0x0a, name);
    uint(0x10, offer.blockSize);
    if (offer.hashes.length > 0) field(0x1a, offer.hashes);
  }
  for (const { name, basis, packed, size } of baseParts) {
    out[at++] = 0x2a;
    varint(size);
    field(0x0a, name);
    uint(0x10, basis.avgBits);
    uint(0x18, basis.seed);
    uint(0x20, basis.size);
    if (packed > 0) {
      out[at++] = 0x2a;
      varint(packed);
      for (let i = 0; i < basis.lengths.length; i++) varint(basis.lengths[i]);
    }
    if (basis.digests.length > 0) field(0x32, basis.digests);
    if (basis.whole && basis.whole.length > 0) field(0x3a, basis.whole);
    if (basis.weak && basis.weak.length > 0) field(0x42, basis.weak);
    if (basis.runs && basis.runs.length > 0) field(0x4a, basis.runs);
  }
  if (at !== total) throw new Error(`need list: wrote ${at} of ${total} bytes`);
  return out;
}

const utf8 = new TextEncoder();
/** Where {@linkcode needListBytes} writes a list's paths (grown, kept). */
let pathScratch = new Uint8Array(64 << 10);

/** UTF-8 of `text` (ASCII copied as is). */
function utf8Of(text: string): Uint8Array {
  const ascii = new Uint8Array(text.length);
  return asciiInto(text, ascii, 0) === text.length ? ascii : utf8.encode(text);
}

/** Bytes of a varint of `value` (a non-negative integer below 2^53). */
function varintSize(value: number): number {
  let n = 1;
  while (value > 0x7f) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Bytes of a scalar field holding `value` (a one-byte tag; none for 0). */
function uintBytes(value: number): number {
  return value === 0 ? 0 : 1 + varintSize(value);
}

/** Bytes of a length-delimited field of `length` bytes (a one-byte tag). */
function fieldBytes(length: number): number {
  return 1 + varintSize(length) + length;
}

/** No bytes (an entry without a hash): one array, never written. */
const NO_BYTES = new Uint8Array(0);
/** No chunk lengths (an old copy offered by its hash): one array. */
const NO_LENGTHS = new Uint32Array(0);

/**
 * A need batch as it was before {@linkcode packedNeeds} (a plain one as
 * it is): the size checked before anything is unpacked.
 *
 * @throws {RangeError} when the packed batch is out of range, does not
 * decompress to its size, or is mixed with plain fields or packed again.
 */
export function unpackedFileList(list: FileList): FileList {
  if (list.packedZstd.length === 0) return list;
  if (
    list.paths.length > 0 || list.resumes.length > 0 || list.bases.length > 0
  ) {
    throw new RangeError("A compressed need list has plain entries too");
  }
  const inner = unzstd(list.packedZstd, list.packedSize, "need list");
  let unpacked: FileList;
  try {
    unpacked = fromBinary(FileListSchema, inner);
  } catch {
    throw new RangeError("A compressed need list is not a need list");
  }
  if (unpacked.packedZstd.length > 0) {
    throw new RangeError("A compressed need list is compressed again");
  }
  return create(FileListSchema, {
    paths: unpacked.paths,
    resumes: unpacked.resumes,
    bases: unpacked.bases,
    last: list.last,
    decided: list.decided,
  });
}

/** A need batch's entries: its paths, resume offers and descriptions. */
export interface NeedEntries {
  paths: string[];
  offers: Map<string, ResumeOffer>;
  bases: Map<string, BasisOffer>;
}

/**
 * A need batch's paths and offers, as {@linkcode unpackedFileList} then
 * `offersOf` and `basesOf` give them (the first offer of a path counts):
 * a packed batch is read straight from its bytes, with no message object
 * made an entry.
 *
 * @example
 * ```ts
 * import { needEntriesOf, packedNeeds } from "./convert.ts";
 * const paths = Array.from({ length: 100 }, (_, i) => `dir/file-${i}.py`);
 * const whole = new Uint8Array(16).fill(7);
 * const bases = new Map([["dir/file-3.py", { avgBits: 10, seed: 0, size: 5000, lengths: new Uint32Array(0), digests: new Uint8Array(0), whole }]]);
 * const got = needEntriesOf(packedNeeds(paths, new Map(), bases, false, 0n)!);
 * if (got.paths[99] !== "dir/file-99.py" || got.bases.get("dir/file-3.py")?.whole?.[15] !== 7) throw new Error("example failed");
 * ```
 * @throws {RangeError} as {@linkcode unpackedFileList} does.
 * @throws {FrameProtocolError} for an old copy too big to describe.
 */
export function needEntriesOf(list: FileList): NeedEntries {
  if (list.packedZstd.length === 0) {
    return { paths: list.paths, offers: offersOf(list), bases: basesOf(list) };
  }
  if (
    list.paths.length > 0 || list.resumes.length > 0 || list.bases.length > 0
  ) {
    throw new RangeError("A compressed need list has plain entries too");
  }
  const inner = unzstd(list.packedZstd, list.packedSize, "need list");
  const got: NeedEntries = { paths: [], offers: new Map(), bases: new Map() };
  let parsed: ParsedBasis[];
  try {
    // (A fresh buffer of its own, never shared.)
    parsed = readNeedList(inner as Uint8Array<ArrayBuffer>, got);
  } catch (error) {
    if (error instanceof NestedPackError) {
      throw new RangeError("A compressed need list is compressed again");
    }
    throw new RangeError("A compressed need list is not a need list");
  }
  for (const basis of parsed) {
    if (got.bases.has(basis.path)) continue;
    if (basis.size > Number.MAX_SAFE_INTEGER) {
      throw new FrameProtocolError(`The old copy of ${basis.path} is too big`);
    }
    const offer: BasisOffer = {
      avgBits: basis.avgBits,
      seed: basis.seed,
      size: basis.size,
      lengths: basis.lengths.length > 0
        ? Uint32Array.from(basis.lengths)
        : basis.weak.length > 0
        ? blockLengths(basis.size, basis.avgBits, basis.weak.length)
        : NO_LENGTHS,
      digests: basis.digests,
    };
    if (basis.whole.length > 0) offer.whole = basis.whole;
    if (basis.weak.length > 0) offer.weak = basis.weak;
    if (basis.runs.length > 0) offer.runs = basis.runs;
    got.bases.set(basis.path, offer);
  }
  return got;
}

/** A packed need batch holds a packed batch itself. */
class NestedPackError extends Error {}

interface ParsedBasis {
  path: string;
  avgBits: number;
  seed: number;
  /** Exact below 2^53; above, only known to be too big. */
  size: number;
  lengths: number[];
  digests: Uint8Array<ArrayBuffer>;
  whole: Uint8Array<ArrayBuffer>;
  weak: Uint8Array<ArrayBuffer>;
  runs: Uint8Array<ArrayBuffer>;
}

/**
 * Reads the protobuf encoding of `FileList` in `bytes` with the codec's
 * reader (any field order, unknown fields skipped, `lengths` packed or
 * not, as `fromBinary` would) into `into`'s paths and resume offers;
 * returns the descriptions in order. Throws on anything malformed (a
 * truncated field, a known field of the wrong wire type, a varint past
 * ten bytes, a group).
 */
function readNeedList(
  bytes: Uint8Array<ArrayBuffer>,
  into: NeedEntries,
): ParsedBasis[] {
  const bases: ParsedBasis[] = [];
  const r = new Reader(bytes);
  const all = bytes.length;
  const malformed = () => new DecodeError("not a need list");
  while (r.pos < all) {
    const tag = r.uint32(all);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) into.paths.push(r.string(all));
    else if (field === 4 && wire === 2) {
      const length = r.length(all);
      const end = r.pos + length;
      let path = "";
      let blockSize = 0;
      let hashes: Uint8Array<ArrayBuffer> = NO_BYTES;
      while (r.pos < end) {
        const t = r.uint32(end);
        const f = t >>> 3;
        const w = t & 7;
        if (f === 1 && w === 2) path = r.string(end);
        else if (f === 2 && w === 0) blockSize = r.uint32(end);
        else if (f === 3 && w === 2) {
          hashes = r.bytes(end) as Uint8Array<ArrayBuffer>;
        } else if (f <= 3) throw malformed();
        else r.skip(w, end);
      }
      if (!into.offers.has(path)) into.offers.set(path, { blockSize, hashes });
    } else if (field === 5 && wire === 2) {
      const length = r.length(all);
      const end = r.pos + length;
      const basis: ParsedBasis = {
        path: "",
        avgBits: 0,
        seed: 0,
        size: 0,
        lengths: [],
        digests: NO_BYTES,
        whole: NO_BYTES,
        weak: NO_BYTES,
        runs: NO_BYTES,
      };
      while (r.pos < end) {
        const t = r.uint32(end);
        const f = t >>> 3;
        const w = t & 7;
        if (f === 1 && w === 2) basis.path = r.string(end);
        else if (f === 2 && w === 0) basis.avgBits = r.uint32(end);
        else if (f === 3 && w === 0) basis.seed = r.uint32(end);
        else if (f === 4 && w === 0) basis.size = Number(r.uint64(end));
        else if (f === 5 && w === 0) basis.lengths.push(r.uint32(end));
        else if (f === 5 && w === 2) {
          // Packed: varints back to back. (The length read first: it
          // moves `pos`.)
          const length = r.length(end);
          const stop = r.pos + length;
          r.packedUint32(stop, basis.lengths);
        } else if (f === 6 && w === 2) {
          basis.digests = r.bytes(end) as Uint8Array<ArrayBuffer>;
        } else if (f === 7 && w === 2) {
          basis.whole = r.bytes(end) as Uint8Array<ArrayBuffer>;
        } else if (f === 8 && w === 2) {
          basis.weak = r.bytes(end) as Uint8Array<ArrayBuffer>;
        } else if (f === 9 && w === 2) {
          basis.runs = r.bytes(end) as Uint8Array<ArrayBuffer>;
        } else if (f <= 9) throw malformed();
        else r.skip(w, end);
      }
      bases.push(basis);
    } else if (field === 6 && wire === 2) {
      if (r.length(all) > 0) throw new NestedPackError();
    } else if (
      field === 1 || field === 4 || field === 5 || field === 6 ||
      ((field === 2 || field === 3 || field === 7) && wire !== 0)
    ) throw malformed();
    else r.skip(wire, all);
  }
  return bases;
}
