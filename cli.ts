// `blit`: the command-line client (push, pull, copy, mirror, list, purge, ...).
import {
  hostPort,
  isRemote,
  parseRemote,
  type RemoteAddress,
  UsageError,
} from "./lib/client/address.ts";
import {
  type LocalCopyOptions,
  SourceNotFoundError,
} from "./lib/client/local_copy.ts";
import type { RemoteTransferOptions } from "./lib/client/remote.ts";
import { ProgressBar } from "./lib/ui/progress.ts";
import { formatBytes } from "./lib/ui/format.ts";
import { escapeControls } from "./lib/ui/escape.ts";
import { copy } from "./lib/client/copy.ts";
import {
  summaryJson,
  summaryLine,
  type TransferResult,
} from "./lib/client/summary.ts";
import { abortAllOpen } from "./lib/fs/atomic_file.ts";
import { parseRate } from "./lib/wire/bandwidth.ts";
import {
  commandHelp,
  COMMANDS,
  completions,
  mainHelp,
  parseCommandLine,
  seeHelp,
  valueOf,
} from "./lib/cli/args.ts";
import { PathEscapeError } from "./lib/fs/safe_path.ts";
import {
  appendPerfRecord,
  clearPerfHistory,
  type PerfRecord,
  readPerfHistory,
  type SizeClass,
  sizeClass,
  stateDir,
} from "./lib/telemetry/perf_history.ts";

import { VERSION } from "./lib/version.ts";

/** blit's version (lib/version.ts; deno.json says the same). */
export { VERSION };

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdinIsTerminal: boolean;
  stderrIsTerminal: boolean;
  prompt: (question: string) => string | null;
  env: Record<string, string | undefined>;
}

function defaultIo(): CliIo {
  const encoder = new TextEncoder();
  return {
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    stdinIsTerminal: Deno.stdin.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    prompt: (question) => globalThis.prompt(question),
    env: Deno.env.toObject(),
  };
}

interface Flags {
  mirror: boolean;
  dryRun: boolean;
  checksum: boolean;
  keepSpecialBits: boolean;
  forceGrpcData: boolean;
  /** Filter rules in command-line order (`+ GLOB` / `- GLOB`). */
  exclude: string[];
  streams: number;
  retries: number;
  json: boolean;
  progress: boolean;
  verbose: boolean;
  quiet: boolean;
  stats: boolean;
  yes: boolean;
  clear: boolean;
  help: boolean;
  version: boolean;
  secretFile?: string;
  tlsCa?: string;
  bwlimit?: number;
}

/** Rules from `--exclude-from FILE`: a glob a line, `#` comments. */
function rulesFrom(file: string): string[] {
  const text = readUserFile(file, "exclude file");
  const rules: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    rules.push(/^[+-] /.test(line) ? line : `- ${line}`);
  }
  return rules;
}

