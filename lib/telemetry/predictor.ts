// The predictor: from the history of a route, the stream count and
// transport for the next transfer on it.
import { type PerfRecord, type SizeClass, sizeClass } from "./perf_history.ts";

/** What a transfer runs with, and why. */
export interface Choice {
  /** The data path: the TCP data plane, or bytes over the gRPC call. */
  transport: "tcp" | "grpc";
  /** Data streams asked for (the daemon caps it). */
  streams: number;
  /** One line saying why, for `--json` and `diagnostics perf`. */
  reason: string;
}

/** What the predictor knows about the next transfer. */
export interface PredictInput {
  /** History lines: local ones and the daemon's snapshot. */
  records: readonly PerfRecord[];
  /** The daemon, `HOST:PORT`. */
  route: string;
  /** `push` or `pull`. */
  op: string;
  /** The transfer's size class when known (else the route's last one). */
  sizeClass?: SizeClass;
  /** Now, ms since the epoch. Default: `Date.now()`. */
  now?: number;
}

/** What {@linkcode predict} decided. */
export interface Prediction {
  /** The choice. */
  choice: Choice;
  /**
   * Set when the route has history but all of it is older than
   * {@linkcode STALE_DAYS}: it was ignored (say so once, as a warning).
   */
  stale?: string;
}

/** History older than this many days is not used. */
export const STALE_DAYS = 30;
/** Every this many runs of a route and class, a neighbour choice is tried. */
export const EXPLORE_EVERY = 5;
/** Stream counts the predictor chooses among. */
export const STREAM_CHOICES: readonly number[] = [1, 2, 4];
/** Weight of the newest run in an estimate (exponentially weighted). */
const ALPHA = 0.5;
/**
 * Weight of this client's own runs against other clients' where a choice
 * has both (other clients' links and disks may be nothing like its own);
 * from {@linkcode OWN_ENOUGH} runs of its own, other clients' don't count.
 */
const OWN_WEIGHT = 0.8;
const OWN_ENOUGH = 3;

const DEFAULT: Choice = {
  transport: "tcp",
  streams: 1,
  reason: "no history for this route: the default, TCP with 1 stream",
};

interface Arm {
  transport: "tcp" | "grpc";
  streams: number;
  runs: number;
  /** Bytes per second, exponentially weighted (newest counts most). */
  estimate: number;
  /** The same over this client's own runs, and their count. */
  own: number;
  ownRuns: number;
  /** The same over other clients' runs (the daemon's snapshot). */
  others: number;
  othersRuns: number;
  /** Whether its newest run fell back from TCP to gRPC. */
  fellBack: boolean;
}

const NO_RUNS = {
  runs: 0,
  estimate: 0,
  fellBack: false,
  own: 0,
  ownRuns: 0,
  others: 0,
  othersRuns: 0,
};

function armKey(transport: string, streams: number): string {
  return `${transport}:${streams}`;
}

/**
 * The stream count and transport for the next transfer on `route`: an
 * exponentially weighted throughput estimate per choice (TCP with 1, 2 or
 * 4 streams; gRPC), from the runs of the same operation and size class
 * within the last {@linkcode STALE_DAYS} days; the best estimate wins,
 * except every {@linkcode EXPLORE_EVERY}th run, which tries the least-run
 * neighbour of the best stream count (so a better choice can be found),
 * unless this client's last run of the class went as a delta (the next
 * likely does too, and a delta's time is not learned from). A
 * route whose last TCP attempt fell back to gRPC goes to gRPC directly
 * (no dial timeout), retrying TCP when exploring. No usable history: TCP
 * with 1 stream. Other clients' runs (`"source": "client"`, from the
 * daemon's snapshot) count where this client has fewer than 3 runs of a
 * choice, at a fifth of the weight once it has any; without a size class
 * given, this client's own last run sets it. Never throws on odd records
 * (they are skipped).
 *
 * @example
 * ```ts
 * import { predict } from "./predictor.ts";
 * const run = (streams: number, ms: number) => ({ ts: new Date().toISOString(), op: "push", transport: "tcp" as const, streams, files: 1, bytes: 1 << 30, duration_ms: ms, remote: "h:1", handshake_ms: 0, manifest_ms: 0, transfer_ms: ms, retries: 0, fallback: false });
 * const p = predict({ records: [run(1, 4000), run(4, 1000)], route: "h:1", op: "push" });
 * if (p.choice.streams !== 4) throw new Error("example failed");
 * ```
 */
