// blit diagnostics perf: the history this client and the daemon keep.
import { CliError, type CliIo, type Flags, remoteArg } from "./flags.ts";
import { hostPort, UsageError } from "../client/address.ts";
import { formatBytes } from "../ui/format.ts";
import {
  clearPerfHistory,
  type PerfRecord,
  readPerfHistory,
  sizeClass,
  stateDir,
} from "../telemetry/perf_history.ts";
import { clearSnapshots } from "../telemetry/snapshot_cache.ts";

export async function diagnostics(
  positionals: string[],
  flags: Flags,
  io: CliIo,
): Promise<number> {
  if (positionals[0] !== "perf") {
    throw new UsageError("diagnostics takes one topic: perf");
  }
  if (positionals.length > 2) {
    throw new UsageError(
      "diagnostics perf takes at most one address, blit://HOST[:PORT][/MODULE]",
    );
  }
  const address = positionals[1] === undefined
    ? undefined
    : remoteArg(positionals[1], flags, io, { moduleRequired: false });
  const dir = stateDir(io.env);
  const enabled = io.env.BLIT_DISABLE_PERF_HISTORY !== "1";
  if (flags.clear) {
    const runs = readPerfHistory(dir).length;
    clearPerfHistory(dir);
    // The daemons' snapshots as last fetched go too: the predictor starts
    // afresh.
    clearSnapshots(dir);
    io.stdout(
      `cleared the performance history (${
        plural(runs, "run")
      }): ${dir}/perf_history.jsonl\n`,
    );
    return 0;
  }
  const records = readPerfHistory(dir);
  const { predict } = await import("../telemetry/predictor.ts");
  const last = records.findLast((r) => r.remote !== null);
  const route = address
    ? hostPort(address.host, address.port)
    : last?.remote ?? undefined;
  const op = (last?.direction ?? last?.op) === "pull" ? "pull" : "push";
  const prediction = route ? predict({ records, route, op }) : {
    choice: {
      transport: "tcp" as const,
      streams: 1,
      reason: "no remote transfer in the history: the default",
    },
  };
  const remote = address &&
    await (await import("../client/perf_rpc.ts")).fetchPerfSnapshot(address);
  if (address && !remote) {
    throw new CliError(
      `the daemon at ${
        hostPort(address.host, address.port)
      } did not send its performance snapshot`,
    );
  }
  if (flags.json) {
    io.stdout(
      JSON.stringify({
        enabled,
        runs: records,
        predictor: prediction.choice,
        ...(remote
          ? {
            remote: {
              enabled: remote.enabled,
              runs: remote.runs,
              last_self_check: remote.lastSelfCheck ?? null,
            },
          }
          : {}),
      }) + "\n",
    );
    return 0;
  }
  io.stdout(
    `performance history: ${
      enabled ? "on" : "off (BLIT_DISABLE_PERF_HISTORY=1)"
    }, ${dir}/perf_history.jsonl (${plural(records.length, "run")})\n`,
  );
  const groups = new Map<string, { n: number; bytes: number; ms: number }>();
  for (const r of records) {
    const key = `${r.remote ?? "local"} ${r.direction ?? r.op} ${
      r.size_class ?? sizeClass(r.files, r.bytes)
    } over ${r.transport}`;
    const g = groups.get(key) ?? { n: 0, bytes: 0, ms: 0 };
    g.n++;
    g.bytes += r.bytes;
    g.ms += r.duration_ms;
    groups.set(key, g);
  }
  if (groups.size > 0) io.stdout("by route:\n");
  for (const [key, g] of groups) {
    const rate = g.ms > 0 ? `${formatBytes(g.bytes / (g.ms / 1000))}/s` : "-";
    io.stdout(
      `  ${key}: ${plural(g.n, "run")}, ${formatBytes(g.bytes)}, ${rate}\n`,
    );
  }
  if (records.length > 0) io.stdout("recent runs:\n");
  for (const r of records.slice(-10)) io.stdout(`  ${runLine(r)}\n`);
  io.stdout(
    `predictor${
      route ? ` (${route}, ${op})` : ""
    }: ${prediction.choice.transport}, ${
      plural(prediction.choice.streams, "stream")
    }: ${prediction.choice.reason}\n`,
  );
  if (prediction.stale) io.stderr(`blit: warning: ${prediction.stale}\n`);
  if (remote) {
    io.stdout(
      `daemon ${hostPort(address!.host, address!.port)}: history ${
        remote.enabled ? "on" : "off"
      }, ${plural(remote.runs.length, "run")}\n`,
    );
    for (const r of remote.runs.slice(-10)) io.stdout(`  ${runLine(r)}\n`);
    const check = remote.lastSelfCheck;
    io.stdout(
      check
        ? `  last self-check ${check.ts}: ${
          check.skipped
            ? `skipped, ${check.skipped}`
            : `handshake ${check.handshake_probe_ms} ms, disk write ${check.disk_write_mib_s} MiB/s, read ${check.disk_read_mib_s} MiB/s`
        }\n`
        : "  no self-check yet\n",
    );
  }
  return 0;
}

export function plural(n: number, word: string): string {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

function runLine(r: PerfRecord): string {
  return `${r.ts} ${r.op} ${r.transport}${r.fallback ? " (fallback)" : ""} ${
    plural(r.streams, "stream")
  } ${plural(r.files, "file")} ${formatBytes(r.bytes)} in ${r.duration_ms} ms${
    r.remote ? ` (${r.source === "client" ? "client " : ""}${r.remote})` : ""
  }`;
}