function parseFlags(
  args: string[],
  io: CliIo,
): { flags: Flags; command?: string; positionals: string[] } {
  const parsed = parseCommandLine(args);
  const has = (name: string) => parsed.flags.has(name);
  const integer = (name: string, min: number, max: number, dflt: number) => {
    const text = valueOf(parsed, name);
    if (text === undefined) return dflt;
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new UsageError(
        `--${name} must be a whole number from ${min} to ${max}, got ${
          JSON.stringify(text)
        }`,
      );
    }
    return Number(text);
  };
  // --exclude-from files are read in place, keeping the rules' order.
  const rules: string[] = [];
  const excludeFrom = [...(parsed.values.get("exclude-from") ?? [])];
  for (const rule of parsed.rules) {
    if (rule === "@from") rules.push(...rulesFrom(excludeFrom.shift()!));
    else rules.push(rule);
  }
  for (const rule of rules) {
    if (rule.slice(2).replaceAll("/", "") === "") {
      throw new UsageError(
        `--${
          rule.startsWith("+") ? "include" : "exclude"
        } needs a pattern, got ${JSON.stringify(rule.slice(2))}`,
      );
    }
  }
  const rateText = valueOf(parsed, "bwlimit");
  const bwlimit = rateText === undefined ? undefined : parseRate(rateText);
  if (rateText !== undefined && bwlimit === undefined) {
    throw new UsageError(
      `--bwlimit must be a rate in bytes per second like 10M or 500K, got ${
        JSON.stringify(rateText)
      }`,
    );
  }
  const json = has("json");
  const conflict = (a: string, b: string, why: string) => {
    if (has(a) && has(b)) {
      throw new UsageError(`--${a} and --${b} don't go together: ${why}`);
    }
  };
  conflict("progress", "json", "--json prints only the JSON summary");
  conflict("progress", "no-progress", "pick one");
  conflict("verbose", "json", "--json prints only the JSON summary");
  conflict("verbose", "quiet", "pick one");
  conflict("stats", "quiet", "--quiet prints errors only");
  conflict("stats", "json", "--json prints only the JSON summary");
  const quiet = has("quiet");
  const verbose = has("verbose");
  return {
    command: parsed.command,
    positionals: parsed.positionals,
    flags: {
      mirror: has("mirror"),
      dryRun: has("dry-run"),
      checksum: has("checksum"),
      keepSpecialBits: has("keep-special-bits"),
      forceGrpcData: has("force-grpc-data"),
      exclude: rules,
      streams: integer("streams", 1, 16, 0),
      retries: integer("retries", 0, 100, 3),
      json,
      // Listing lines go to stdout: no bar unless asked for.
      progress: !json && !quiet && !has("no-progress") &&
        (has("progress") || has("partial-progress") ||
          (io.stderrIsTerminal && !verbose)),
      verbose,
      quiet,
      stats: has("stats"),
      yes: has("yes"),
      clear: has("clear"),
      help: has("help"),
      version: has("version"),
      secretFile: valueOf(parsed, "secret-file"),
      tlsCa: valueOf(parsed, "tls-ca"),
      bwlimit,
    },
  };
}

/** A file the user named, or one line saying why it can't be read. */
function readUserFile(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Error
      ? error.message.replace(/:.*$/, "").replace(/\s*\(os error \d+\)$/, "")
        .toLowerCase()
      : String(error);
    throw new CliError(`cannot read ${what} ${path}: ${reason}`);
  }
}

/**
 * The module secret to present: `--secret-file FILE` (one trailing newline
 * dropped), else `BLIT_SECRET`, else none. Never from argv or the URL.
 */
function secretOf(flags: Flags, io: CliIo): string | undefined {
  if (flags.secretFile !== undefined) {
    const text = readUserFile(flags.secretFile, "secret file");
    const secret = text.replace(/\r?\n$/, "");
    if (secret === "") {
      throw new CliError(`secret file ${flags.secretFile} is empty`);
    }
    return secret;
  }
  const env = io.env.BLIT_SECRET;
  return env === undefined || env === "" ? undefined : env;
}

/** The CA to trust for `blits://`: `--tls-ca FILE`, else `BLIT_TLS_CA`. */
function tlsCaOf(flags: Flags, io: CliIo): string | undefined {
  const file = flags.tlsCa ?? (io.env.BLIT_TLS_CA || undefined);
  if (file === undefined) return undefined;
  const text = readUserFile(file, "TLS CA file");
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`TLS CA file ${file} holds no PEM certificate`);
  }
  return text;
}

/** A remote address from the command line, with the secret to present. */
function remoteArg(
  arg: string,
  flags: Flags,
  io: CliIo,
  options?: { moduleRequired?: boolean },
): RemoteAddress {
  const address = parseRemote(arg, options);
  const secret = secretOf(flags, io);
  const tlsCa = address.tls ? tlsCaOf(flags, io) : undefined;
  return {
    ...address,
    ...(secret === undefined ? {} : { secret }),
    ...(tlsCa === undefined ? {} : { tlsCa }),
  };
}

function expectArgs(
  command: string,
  positionals: string[],
  count: number,
  shape: string,
): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `${command} takes ${shape}; got ${positionals.length} argument${
        positionals.length === 1 ? "" : "s"
      }`,
    );
  }
}

