// The daemon's side of self-tuning: its performance snapshot for clients,
// the run summaries they upload, and the idle self-check.
import { statfsSync } from "node:fs";
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import {
  appendPerfRecord,
  type PerfRecord,
  readPerfHistory,
} from "../telemetry/perf_history.ts";
import { recordToRun, runToRecord } from "../rpc/convert.ts";
import {
  type PerfSnapshotRequest,
  type PerfSnapshotResponse,
  PerfSnapshotResponseSchema,
  type UploadPerfRequest,
  type UploadPerfResponse,
  UploadPerfResponseSchema,
} from "../rpc/service.ts";
import type { ServiceContext } from "./context.ts";
import { checkConnection, clientOf, openModule } from "./access.ts";
import { safeStatus } from "./call_end.ts";
import { ServiceError } from "./errors.ts";

/** Runs a snapshot carries at most. */
export const SNAPSHOT_RUNS = 200;
/** Uploads one client address may make a minute (more are dropped). */
export const UPLOADS_PER_MINUTE = 30;

/** The daemon's history: where it is, and whether it is kept at all. */
export interface DaemonHistory {
  /** The state directory holding `perf_history.jsonl`. */
  dir: string;
  /** Appends a line (never throws). */
  append(record: PerfRecord): void;
  /**
   * The history's records, oldest first, from memory (read from the file
   * once, then kept up to date by `append`). Default: read the file.
   */
  records?(): readonly PerfRecord[];
}

/** Records a daemon keeps in memory for snapshots (the file holds fewer). */
const KEPT_RECORDS = 20_000;

/**
 * A history in `dir` whose appends are serialised (one write at a time,
 * in order) and never fail a caller.
 *
 * @example
 * ```ts
 * import { daemonHistory } from "./perf.ts";
 * const dir = Deno.makeTempDirSync();
 * const h = daemonHistory(dir);
 * h.append({ ts: new Date().toISOString(), op: "push", transport: "tcp", streams: 1, files: 1, bytes: 1, duration_ms: 1, remote: null, handshake_ms: 0, manifest_ms: 0, transfer_ms: 1, retries: 0, fallback: false });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function daemonHistory(dir: string): DaemonHistory {
  // Read once, on the first snapshot; every append after goes to both.
  let kept: PerfRecord[] | undefined;
  return {
    dir,
    append: (record) => {
      appendPerfRecord(dir, record);
      if (kept) {
        kept.push(record);
        if (kept.length > KEPT_RECORDS) kept.splice(0, kept.length / 2);
      }
    },
    records: () => kept ??= readPerfHistory(dir).slice(-KEPT_RECORDS),
  };
}

/** PerfSnapshot calls one address may make in {@linkcode SNAPSHOT_WINDOW_MS}. */
export const SNAPSHOTS_PER_WINDOW = 20;
const SNAPSHOT_WINDOW_MS = 10_000;

type Unary<Req, Res> = (
  call: grpc.ServerUnaryCall<Req, Res>,
  callback: grpc.sendUnaryData<Res>,
) => void;

/**
 * PerfSnapshot: the module's recent runs (the daemon's own and those its
 * clients uploaded, at most {@linkcode SNAPSHOT_RUNS}) and the last
 * self-check. Needs access to the module (secret, allow list).
 */
export function perfSnapshotHandler(
  ctx: ServiceContext,
): Unary<PerfSnapshotRequest, PerfSnapshotResponse> {
  const recent = new Map<string, { start: number; count: number }>();
  return (call, callback) => {
    try {
      checkConnection(call, ctx);
      // A flood from one address is refused, cheaply: a client asks once
      // per transfer.
      const client = clientOf(call);
      const now = Date.now();
      let window = recent.get(client);
      if (!window || now - window.start > SNAPSHOT_WINDOW_MS) {
        if (recent.size > 10_000) recent.clear();
        window = { start: now, count: 0 };
        recent.set(client, window);
      }
      if (++window.count > SNAPSHOTS_PER_WINDOW) {
        throw new ServiceError(
          grpc.status.RESOURCE_EXHAUSTED,
          "too many performance snapshots asked for from your address; try again in a few seconds",
        );
      }
      // A module (access checked), or with none the open modules' runs.
      const names = new Set(
        call.request.module === ""
          ? ctx.config.modules.filter((m) =>
            m.secretFile === undefined && m.allow === undefined
          ).map((m) => m.name)
          : [openModule(ctx, call.request.module, call).name],
      );
      const history = ctx.history;
      const records = !history
        ? []
        : history.records
        ? history.records()
        : readPerfHistory(history.dir);
      const runs = records.filter((r) => r.module && names.has(r.module))
        .slice(-SNAPSHOT_RUNS);
      const check = records.findLast((r) => r.op === "self_check");
      callback(
        null,
        create(PerfSnapshotResponseSchema, {
          enabled: history !== undefined,
          runs: runs.map(recordToRun),
          lastSelfCheck: check ? recordToRun(check) : undefined,
        }),
      );
    } catch (error) {
      callback(safeStatus(error, ctx));
    }
  };
}

