// Self-tuning on the client: the predictor's choice for a transfer from
// the local history and the daemon's snapshot; the run's history line.
import { hostPort } from "../wire/host_port.ts";
import type { RemoteAddress } from "./address.ts";
import {
  type PerfRecord,
  readPerfHistory,
  type SizeClass,
  sizeClass,
} from "../telemetry/perf_history.ts";
import { type Choice, predict } from "../telemetry/predictor.ts";
import {
  type CachedSnapshot,
  readCachedSnapshot,
  saveSnapshot,
  SNAPSHOT_FRESH_MS,
} from "../telemetry/snapshot_cache.ts";
import { fetchPerfSnapshot } from "./perf_rpc.ts";

export { uploadPerf } from "./perf_rpc.ts";
import type { TransferResult } from "./summary.ts";
import { appendsMostly, type GrownFiles } from "../transfer/grown_files.ts";

/**
 * How much of the local history's end a transfer reads (~130 runs): the
 * predictor weighs a run by half with each newer one on the same arm, so
 * what lies before them weighs nothing (2^-30 after 30 newer runs of one
 * route), and each line read is parsed by a command just started: a full
 * history (1 MiB) cost ~25-35 ms, the last 256 KiB ~6-8 ms, these ~2.
 */
export const RECENT_HISTORY_BYTES = 64 * 1024;

/** What the client decided before a remote transfer, and what it knew. */
export interface Tuning {
  /** The route: the daemon's `HOST:PORT`. */
  route: string;
  /** Which way the bytes go. */
  direction: "push" | "pull";
  /** Stream count and transport, with the reason. */
  choice: Choice;
  /** A warning to print once (history too old to use). */
  warning?: string;
  /** The daemon's snapshot as last fetched, when one is kept. */
  snapshot?: CachedSnapshot;
  /**
   * Whether to fetch a fresh snapshot during this transfer (see
   * {@linkcode refreshSnapshot}): none is kept, or the one kept is
   * {@linkcode SNAPSHOT_FRESH_MS} old or more.
   */
  refresh: boolean;
  /**
   * The fastest the link has been seen to carry data on this route
   * (bytes/s; see `linkRate`), when the history knows.
   */
  linkBytesPerS?: number;
  /** When the run that measured `linkBytesPerS` ended (ISO time). */
  linkSeen?: string;
  /**
   * Whether a push lists hash hints (see {@linkcode pushHintsPay}): the
   * last push on this route found many files touched, not changed.
   */
  hashHints: boolean;
  /**
   * For a pull: what the last pulls on this route found of their grown
   * files (see {@linkcode pullGrown}).
   */
  grown?: GrownFiles;
}

/**
 * Files found the same content under a changed mtime, in one push, from
 * which the next push on the route lists hash hints: below this, hashing
 * every file of the tree before it is listed costs more than the round
 * trips it saves.
 */
export const HINTS_MIN_SAME = 32;

/**
 * Whether a push on `route` should list hash hints (its files' content
 * hashes, for the daemon to settle old copies of the same content without
 * naming them): the newest push on the route in `records` found at least
 * {@linkcode HINTS_MIN_SAME} files with a changed mtime and the same bytes
 * (a tree restored, checked out or rebuilt: the common case for trees
 * pushed again). A push that found none (a no-op, new files, edits) turns
 * them off for the next: hints cost the client a read of every file of a
 * hinted size, which only pays where most of them were touched.
 *
 * @example
 * ```ts
 * import { pushHintsPay } from "./tuning.ts";
 * const run = { ts: "2026-01-01T00:00:00Z", op: "push", transport: "tcp" as const, streams: 1, files: 40, bytes: 1, duration_ms: 1, remote: "nas:9031", handshake_ms: 0, manifest_ms: 0, transfer_ms: 1, retries: 0, fallback: false, direction: "push" as const };
 * if (!pushHintsPay([{ ...run, files_same: 40 }], "nas:9031")) throw new Error("example failed");
 * if (pushHintsPay([{ ...run, files_same: 40 }, { ...run, files_same: 0 }], "nas:9031")) throw new Error("example failed");
 * ```
 */
