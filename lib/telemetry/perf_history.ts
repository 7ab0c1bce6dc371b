// Performance history: one JSON line per transfer (client and daemon).

/**
 * One line of `perf_history.jsonl`: a transfer (push, pull, copy, mirror)
 * or, in a daemon's history, a self-check.
 */
export interface PerfRecord {
  /** When it ended (ISO time). */
  ts: string;
  /** `push`, `pull`, `copy`, `mirror`, or `self_check`. */
  op: string;
  /** How the bytes went (`none` for a self-check). */
  transport: "tcp" | "grpc" | "local" | "none";
  /** Data streams used. */
  streams: number;
  /** Files (and links) transferred. */
  files: number;
  /** Content bytes transferred. */
  bytes: number;
  /** The whole run, milliseconds. */
  duration_ms: number;
  /** The other end (`HOST:PORT`), or null for a local copy. */
  remote: string | null;
  /** Milliseconds to connect and agree on the transfer. */
  handshake_ms: number;
  /** Milliseconds to exchange manifest and need list. */
  manifest_ms: number;
  /** Milliseconds moving bytes. */
  transfer_ms: number;
  /** Retries after transient failures. */
  retries: number;
  /** True when the TCP data plane was tried and the bytes went over gRPC. */
  fallback: boolean;
  /** A remote transfer's direction (copy and mirror go either way). */
  direction?: "push" | "pull";
  /** The transfer's size class (see {@linkcode sizeClass}). */
  size_class?: SizeClass;
  /** Of `bytes`, those sent as data (the rest was matched or resumed). */
  bytes_literal?: number;
  /** Of `bytes`, those rebuilt from the receiver's old copies (delta). */
  bytes_matched?: number;
  /** Every byte on the network, both ways, after compression. */
  bytes_on_wire?: number;
  /** Whether any file went as a delta. */
  delta?: boolean;
  /**
   * Of `files`, those whose old copy held the same content (their mtime
   * had changed, their bytes had not): a push lists hash hints after one
   * that found many (see `lib/client/tuning.ts`).
   */
  files_same?: number;
  /**
   * Of a pull's files that came as deltas and had grown past their old
   * copies, those that began with all of it (appended to) and the others:
   * a pull offers its old copies of grown files by hash after two that
   * found mostly appends (see `GrownFiles`, `lib/client/tuning.ts`).
   */
  grown_appended?: number;
  /** See `grown_appended`. */
  grown_other?: number;
  /** Whether any data went compressed. */
  compression?: boolean;
  /**
   * The route's link rate (bytes/s) known when the run began, carried
   * from run to run with `link_seen` (when the run that measured it
   * ended): a rate measured once outlives the recent history a command
   * reads (see `linkRate`, `lib/client/tuning.ts`).
   */
  link_bytes_per_s?: number;
  /** See `link_bytes_per_s`. */
  link_seen?: string;
  /**
   * The `--bwlimit` it ran under (bytes/s): its speed was the limit's, so
   * the predictor leaves it out.
   */
  bwlimit?: number;
  /** In a daemon's history: who wrote it (`"client"`: uploaded by one). */
  source?: "client" | "daemon";
  /** In a daemon's history: the module it concerned. */
  module?: string;
  /** A self-check: why it was skipped (high load, low disk space). */
  skipped?: string;
  /** A self-check: a TCP handshake with the daemon's own port, ms. */
  handshake_probe_ms?: number;
  /** A self-check: writing (and syncing) its disk probe, MiB/s. */
  disk_write_mib_s?: number;
  /** A self-check: reading it back, MiB/s. */
  disk_read_mib_s?: number;
  /** What the predictor chose for this transfer, and why. */
  predictor?: { transport: "tcp" | "grpc"; streams: number; reason: string };
}

/**
 * Size classes: by the average size of the files moved, which decides
 * what a transfer is bound by (per-file costs, or bytes).
 */
export type SizeClass = "small" | "medium" | "large";