/**
 * UploadPerf: a client's run summary for a module it may access, checked
 * field by field (see `runToRecord`) and appended with `"source":
 * "client"`, the module and the client's address; at most
 * {@linkcode UPLOADS_PER_MINUTE} a minute per client address. The history
 * file keeps its size cap whatever clients send.
 */
export function uploadPerfHandler(
  ctx: ServiceContext,
): Unary<UploadPerfRequest, UploadPerfResponse> {
  const recent = new Map<string, { start: number; count: number }>();
  return (call, callback) => {
    try {
      checkConnection(call, ctx);
      const module = openModule(ctx, call.request.module, call);
      const run = call.request.run;
      const record = run && runToRecord(run);
      if (!record || record.op === "self_check") {
        throw new ServiceError(
          grpc.status.INVALID_ARGUMENT,
          "The uploaded run is not a valid performance record",
        );
      }
      const client = clientOf(call);
      const now = Date.now();
      let window = recent.get(client);
      if (!window || now - window.start > 60_000) {
        if (recent.size > 10_000) recent.clear();
        window = { start: now, count: 0 };
        recent.set(client, window);
      }
      const recorded = ctx.history !== undefined &&
        ++window.count <= UPLOADS_PER_MINUTE;
      if (recorded) {
        ctx.history!.append({
          ...record,
          remote: client,
          source: "client",
          module: module.name,
        });
      }
      callback(null, create(UploadPerfResponseSchema, { recorded }));
    } catch (error) {
      callback(safeStatus(error, ctx));
    }
  };
}

/** Options for {@linkcode SelfCheck}. */
export interface SelfCheckOptions {
  /** Idle seconds before a check (config `selfCheckInterval`). */
  intervalSeconds: number;
  /**
   * Where the history (and the disk probe) go; none: no check is made
   * or recorded, only `onIdle` runs.
   */
  history?: DaemonHistory;
  /**
   * Runs (synchronously) at each idle turn before the check: the daemon's
   * housekeeping (the temp-file sweep). Errors are ignored.
   */
  onIdle?: () => void;
  /** The daemon's own control address, for the handshake probe. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Whether a transfer (or any call) is running now. */
  busy: () => boolean;
  /** One-minute load average; default `Deno.loadavg()[0]`. */
  load?: () => number;
  /** Free bytes where the history lives; default: measured. */
  freeBytes?: () => number | undefined;
  /** Told each line recorded (tests, logs). */
  onRecord?: (record: PerfRecord) => void;
}

/** Bytes the disk probe writes and reads back. */
const PROBE_BYTES = 4 * 1024 * 1024;
/** Below this much free space the probe is skipped. */
const MIN_FREE_BYTES = 256 * 1024 * 1024;

/**
 * The daemon's idle self-check: once it has had no call for
 * `intervalSeconds`, a TCP handshake with its own control port and a
 * 4 MiB write + sync + read of a probe file in its state directory,
 * recorded as an `"op": "self_check"` line; skipped (and recorded so)
 * when the load average is above the core count or free space is under
 * 256 MiB. Never during a call; then idle time starts again. Each idle
 * turn also runs `onIdle` (housekeeping), with or without a history.
 */
export class SelfCheck {
  readonly #options: SelfCheckOptions;
  #lastActive = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = false;
  #stopped = false;

  constructor(options: SelfCheckOptions) {
    if (!(options.intervalSeconds > 0)) {
      throw new RangeError(
        `selfCheckInterval must be positive, got ${options.intervalSeconds}`,
      );
    }
    this.#options = options;
    this.#schedule();
  }