export function pushHintsPay(
  records: readonly PerfRecord[],
  route: string,
): boolean {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.remote !== route || r.direction !== "push") continue;
    const same = r.files_same;
    return typeof same === "number" && same >= HINTS_MIN_SAME;
  }
  return false;
}

/**
 * What a pull on `route` tells its receiver of the files that grew past
 * their old copies in the last pulls there (see `GrownFiles`): the newest
 * pull's counts, and how many pulls before it in a row found mostly
 * appends; undefined where no pull on the route counted (the receiver
 * then goes by its own files only). A pulling client keeps nothing
 * between runs but this history.
 *
 * @example
 * ```ts
 * import { pullGrown } from "./tuning.ts";
 * const run = { ts: "2026-01-01T00:00:00Z", op: "pull", transport: "tcp" as const, streams: 1, files: 40, bytes: 1, duration_ms: 1, remote: "nas:9031", handshake_ms: 0, manifest_ms: 0, transfer_ms: 1, retries: 0, fallback: false, direction: "pull" as const };
 * const appends = { ...run, grown_appended: 40, grown_other: 0 };
 * const got = pullGrown([appends, { ...run, grown_appended: 0, grown_other: 9 }, appends, appends], "nas:9031");
 * if (got?.appended !== 40 || got.streak !== 1) throw new Error("example failed");
 * ```
 */
export function pullGrown(
  records: readonly PerfRecord[],
  route: string,
): GrownFiles | undefined {
  let last: GrownFiles | undefined;
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i];
    if (r.remote !== route || r.direction !== "pull") continue;
    const appended = r.grown_appended;
    const other = r.grown_other;
    const counted = typeof appended === "number" && typeof other === "number";
    if (!last) {
      if (!counted) return undefined;
      last = { appended, other, streak: 0 };
    } else if (counted && appendsMostly({ appended, other })) last.streak++;
    else break;
  }
  return last;
}

/** What the user fixed on the command line. */
export interface TuningFlags {
  /** `--streams N` (0: not given). */
  streams: number;
  /** `--force-grpc-data`. */
  forceGrpcData: boolean;
}

/**
 * The choice for a `op` (push or pull) with `daemon`: `--streams` and
 * `--force-grpc-data` win; else the predictor over the local history in
 * `historyDir` (none: no history) and the runs other clients uploaded to
 * the daemon, from its snapshot as the last transfer to this module
 * fetched it (see {@linkcode refreshSnapshot}): a transfer never waits
 * for the daemon before it starts. Anything odd gives the default; never
 * throws. `sizeHint` is the transfer's size class, or a function working
 * it out.
 *
 * Permissions: read on `historyDir`.
 *
 * @example
 * ```ts
 * import { tune } from "./tuning.ts";
 * import { parseRemote } from "./address.ts";
 * const tuning = tune(parseRemote("blit://nas/m"), "push", { streams: 0, forceGrpcData: false }, undefined);
 * if (tuning.choice.streams !== 1 || tuning.choice.transport !== "tcp") throw new Error("example failed");
 * ```
 */