/**
 * The size class of a transfer of `files` files and `bytes` bytes:
 * `small` (under 256 KiB a file on average), `medium` (under 16 MiB),
 * `large`.
 *
 * @example
 * ```ts
 * import { sizeClass } from "./perf_history.ts";
 * if (sizeClass(10_000, 40_960_000) !== "small" || sizeClass(1, 1 << 30) !== "large") throw new Error("example failed");
 * ```
 */
export function sizeClass(files: number, bytes: number): SizeClass {
  const average = bytes / Math.max(1, files);
  if (average < 256 * 1024) return "small";
  if (average < 16 * 1024 * 1024) return "medium";
  return "large";
}

/** The history file is kept under this size; oldest lines go first. */
export const MAX_HISTORY_BYTES = 1024 * 1024;

/**
 * Where the client keeps its state: `$BLIT_STATE_DIR`, else
 * `$XDG_STATE_HOME/blit`, else `~/.local/state/blit`.
 *
 * Permissions: env (BLIT_STATE_DIR, XDG_STATE_HOME, HOME).
 *
 * @example
 * ```ts
 * import { stateDir } from "./perf_history.ts";
 * if (!(stateDir({ BLIT_STATE_DIR: "/s" }) === "/s")) throw new Error("example failed");
 * ```
 */
export function stateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.BLIT_STATE_DIR) return env.BLIT_STATE_DIR;
  if (env.XDG_STATE_HOME) return `${env.XDG_STATE_HOME}/blit`;
  return `${env.HOME ?? "."}/.local/state/blit`;
}

/**
 * Appends one record to `dir/perf_history.jsonl`, trimming the oldest lines
 * to stay under 1 MiB. Never throws: a failure to write must not fail a
 * transfer. Returns whether the line was written.
 *
 * Permissions: read and write on `dir`.
 *
 * @example
 * ```ts
 * import { appendPerfRecord } from "./perf_history.ts";
 * const dir = Deno.makeTempDirSync();
 * appendPerfRecord(dir, { ts: "2026-01-01T00:00:00.000Z", op: "push", transport: "tcp", streams: 1, files: 1, bytes: 1, duration_ms: 1, remote: null, handshake_ms: 0, manifest_ms: 0, transfer_ms: 0, retries: 0, fallback: false });
 * if (!(Deno.readTextFileSync(`${dir}/perf_history.jsonl`).endsWith("\n"))) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function appendPerfRecord(dir: string, record: PerfRecord): boolean {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const path = `${dir}/perf_history.jsonl`;
    const line = JSON.stringify(record) + "\n";
    let size = 0;
    try {
      size = Deno.statSync(path).size;
    } catch {
      // first line
    }
    if (size + line.length > MAX_HISTORY_BYTES) {
      const lines = Deno.readTextFileSync(path).split("\n").filter(Boolean);
      let total = line.length;
      const kept: string[] = [];
      for (let i = lines.length - 1; i >= 0; i--) {
        total += lines[i].length + 1;
        if (total > MAX_HISTORY_BYTES * 0.9) break;
        kept.push(lines[i]);
      }
      const tmp = `${path}.tmp`;
      Deno.writeTextFileSync(
        tmp,
        kept.reverse().map((l) => l + "\n").join("") + line,
      );
      Deno.renameSync(tmp, path);
    } else {
      Deno.writeTextFileSync(path, line, { append: true });
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the history (only the runs with `remote`, when given; only the
 * lines that start in its last `recentBytes`, when given: a command's
 * start-up then costs the same with a full history as with a short one,
 * ~20 ms less here for a megabyte of one route's runs): lines it
 * cannot read (torn by a crash, or not a transfer record) are skipped; lines of older versions (`timestamp`, no
 * `duration_ms`) are read as the current schema.
 *
 * @example
 * ```ts
 * import { readPerfHistory } from "./perf_history.ts";
 * const dir = Deno.makeTempDirSync();
 * if (!(readPerfHistory(dir).length === 0)) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readPerfHistory(
  dir: string,
  remote?: string,
  recentBytes?: number,
): PerfRecord[] {
  let text: string;
  try {
    text = recentBytes === undefined
      ? Deno.readTextFileSync(`${dir}/perf_history.jsonl`)
      : readTail(`${dir}/perf_history.jsonl`, recentBytes);
  } catch {
    return [];
  }
  // One route's lines are told apart before parsing: a command's start-up
  // then parses its own route's runs, not a megabyte of others'.
  const key = remote === undefined
    ? undefined
    : `"remote":${JSON.stringify(remote)}`;
  const records: PerfRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line || (key !== undefined && !line.includes(key))) continue;
    try {
      const record = normalizeRecord(JSON.parse(line));
      if (record) records.push(record);
    } catch {
      // a torn line from a crash; skip it
    }
  }
  return records;
}

/**
 * A parsed history line as a record of the current schema, or undefined
 * when it is not one (missing or ill-typed fields).
 *
 * @example
 * ```ts
 * import { normalizeRecord } from "./perf_history.ts";
 * const r = normalizeRecord({ timestamp: "2026-01-01T00:00:00Z", op: "push", transport: "tcp", streams: 1, files: 1, bytes: 5, handshake_ms: 1, manifest_ms: 2, transfer_ms: 3, retries: 0, fallback: false });
 * if (r?.duration_ms !== 6 || r.remote !== null) throw new Error("example failed");
 * ```
 */