export function predict(input: PredictInput): Prediction {
  const now = input.now ?? Date.now();
  const oldest = now - STALE_DAYS * 24 * 3600 * 1000;
  const route = input.records.filter((r) =>
    r.remote === input.route && (r.direction ?? r.op) === input.op &&
    (r.transport === "tcp" || r.transport === "grpc") &&
    // A delta's time is the old copies' reading, not the streams'; a
    // limited run's is the limit's.
    !r.delta && !r.bwlimit &&
    r.bytes > 0 && r.duration_ms > 0 && Number.isFinite(Date.parse(r.ts))
  ).sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
  const fresh = route.filter((r) => Date.parse(r.ts) >= oldest);
  if (fresh.length === 0) {
    if (route.length === 0) return { choice: DEFAULT };
    const days = Math.floor((now - Date.parse(route.at(-1)!.ts)) / 86_400_000);
    return {
      choice: {
        ...DEFAULT,
        reason: `history for this route is ${days} days old: the default`,
      },
      stale:
        `the performance history for ${input.route} is older than ${STALE_DAYS} days (${days} days); ignoring it`,
    };
  }
  // Without a class from the transfer itself, this client's own last run
  // says it (another client's, from the daemon's snapshot, may be
  // anything).
  const wanted = input.sizeClass ??
    classOf((fresh.findLast((r) => r.source !== "client") ?? fresh.at(-1))!);
  const inClass = fresh.filter((r) => classOf(r) === wanted);
  const runs = inClass.length > 0 ? inClass : fresh;
  const arms = new Map<string, Arm>();
  for (const s of STREAM_CHOICES) {
    arms.set(armKey("tcp", s), {
      transport: "tcp",
      streams: s,
      ...NO_RUNS,
    });
  }
  arms.set(armKey("grpc", 1), {
    transport: "grpc",
    streams: 1,
    ...NO_RUNS,
  });
  let lastTcpFellBack = false;
  for (const r of runs) {
    // A fallback was a TCP attempt (its time includes the failed dial).
    const transport = r.fallback ? "tcp" : r.transport as "tcp" | "grpc";
    const streams = transport === "grpc" ? 1 : nearest(r.streams);
    const arm = arms.get(armKey(transport, streams))!;
    const rate = r.bytes / (r.duration_ms / 1000);
    // This client's runs and other clients' (uploaded to the daemon, in
    // its snapshot) are kept apart: its own weigh most (below).
    if (r.source === "client") {
      arm.others = arm.othersRuns === 0
        ? rate
        : ALPHA * rate + (1 - ALPHA) * arm.others;
      arm.othersRuns++;
    } else {
      arm.own = arm.ownRuns === 0 ? rate : ALPHA * rate + (1 - ALPHA) * arm.own;
      arm.ownRuns++;
    }
    arm.estimate = arm.ownRuns === 0
      ? arm.others
      : arm.othersRuns === 0 || arm.ownRuns >= OWN_ENOUGH
      ? arm.own
      : OWN_WEIGHT * arm.own + (1 - OWN_WEIGHT) * arm.others;
    arm.runs++;
    arm.fellBack = r.fallback;
    if (transport === "tcp") lastTcpFellBack = r.fallback;
  }
  const tried = [...arms.values()].filter((a) => a.runs > 0);
  const label = `${runs.length} ${wanted} ${input.op} run${
    runs.length === 1 ? "" : "s"
  } on this route`;
  // A transfer whose last run of its class here (this client's) went as a
  // delta likely goes as one again: its time is the old copies' reading,
  // not the streams', and is not learned from. It does not explore: else,
  // the runs that count not advancing, every such transfer would.
  let lastOwn: PerfRecord | undefined;
  for (const r of input.records) {
    const at = Date.parse(r.ts);
    if (
      r.remote === input.route && (r.direction ?? r.op) === input.op &&
      r.source !== "client" && Number.isFinite(at) && at >= oldest &&
      classOf(r) === wanted &&
      (lastOwn === undefined || at >= Date.parse(lastOwn.ts))
    ) lastOwn = r;
  }
  const exploring = !lastOwn?.delta &&
    runs.length % EXPLORE_EVERY === EXPLORE_EVERY - 1;
  if (lastTcpFellBack) {
    if (exploring) {
      return {
        choice: {
          transport: "tcp",
          streams: 1,
          reason:
            `exploring: trying the TCP data plane again (it was unreachable before; ${label})`,
        },
      };
    }
    return {
      choice: {
        transport: "grpc",
        streams: 1,
        reason:
          `the TCP data plane was unreachable on the last attempt: gRPC directly (${label})`,
      },
    };
  }
  const tcp = tried.filter((a) => a.transport === "tcp" && !a.fellBack);
  if (tcp.length === 0) return { choice: DEFAULT };
  const best = tcp.reduce((a, b) => (b.estimate > a.estimate ? b : a));
  if (exploring) {
    const at = STREAM_CHOICES.indexOf(best.streams);
    const neighbours = [STREAM_CHOICES[at - 1], STREAM_CHOICES[at + 1]]
      .filter((s) => s !== undefined)
      .map((s) => arms.get(armKey("tcp", s))!)
      .sort((a, b) => a.runs - b.runs || a.streams - b.streams);
    const next = neighbours[0];
    if (next) {
      return {
        choice: {
          transport: "tcp",
          streams: next.streams,
          reason: `exploring: ${next.streams} stream${
            next.streams === 1 ? "" : "s"
          } (tried ${next.runs} times; best so far ${best.streams} at ${
            rate(best.estimate)
          }; ${label})`,
        },
      };
    }
  }
  return {
    choice: {
      transport: "tcp",
      streams: best.streams,
      reason: `${best.streams} stream${best.streams === 1 ? "" : "s"} ${
        tcp.length > 1 ? "measured fastest" : "measured"
      }: ${rate(best.estimate)} (${
        tcp.map((a) => `${a.streams}: ${rate(a.estimate)}`).join(", ")
      }; ${label})`,
    },
  };
}

/** The stream choice nearest to `streams` (1, 2 or 4). */
function nearest(streams: number): number {
  let best = STREAM_CHOICES[0];
  for (const s of STREAM_CHOICES) {
    if (Math.abs(s - streams) < Math.abs(best - streams)) best = s;
  }
  return best;
}

function classOf(r: PerfRecord): SizeClass {
  return r.size_class ?? sizeClass(r.files, r.bytes);
}

function rate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 2 ** 20).toFixed(0)} MiB/s`;
}