export function tune(
  daemon: RemoteAddress,
  op: "push" | "pull",
  flags: TuningFlags,
  historyDir: string | undefined,
  sizeHint?: SizeClass | (() => SizeClass | undefined),
): Tuning {
  const route = hostPort(daemon.host, daemon.port);
  let local: PerfRecord[] = [];
  let snapshot: CachedSnapshot | undefined;
  try {
    if (historyDir !== undefined) {
      local = readPerfHistory(historyDir, route, RECENT_HISTORY_BYTES);
      snapshot = readCachedSnapshot(historyDir, route, daemon.module);
    }
  } catch {
    // unreadable: as if empty
  }
  // Without a history there is nothing to match a size class against.
  const sizeClass = historyDir === undefined
    ? undefined
    : typeof sizeHint === "function"
    ? sizeHint()
    : sizeHint;
  let choice: Choice;
  let warning: string | undefined;
  let link: LinkSeen | undefined;
  let hashHints = false;
  let grown: GrownFiles | undefined;
  try {
    link = linkSeen(local, route);
    hashHints = op === "push" && pushHintsPay(local, route);
    grown = op === "pull" ? pullGrown(local, route) : undefined;
    const seen = new Set(local.map((r) => r.ts));
    // Other clients' runs with this daemon (ours are in the local file).
    const others = (snapshot?.runs ?? [])
      .filter((r) => r.source === "client" && !seen.has(r.ts))
      .map((r) => ({ ...r, remote: route }));
    const predicted = predict({
      records: [...local, ...others],
      route,
      op,
      sizeClass,
    });
    choice = predicted.choice;
    warning = predicted.stale;
  } catch {
    choice = { transport: "tcp", streams: 1, reason: "the default" };
  }
  if (flags.forceGrpcData) {
    choice = {
      transport: "grpc",
      streams: 1,
      reason: "set by --force-grpc-data",
    };
  } else if (flags.streams > 0) {
    choice = {
      transport: "tcp",
      streams: flags.streams,
      reason: "set by --streams",
    };
  }
  return {
    route,
    direction: op,
    choice,
    ...(warning ? { warning } : {}),
    ...(snapshot ? { snapshot } : {}),
    ...(link ? { linkBytesPerS: link.rate, linkSeen: link.seen } : {}),
    hashHints,
    ...(grown ? { grown } : {}),
    refresh: historyDir !== undefined &&
      !(Math.abs(Date.now() - (snapshot?.fetched ?? -Infinity)) <
        SNAPSHOT_FRESH_MS),
  };
}

/**
 * Fetches the daemon's snapshot of `daemon.module` (on the transfer's
 * connection, when it is held: see `holdConnection`) and keeps it in
 * `historyDir` for the next transfer's predictor. Never throws (a refused
 * module is the transfer's error to report); resolves to whether a fresh
 * snapshot was kept.
 *
 * Permissions: net to the daemon, read and write on `historyDir`.
 *
 * @example
 * ```ts ignore
 * import { refreshSnapshot } from "./tuning.ts";
 * await refreshSnapshot(parseRemote("blit://nas/m"), stateDir());
 * ```
 */
export async function refreshSnapshot(
  daemon: RemoteAddress,
  historyDir: string,
): Promise<boolean> {
  try {
    const snapshot = await fetchPerfSnapshot(daemon);
    if (!snapshot) return false;
    return saveSnapshot(
      historyDir,
      hostPort(daemon.host, daemon.port),
      daemon.module,
      {
        enabled: snapshot.enabled,
        // The predictor weighs other clients' runs only.
        runs: snapshot.runs.filter((r) => r.source === "client"),
      },
    );
  } catch {
    return false;
  }
}

/**
 * How long a link rate is carried from run to run (see
 * `PerfRecord.link_bytes_per_s`): a day. A route whose link got slower
 * since keeps the faster rate that long at most (deltas may stay off on
 * it; compression comes back by itself once the link holds its raw
 * stream up).
 */
export const LINK_CARRY_MS = 24 * 3600_000;

/** A route's link rate (bytes/s) and when the run that measured it ended. */
export interface LinkSeen {
  rate: number;
  seen: string;
}

/**
 * {@linkcode linkRate}, with when the run that measured it ended; rates
 * carried by newer runs count while {@linkcode LINK_CARRY_MS} old or
 * less at `now` (ms since the epoch).
 *
 * @example
 * ```ts
 * import { linkSeen } from "./tuning.ts";
 * const run = { ts: "2026-01-01T00:00:10Z", op: "push", transport: "tcp" as const, streams: 1, files: 1, bytes: 1, duration_ms: 5, remote: "h:1", handshake_ms: 0, manifest_ms: 0, transfer_ms: 5, retries: 0, fallback: false, link_bytes_per_s: 1e8, link_seen: "2026-01-01T00:00:00Z" };
 * if (linkSeen([run], "h:1", Date.parse("2026-01-01T01:00:00Z"))?.rate !== 1e8) throw new Error("example failed");
 * if (linkSeen([run], "h:1", Date.parse("2026-01-03T00:00:00Z")) !== undefined) throw new Error("example failed");
 * ```
 */
