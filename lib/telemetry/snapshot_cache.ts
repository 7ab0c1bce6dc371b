// The daemons' performance snapshots as last fetched, kept in the client's
// state directory: a transfer's predictor reads the one of its route and
// module from here at once, and the transfer fetches a fresh one on its
// own connection without waiting for it (kept for the next run).
import { normalizeRecord, type PerfRecord } from "./perf_history.ts";

/** The file, in the client's state directory. */
export const SNAPSHOT_FILE = "perf_snapshots.json";
/** Routes and modules kept (the most recently fetched). */
export const SNAPSHOTS_KEPT = 16;
/** Runs kept a snapshot (a daemon sends at most 200). */
export const SNAPSHOT_RUNS = 200;
/**
 * A kept snapshot younger than this is not fetched again (other clients'
 * runs change slowly; a fetch on every run cost a short transfer its
 * round trip at the end).
 */
export const SNAPSHOT_FRESH_MS = 5 * 60_000;

/** What the predictor uses of a daemon's snapshot. */
export interface CachedSnapshot {
  /** Whether the daemon keeps a history. */
  enabled: boolean;
  /** Its recent runs for the module, oldest first. */
  runs: PerfRecord[];
  /** When it was fetched (ms since the epoch; set when kept). */
  fetched?: number;
}

interface Stored {
  fetched: number;
  enabled: boolean;
  runs: unknown[];
}

/** The key of `route`'s `module` in the file. */
function keyOf(route: string, module: string): string {
  return `${route}/${module}`;
}

/**
 * A file bigger than this is not read (what blit writes stays under ~2
 * MiB): a command's start-up never parses more.
 */
const SNAPSHOT_FILE_MAX = 4 << 20;

function readAll(dir: string): Record<string, Stored> {
  try {
    const path = `${dir}/${SNAPSHOT_FILE}`;
    if (Deno.statSync(path).size > SNAPSHOT_FILE_MAX) return {};
    const raw = JSON.parse(Deno.readTextFileSync(path));
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return {};
    }
    const out: Record<string, Stored> = {};
    for (const [key, value] of Object.entries(raw)) {
      const v = value as Partial<Stored> | null;
      if (
        typeof v === "object" && v !== null &&
        typeof v.fetched === "number" && typeof v.enabled === "boolean" &&
        Array.isArray(v.runs)
      ) out[key] = { fetched: v.fetched, enabled: v.enabled, runs: v.runs };
    }
    return out;
  } catch {
    return {}; // none yet, unreadable or torn: as if none
  }
}

/**
 * The snapshot of `route`'s `module` kept in `dir`, or undefined when
 * none is (or the file can't be read); runs that are not valid history
 * records are left out.
 *
 * Permissions: read on `dir`.
 *
 * @example
 * ```ts
 * import { readCachedSnapshot, saveSnapshot } from "./snapshot_cache.ts";
 * const dir = Deno.makeTempDirSync();
 * const run = { ts: "2026-01-01T00:00:00.000Z", op: "push", transport: "tcp" as const, streams: 2, files: 1, bytes: 9, duration_ms: 5, remote: null, handshake_ms: 0, manifest_ms: 0, transfer_ms: 5, retries: 0, fallback: false };
 * saveSnapshot(dir, "h:1", "m", { enabled: true, runs: [run] });
 * if (readCachedSnapshot(dir, "h:1", "m")?.runs[0].streams !== 2) throw new Error("example failed");
 * if (readCachedSnapshot(dir, "h:1", "other") !== undefined) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function readCachedSnapshot(
  dir: string,
  route: string,
  module: string,
): CachedSnapshot | undefined {
  const stored = readAll(dir)[keyOf(route, module)];
  if (!stored) return undefined;
  const runs: PerfRecord[] = [];
  for (const raw of stored.runs.slice(-SNAPSHOT_RUNS)) {
    const record = normalizeRecord(raw);
    if (record) runs.push(record);
  }
  return { enabled: stored.enabled, runs, fetched: stored.fetched };
}

/**
 * Keeps `snapshot` as `route`'s `module`'s in `dir` (its last
 * {@linkcode SNAPSHOT_RUNS} runs; of all routes and modules, the
 * {@linkcode SNAPSHOTS_KEPT} fetched last), written whole to a temporary
 * file and renamed over the old one. Whether it was written: a failure
 * never fails a transfer.
 *
 * Permissions: read and write on `dir`.
 */
export function saveSnapshot(
  dir: string,
  route: string,
  module: string,
  snapshot: CachedSnapshot,
): boolean {
  try {
    const all = readAll(dir);
    // Later than every other kept (two fetches in one millisecond too):
    // the oldest fetched is the one dropped.
    let fetched = Date.now();
    for (const stored of Object.values(all)) {
      if (stored.fetched >= fetched) fetched = stored.fetched + 1;
    }
    all[keyOf(route, module)] = {
      fetched,
      enabled: snapshot.enabled,
      runs: snapshot.runs.slice(-SNAPSHOT_RUNS),
    };
    const kept = Object.entries(all)
      .sort((a, b) => b[1].fetched - a[1].fetched)
      .slice(0, SNAPSHOTS_KEPT);
    Deno.mkdirSync(dir, { recursive: true });
    const path = `${dir}/${SNAPSHOT_FILE}`;
    const tmp = `${path}.${Deno.pid}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify(Object.fromEntries(kept)));
      Deno.renameSync(tmp, path);
    } catch (error) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // never made
      }
      throw error;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Forgets every kept snapshot (with the local history, by `blit
 * diagnostics perf --clear`); whether there was a file to remove.
 *
 * Permissions: write on `dir`.
 */
export function clearSnapshots(dir: string): boolean {
  try {
    Deno.removeSync(`${dir}/${SNAPSHOT_FILE}`);
    return true;
  } catch {
    return false;
  }
}