/** `BLIT_PULL_WRITERS`: Workers writing a pull's small files (0-8), else the default. */
function pullWritersFromEnv(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 8) {
    throw new UsageError(
      `BLIT_PULL_WRITERS must be a whole number 0-8, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/** A failure the user can act on; the CLI prints its message and exits 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

async function transfer(
  op: "push" | "pull" | "copy" | "mirror",
  src: string,
  dst: string,
  flags: Flags,
  io: CliIo,
): Promise<number> {
  const mirror = flags.mirror || op === "mirror";
  const started = performance.now();
  const srcRemote = isRemote(src);
  const dstRemote = isRemote(dst);
  if (op === "push" && (srcRemote || !dstRemote)) {
    throw new UsageError(
      "push takes LOCAL REMOTE, e.g. blit push ./dir blit://host/module/path",
    );
  }
  if (op === "pull" && (!srcRemote || dstRemote)) {
    throw new UsageError(
      "pull takes REMOTE LOCAL, e.g. blit pull blit://host/module/path ./dir",
    );
  }
  if (srcRemote && dstRemote) {
    throw new UsageError(
      "copying from one daemon to another is not supported; pull then push",
    );
  }
  const srcAddr = srcRemote ? remoteArg(src, flags, io) : undefined;
  const dstAddr = dstRemote ? remoteArg(dst, flags, io) : undefined;
  const options = {
    mirror,
    dryRun: flags.dryRun,
    checksum: flags.checksum,
    keepSpecialBits: flags.keepSpecialBits,
    forceGrpcData: flags.forceGrpcData,
    zeroCopy: io.env.BLIT_ZERO_COPY !== "0",
    writers: pullWritersFromEnv(io.env.BLIT_PULL_WRITERS),
    secret: srcAddr?.secret ?? dstAddr?.secret,
    tlsCa: srcAddr?.tlsCa ?? dstAddr?.tlsCa,
    exclude: flags.exclude,
    streams: flags.streams,
    bwlimit: flags.bwlimit,
    retries: flags.retries,
    warn: (line: string) => {
      if (flags.quiet) return;
      bar?.stop();
      io.stderr(`blit: warning: ${escapeControls(line)}\n`);
      bar?.start();
    },
    // -v, and a dry run's listing: `+ path` / `- path` on stdout.
    onItem: (flags.verbose || (flags.dryRun && !flags.json && !flags.quiet))
      ? (sign: "+" | "-", path: string) => {
        bar?.stop();
        io.stdout(`${sign} ${escapeControls(path)}\n`);
        bar?.start();
      }
      : undefined,
    progress: undefined as ProgressBar | undefined,
    onFile: undefined as
      | ((entry: { size: number; kind: string }) => void)
      | undefined,
  };
  const bar = flags.progress
    ? new ProgressBar({
      write: io.stderr,
      onStall: (seconds) =>
        options.warn(
          `no progress for ${seconds} s; still waiting on ${
            srcAddr || dstAddr ? "the daemon" : "the disk"
          }`,
        ),
    })
    : undefined;
  if (bar) {
    options.progress = bar;
    if (!srcAddr && !dstAddr) bar.route("local", 1);
    options.onFile = (entry) => {
      bar.file();
      if (entry.kind === "file") bar.bytes(entry.size);
    };
    bar.start();
    activeBar = bar;
  }
  try {
    return await runTransfer({
      op,
      src,
      dst,
      flags,
      io,
      options,
      srcAddr,
      dstAddr,
      mirror,
      started,
    });
  } finally {
    bar?.stop();
    activeBar = undefined;
  }
}

/** The bar on screen, cleared before an interruption's error line. */
let activeBar: ProgressBar | undefined;

/** Everything one transfer needs, resolved from the command line. */
interface TransferPlan {
  op: "push" | "pull" | "copy" | "mirror";
  src: string;
  dst: string;
  flags: Flags;
  io: CliIo;
  options: LocalCopyOptions & RemoteTransferOptions;
  srcAddr: RemoteAddress | undefined;
  dstAddr: RemoteAddress | undefined;
  mirror: boolean;
  started: number;
}

async function runTransfer(plan: TransferPlan): Promise<number> {
  const {
    op,
    src,
    dst,
    flags,
    io,
    options,
    srcAddr,
    dstAddr,
    mirror,
    started,
  } = plan;
  if (!srcAddr && !dstAddr && flags.forceGrpcData && !flags.quiet) {
    io.stderr(
      "blit: warning: --force-grpc-data has no effect on a local copy\n",
    );
  }
  if (!srcAddr && !dstAddr && flags.bwlimit !== undefined && !flags.quiet) {
    io.stderr(
      "blit: warning: --bwlimit applies to remote transfers; a local copy is not limited\n",
    );
  }
  const historyOn = io.env.BLIT_DISABLE_PERF_HISTORY !== "1";
  const daemon = dstAddr ?? srcAddr;
  // The predictor's choice (or the flags'), from the local history and
  // the daemon's snapshot; never fails or stalls a transfer.
  // Loaded only for remote transfers (gRPC is heavy to load).
  const tuningLib = daemon && await import("./lib/client/tuning.ts");
  const tuning = tuningLib && daemon && !flags.dryRun
    ? await tuningLib.tune(
      daemon,
      dstAddr ? "push" : "pull",
      {
        streams: flags.streams,
        forceGrpcData: flags.forceGrpcData,
      },
      historyOn ? stateDir(io.env) : undefined,
      sizeHintOf(dstAddr && src),
    )
    : undefined;
  if (tuning) {
    if (tuning.warning) options.warn?.(tuning.warning);
    options.forceGrpcData = tuning.choice.transport === "grpc";
    options.streams = tuning.choice.transport === "tcp"
      ? tuning.choice.streams
      : 0;
  }
  let result: TransferResult;
  try {
    result = await copy(src, dst, options);
  } catch (error) {
    if (error instanceof SourceNotFoundError) {
      throw new CliError(error.message);
    }
    throw error;
  }
  const elapsed = performance.now() - started;
  const name = op === "copy" && mirror ? "mirror" : op;
  if (historyOn && !flags.dryRun) {
    const { historyLine, uploadPerf } = await import(
      "./lib/client/tuning.ts"
    );
    const line = historyLine(name, result, elapsed, tuning);
    appendPerfRecord(stateDir(io.env), line);
    // The daemon keeps it too (best effort, bounded wait).
    if (daemon) await uploadPerf(daemon, line);
  }
  if (tuning) result.predictor = tuning.choice;
  // The bar's line is cleared first: the summary is a line of its own.
  activeBar?.stop();
  if (flags.json) io.stdout(summaryJson(name, result, elapsed) + "\n");
  else if (!flags.quiet) {
    io.stdout(summaryLine(name, result, elapsed, flags.dryRun) + "\n");
  }
  if (flags.stats) io.stdout(statsLines(result, elapsed, flags.dryRun));
  return 0;
}

/** `--stats`: the totals, a few lines (rsync's spirit). */
function statsLines(
  result: TransferResult,
  elapsedMs: number,
  dryRun: boolean,
): string {
  const seconds = elapsedMs / 1000;
  const would = dryRun ? " (dry run: would be)" : "";
  return [
    `Files transferred${would}: ${
      result.filesTransferred.toLocaleString("en")
    }`,
    `Files unchanged: ${result.filesSkipped.toLocaleString("en")}`,
    `Files deleted${would}: ${result.filesDeleted.toLocaleString("en")}`,
    `Bytes transferred${would}: ${
      result.bytesTransferred.toLocaleString("en")
    } (${formatBytes(result.bytesTransferred)})`,
    `Bytes resumed: ${(result.bytesResumed ?? 0).toLocaleString("en")}`,
    `Transport: ${result.transport}, ${plural(result.streams, "stream")}${
      result.fallback ? " (fallback)" : ""
    }; ${plural(result.retries, "retry")}`.replace("retrys", "retries"),
    `Elapsed: ${seconds.toFixed(2)} s (${
      formatBytes(result.bytesTransferred / Math.max(seconds, 0.001))
    }/s)`,
    "",
  ].join("\n");
}

/** A single local file's size class, for the predictor (a tree: none). */
function sizeHintOf(local: string | undefined): SizeClass | undefined {
  if (!local) return undefined;
  try {
    const info = Deno.statSync(local);
    return info.isFile ? sizeClass(1, info.size) : undefined;
  } catch {
    return undefined;
  }
}

function formatMtime(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

async function list(
  target: RemoteAddress,
  flags: Flags,
  io: CliIo,
): Promise<number> {
  const remote = await import("./lib/client/remote.ts");
  const listing = await remote.listRemote(target);
  if (flags.json) {
    io.stdout(
      JSON.stringify(listing.entries.map((e) => ({
        name: e.name,
        is_dir: e.isDir,
        is_symlink: e.isSymlink,
        size: e.size,
        mtime: Math.floor(e.mtimeMs / 1000),
      }))) + "\n",
    );
    return 0;
  }
  const lines = listing.entries.map((e) => {
    const kind = e.isDir ? "dir " : e.isSymlink ? "link" : "file";
    const name = e.isDir
      ? `${escapeControls(e.name)}/`
      : e.isSymlink
      ? `${escapeControls(e.name)} -> ${escapeControls(e.linkTarget ?? "")}`
      : escapeControls(e.name);
    return `${kind}  ${formatBytes(e.size).padStart(10)}  ${
      formatMtime(e.mtimeMs)
    }  ${name}`;
  });
  io.stdout(lines.length > 0 ? lines.join("\n") + "\n" : "");
  return 0;
}

async function purge(
  target: RemoteAddress,
  flags: Flags,
  io: CliIo,
  raw: string,
): Promise<number> {
  const remote = await import("./lib/client/remote.ts");
  const isRoot = target.path === "";
  if (isRoot && !flags.yes) {
    throw new UsageError(
      `purging the root of module ${target.module} empties it; add --yes to confirm`,
    );
  }
  if (!flags.yes && !flags.dryRun) {
    const listing = await remote.listRemote(target);
    if (listing.pathIsDir) {
      if (!io.stdinIsTerminal) {
        throw new UsageError(
          `${raw} is a directory; add --yes to purge it without a terminal`,
        );
      }
      const answer = io.prompt(`Delete ${raw} and everything under it? [y/N]`);
      if (answer === null || !/^y(es)?$/i.test(answer.trim())) {
        io.stderr("blit: purge cancelled\n");
        return 1;
      }
    }
  }
  const counts = await remote.purgeRemote(target, {
    dryRun: flags.dryRun,
    allowRoot: isRoot,
  });
  if (flags.json) {
    io.stdout(
      JSON.stringify({
        op: "purge",
        files_deleted: counts.filesDeleted,
        dirs_deleted: counts.dirsDeleted,
        dry_run: flags.dryRun,
      }) + "\n",
    );
  } else if (!flags.quiet) {
    io.stdout(
      `purge${flags.dryRun ? " (dry run)" : ""}: ${
        plural(counts.filesDeleted, "file")
      } and ${
        plural(counts.dirsDeleted, "directory").replace(
          "directorys",
          "directories",
        )
      } ${flags.dryRun ? "would be " : ""}deleted\n`,
    );
  }
  return 0;
}

async function modules(arg: string, flags: Flags, io: CliIo): Promise<number> {
  const address = remoteArg(arg, flags, io, { moduleRequired: false });
  const remote = await import("./lib/client/remote.ts");
  const found = await remote.listModules(address);
  if (flags.json) {
    io.stdout(
      JSON.stringify(
        // A protected module shows its name and that it needs a secret.
        found.map((m) =>
          m.auth ? { name: m.name, auth: true } : {
            name: m.name,
            read_only: m.readOnly,
            comment: m.comment,
            auth: false,
          }
        ),
      ) + "\n",
    );
  } else {
    for (const m of found) {
      io.stdout(
        m.auth
          ? `${escapeControls(m.name)} (secret required)\n`
          : `${escapeControls(m.name)}${m.readOnly ? " (read-only)" : ""}${
            m.comment ? `  ${escapeControls(m.comment)}` : ""
          }\n`,
      );
    }
  }
  return 0;
}

async function diagnostics(
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
    io.stdout(
      `cleared the performance history (${
        plural(runs, "run")
      }): ${dir}/perf_history.jsonl\n`,
    );
    return 0;
  }
  const records = readPerfHistory(dir);
  const { predict } = await import("./lib/telemetry/predictor.ts");
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
    await (await import("./lib/client/remote.ts")).fetchPerfSnapshot(address);
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

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

function runLine(r: PerfRecord): string {
  return `${r.ts} ${r.op} ${r.transport}${r.fallback ? " (fallback)" : ""} ${
    plural(r.streams, "stream")
  } ${plural(r.files, "file")} ${formatBytes(r.bytes)} in ${r.duration_ms} ms${
    r.remote ? ` (${r.source === "client" ? "client " : ""}${r.remote})` : ""
  }`;
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof Deno.errors.NotFound) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs the CLI on `args` and returns the exit status (0, 1 or 2).
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * let out = "";
 * const code = await main(["--version"], { stdout: (t) => out += t, stderr: () => {}, stdinIsTerminal: false, stderrIsTerminal: false, prompt: () => null, env: {} });
 * if (!(code === 0 && out.startsWith("blit "))) throw new Error("example failed");
 * ```
 */
export async function main(
  args: string[],
  io: CliIo = defaultIo(),
): Promise<number> {
  try {
    const { flags, command, positionals: rest } = parseFlags(args, io);
    if (flags.version || command === "version") {
      if (command === "version") expectArgs(command, rest, 0, "no arguments");
      io.stdout(`blit ${VERSION}\n`);
      return 0;
    }
    if (command === undefined) {
      if (flags.help) {
        io.stdout(mainHelp(VERSION) + "\n");
        return 0;
      }
      io.stderr(mainHelp(VERSION) + "\n");
      return 2;
    }
    if (!COMMANDS[command]) {
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
    if (command === "help") {
      if (rest.length > 1) expectArgs(command, rest, 1, "one command");
      io.stdout(
        (rest.length === 0 ? mainHelp(VERSION) : commandHelp(rest[0])) + "\n",
      );
      return 0;
    }
    if (flags.help) {
      io.stdout(commandHelp(command) + "\n");
      return 0;
    }
    switch (command) {
      case "push":
      case "pull":
      case "copy":
      case "mirror":
        expectArgs(
          command,
          rest,
          2,
          command === "push"
            ? "LOCAL REMOTE"
            : command === "pull"
            ? "REMOTE LOCAL"
            : "SRC DST",
        );
        return await transfer(command, rest[0], rest[1], flags, io);
      case "list":
        expectArgs(command, rest, 1, "REMOTE");
        return await list(remoteArg(rest[0], flags, io), flags, io);
      case "purge":
        expectArgs(command, rest, 1, "REMOTE");
        return await purge(remoteArg(rest[0], flags, io), flags, io, rest[0]);
      case "modules":
        expectArgs(command, rest, 1, "blit://HOST[:PORT]");
        return await modules(rest[0], flags, io);
      case "diagnostics":
        if (rest.length < 1) expectArgs(command, rest, 1, "a topic (perf)");
        return await diagnostics(rest, flags, io);
      case "completions":
        expectArgs(command, rest, 1, "a shell: bash, zsh or fish");
        io.stdout(completions(rest[0]));
        return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    abortAllOpen({ keepPartials: true });
    if (error instanceof UsageError) {
      // The command the user meant, for the pointer to its help.
      const command = args.find((a) => COMMANDS[a] !== undefined);
      io.stderr(
        `blit: error: ${escapeControls(error.message)} ${seeHelp(command)}\n`,
      );
      return 2;
    }
    if (error instanceof PathEscapeError) {
      io.stderr(`blit: error: ${escapeControls(error.message)}\n`);
      return 1;
    }
    io.stderr(`blit: error: ${escapeControls(describe(error))}\n`);
    if (io.env.BLIT_DEBUG === "1" && error instanceof Error) {
      io.stderr(`${error.stack}\n`);
    }
    return 1;
  }
}

if (import.meta.main) {
  const stop = () => {
    activeBar?.stop();
    // Big files' partial copies stay: running the command again resumes them.
    const { kept } = abortAllOpen({ keepPartials: true });
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `blit: error: interrupted${
          kept > 0
            ? `; kept ${kept} partial ${
              kept === 1 ? "file" : "files"
            } (run the same command again to resume)`
            : ""
        }\n`,
      ),
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.exit(await main(Deno.args));
}

export { hostPort };