  /** A call started or ended: the idle time starts again. */
  touch(): void {
    this.#lastActive = Date.now();
  }

  /** No more checks. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const due = this.#lastActive + this.#options.intervalSeconds * 1000;
    const wait = Math.max(50, due - Date.now());
    this.#timer = setTimeout(() => void this.#tick(), wait);
    Deno.unrefTimer(this.#timer);
  }

  async #tick(): Promise<void> {
    const options = this.#options;
    const idleMs = Date.now() - this.#lastActive;
    if (
      this.#running || options.busy() ||
      idleMs < options.intervalSeconds * 1000
    ) {
      return this.#schedule();
    }
    this.#running = true;
    try {
      try {
        options.onIdle?.();
      } catch {
        // housekeeping must not stop the daemon
      }
      if (options.history) {
        const record = await this.run();
        options.history.append(record);
        options.onRecord?.(record);
      }
    } finally {
      this.#running = false;
      this.#lastActive = Date.now();
      this.#schedule();
    }
  }

  /** Runs one check now and returns its line (not recorded). */
  async run(): Promise<PerfRecord> {
    const options = this.#options;
    const started = performance.now();
    const base: PerfRecord = {
      ts: new Date().toISOString(),
      op: "self_check",
      transport: "none",
      streams: 0,
      files: 0,
      bytes: 0,
      duration_ms: 0,
      remote: null,
      handshake_ms: 0,
      manifest_ms: 0,
      transfer_ms: 0,
      retries: 0,
      fallback: false,
    };
    const load = (options.load ?? systemLoad)();
    const cores = navigator.hardwareConcurrency || 1;
    if (load > cores) {
      return {
        ...base,
        skipped: `high load (${load.toFixed(2)} on ${cores} cores)`,
      };
    }
    const dir = options.history?.dir ?? ".";
    const free = (options.freeBytes ?? (() => freeBytes(dir)))();
    if (free !== undefined && free < MIN_FREE_BYTES) {
      return {
        ...base,
        skipped: `low disk space (${Math.floor(free / 2 ** 20)} MiB free)`,
      };
    }
    const t0 = performance.now();
    const conn = await Deno.connect({
      hostname: options.hostname.replace(/^\[|\]$/g, ""),
      port: options.port,
    }).catch(() => undefined);
    const handshake = performance.now() - t0;
    conn?.close();
    const disk = options.history ? probeDisk(options.history.dir) : undefined;
    return {
      ...base,
      duration_ms: Math.round(performance.now() - started),
      handshake_probe_ms: conn ? Math.round(handshake * 100) / 100 : 0,
      ...(disk ?? { skipped: "the disk probe failed" }),
    };
  }
}

/** Writes, syncs, reads back and removes a probe file: MiB/s each way. */
function probeDisk(
  dir: string,
): { disk_write_mib_s: number; disk_read_mib_s: number } | undefined {
  const path = `${dir}/.self_check.probe`;
  const data = new Uint8Array(PROBE_BYTES);
  crypto.getRandomValues(data.subarray(0, 65536));
  try {
    const t0 = performance.now();
    const file = Deno.openSync(path, {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      let off = 0;
      while (off < data.length) off += file.writeSync(data.subarray(off));
      file.syncSync();
    } finally {
      file.close();
    }
    const t1 = performance.now();
    const back = Deno.readFileSync(path);
    const t2 = performance.now();
    if (back.length !== data.length) return undefined;
    const mib = PROBE_BYTES / 2 ** 20;
    const speed = (ms: number) => Math.round(mib / Math.max(ms, 0.01) * 1000);
    return {
      disk_write_mib_s: speed(t1 - t0),
      disk_read_mib_s: speed(t2 - t1),
    };
  } catch {
    return undefined;
  } finally {
    try {
      Deno.removeSync(path);
    } catch {
      // never made
    }
  }
}

/** The one-minute load average (0 where it can't be read). */
function systemLoad(): number {
  try {
    return Deno.loadavg()[0];
  } catch {
    return 0;
  }
}

/** Free bytes on the filesystem holding `dir`, where Deno can tell. */
function freeBytes(dir: string): number | undefined {
  try {
    const stats = statfsSync(dir);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}