export function linkSeen(
  records: readonly PerfRecord[],
  route: string,
  now: number = Date.now(),
): LinkSeen | undefined {
  let best: LinkSeen | undefined;
  const consider = (rate: number, seen: string) => {
    if (best === undefined || rate > best.rate) best = { rate, seen };
  };
  for (const r of records) {
    if (r.remote !== route) continue;
    const carried = r.link_bytes_per_s;
    const seen = r.link_seen;
    if (
      typeof carried === "number" && Number.isFinite(carried) &&
      carried > 0 && typeof seen === "string" &&
      Math.abs(now - Date.parse(seen)) <= LINK_CARRY_MS
    ) consider(carried, seen);
    if (r.delta || r.bwlimit || r.transfer_ms <= 0) continue;
    const bytes = r.bytes_on_wire ?? r.bytes;
    if (bytes < 16 << 20) continue;
    consider(bytes / (r.transfer_ms / 1000), r.ts);
  }
  return best;
}

/**
 * The fastest a route's link has carried data in the history: bytes on
 * the wire (content bytes for older records) over the time moving them,
 * among runs of 16 MiB or more that were not deltas, or as a newer run
 * carried it (see {@linkcode linkSeen}); undefined when none.
 *
 * @example
 * ```ts
 * import { linkRate } from "./tuning.ts";
 * const run = { ts: "2026-01-01T00:00:00Z", op: "push", transport: "tcp" as const, streams: 1, files: 1, bytes: 100 << 20, duration_ms: 1200, remote: "h:1", handshake_ms: 0, manifest_ms: 0, transfer_ms: 1000, retries: 0, fallback: false };
 * if (Math.round(linkRate([run], "h:1")! / 1e6) !== 105) throw new Error("example failed");
 * ```
 */
export function linkRate(
  records: readonly PerfRecord[],
  route: string,
): number | undefined {
  return linkSeen(records, route)?.rate;
}

/**
 * The history line for a finished transfer.
 *
 * @example
 * ```ts
 * import { historyLine } from "./tuning.ts";
 * const r = historyLine("copy", { filesTransferred: 1, bytesTransferred: 2, filesDeleted: 0, filesSkipped: 0, transport: "local", streams: 1, fallback: false, handshakeMs: 0, manifestMs: 0, transferMs: 1, retries: 0 }, 5);
 * if (r.remote !== null || r.duration_ms !== 5) throw new Error("example failed");
 * ```
 */
export function historyLine(
  op: string,
  result: TransferResult,
  durationMs: number,
  tuning?: Tuning,
  bwlimit?: number,
): PerfRecord {
  return {
    ts: new Date().toISOString(),
    op,
    transport: result.transport,
    streams: result.streams,
    files: result.filesTransferred,
    bytes: result.bytesTransferred,
    duration_ms: Math.round(durationMs),
    remote: tuning?.route ?? null,
    handshake_ms: Math.round(result.handshakeMs),
    manifest_ms: Math.round(result.manifestMs),
    transfer_ms: Math.round(result.transferMs),
    retries: result.retries,
    fallback: result.fallback,
    size_class: sizeClass(result.filesTransferred, result.bytesTransferred),
    ...(result.bytesOnWire !== undefined
      ? {
        bytes_literal: result.bytesLiteral,
        bytes_matched: result.bytesMatched,
        bytes_on_wire: result.bytesOnWire,
        delta: result.delta,
        compression: result.compression,
      }
      : {}),
    ...(result.filesSame !== undefined ? { files_same: result.filesSame } : {}),
    ...(result.grown
      ? {
        grown_appended: result.grown.appended,
        grown_other: result.grown.other,
      }
      : {}),
    ...(tuning
      ? { direction: tuning.direction, predictor: tuning.choice }
      : {}),
    ...(bwlimit ? { bwlimit } : {}),
    // What the route's link was known to take, for the runs after this
    // one (see LinkSeen): this run's own rate counts from its own line.
    ...(tuning?.linkBytesPerS && tuning.linkSeen
      ? {
        link_bytes_per_s: Math.round(tuning.linkBytesPerS),
        link_seen: tuning.linkSeen,
      }
      : {}),
  };
}