export function normalizeRecord(raw: unknown): PerfRecord | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const num = (v: unknown) =>
    typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
  const ts = typeof r.ts === "string"
    ? r.ts
    : typeof r.timestamp === "string"
    ? r.timestamp
    : undefined;
  if (ts === undefined || Number.isNaN(Date.parse(ts))) return undefined;
  if (typeof r.op !== "string") return undefined;
  const transport = r.transport;
  if (
    transport !== "tcp" && transport !== "grpc" && transport !== "local" &&
    transport !== "none"
  ) return undefined;
  const handshake = num(r.handshake_ms) ?? 0;
  const manifest = num(r.manifest_ms) ?? 0;
  const transfer = num(r.transfer_ms) ?? 0;
  const record: PerfRecord = {
    ...(r as unknown as PerfRecord),
    ts,
    op: r.op,
    transport,
    streams: num(r.streams) ?? 1,
    files: num(r.files) ?? 0,
    bytes: num(r.bytes) ?? 0,
    duration_ms: num(r.duration_ms) ?? handshake + manifest + transfer,
    remote: typeof r.remote === "string" ? r.remote : null,
    handshake_ms: handshake,
    manifest_ms: manifest,
    transfer_ms: transfer,
    retries: num(r.retries) ?? 0,
    fallback: r.fallback === true,
  };
  delete (record as unknown as Record<string, unknown>).timestamp;
  return record;
}

/**
 * Empties the history (`blit diagnostics perf --clear`). Returns whether
 * there was one.
 *
 * @example
 * ```ts
 * import { clearPerfHistory } from "./perf_history.ts";
 * const dir = Deno.makeTempDirSync();
 * if (clearPerfHistory(dir)) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function clearPerfHistory(dir: string): boolean {
  try {
    Deno.removeSync(`${dir}/perf_history.jsonl`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The text of the lines that start in the last `bytes` of the file at
 * `path` (all of it when it is no longer): a line cut by the window's
 * start is left out.
 */
function readTail(path: string, bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new RangeError(
      `recentBytes must be a positive integer, got ${bytes}`,
    );
  }
  using file = Deno.openSync(path);
  const size = file.statSync().size;
  if (size <= bytes) return new TextDecoder().decode(readAll(file, size));
  // One byte more than the window: whether the window starts a line.
  file.seekSync(size - bytes - 1, Deno.SeekMode.Start);
  const window = readAll(file, bytes + 1);
  const start = window.indexOf(0x0a) + 1;
  return new TextDecoder().decode(window.subarray(start));
}

/** Up to `n` bytes from `file`'s position (fewer when it ends first). */
function readAll(file: Deno.FsFile, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const read = file.readSync(out.subarray(got));
    if (read === null) break;
    got += read;
  }
  return out.subarray(0, got);
}
