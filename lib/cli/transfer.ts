// blit push, pull, copy and mirror: the flags as transfer options, the
// predictor's choice, the progress bar, the summary and the history line.
import {
  CliError,
  type CliIo,
  type Flags,
  pullWritersFromEnv,
  remoteArg,
} from "./flags.ts";
import { plural } from "./diagnostics.ts";
import { isRemote, type RemoteAddress, UsageError } from "../client/address.ts";
import type { LocalCopyOptions } from "../client/local_copy.ts";
import { SourceNotFoundError } from "../client/placement.ts";
import type { RemoteTransferOptions } from "../client/transfer_call.ts";
import { ProgressBar } from "../ui/progress.ts";
import { formatBytes } from "../ui/format.ts";
import { escapeControls } from "../ui/escape.ts";
import { copy } from "../client/copy.ts";
import {
  summaryJson,
  summaryLine,
  type TransferResult,
} from "../client/summary.ts";
import {
  appendPerfRecord,
  type SizeClass,
  sizeClass,
  stateDir,
} from "../telemetry/perf_history.ts";
import { preciseLstat } from "../fs/native_stat.ts";

export async function transfer(
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
    zeroCopy: io.env.BLIT_ZERO_COPY === "0"
      ? false
      : io.env.BLIT_ZERO_COPY === "1"
      ? true
      : undefined,
    writers: pullWritersFromEnv(io.env.BLIT_PULL_WRITERS),
    secret: srcAddr?.secret ?? dstAddr?.secret,
    tlsCa: srcAddr?.tlsCa ?? dstAddr?.tlsCa,
    exclude: flags.exclude,
    streams: flags.streams,
    bwlimit: flags.bwlimit,
    delta: flags.delta,
    linkBytesPerS: undefined as number | undefined,
    hashHints: false,
    compress: flags.compress,
    compressLevel: flags.compressLevel,
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
  const daemon = dstAddr ?? srcAddr;
  // One connection for the daemon's snapshot, the transfer and the upload.
  // Dialled now (for a push, when there is something to send): the
  // connection is made while the transfer's code loads.
  const release = daemon &&
    (await import("../client/shared_client.ts")).holdConnection(daemon, {
      dial: !dstAddr || exists(src),
    });
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
    release?.();
    bar?.stop();
    activeBar = undefined;
  }
}

/** The bar on screen, cleared before an interruption's error line. */
let activeBar: ProgressBar | undefined;

/** Stops the progress bar of a transfer in progress (on a signal). */
export function stopProgress(): void {
  activeBar?.stop();
}

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

/** The predictor's choice, the transfer, its summary and history line. */
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
  if (
    !srcAddr && !dstAddr && !flags.quiet &&
    (flags.delta === "on" || flags.compress === "on" ||
      flags.compressLevel !== undefined)
  ) {
    io.stderr(
      "blit: warning: --no-whole-file, --compress and --compress-level apply to remote transfers; a local copy copies whole files\n",
    );
  }
  const historyOn = io.env.BLIT_DISABLE_PERF_HISTORY !== "1";
  const daemon = dstAddr ?? srcAddr;
  // The predictor's choice (or the flags'), from the local history and
  // the daemon's snapshot as last fetched; never fails or stalls a
  // transfer. Loaded only for remote transfers (gRPC is heavy to load).
  const tuningLib = daemon && await import("../client/tuning.ts");
  const historyDir = historyOn ? stateDir(io.env) : undefined;
  const tuning = tuningLib && daemon && !flags.dryRun
    ? tuningLib.tune(
      daemon,
      dstAddr ? "push" : "pull",
      {
        streams: flags.streams,
        forceGrpcData: flags.forceGrpcData,
      },
      historyDir,
      () => sizeHintOf(dstAddr && src),
    )
    : undefined;
  if (tuning) {
    if (tuning.warning) options.warn?.(tuning.warning);
    options.forceGrpcData = tuning.choice.transport === "grpc";
    options.linkBytesPerS = tuning.linkBytesPerS;
    options.hashHints = tuning.hashHints;
    options.grown = tuning.grown;
    options.streams = tuning.choice.transport === "tcp"
      ? tuning.choice.streams
      : 0;
  }
  // A fresh snapshot for the next transfers, when the one kept is old:
  // fetched on this one's connection once the daemon has accepted the
  // call (never waited for before the end; a refused call fetches none).
  let refreshing: Promise<boolean> | undefined;
  if (tuningLib && daemon && historyDir !== undefined && tuning?.refresh) {
    options.onAccepted = () => {
      refreshing ??= tuningLib.refreshSnapshot(daemon, historyDir);
    };
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
      "../client/tuning.ts"
    );
    const line = historyLine(name, result, elapsed, tuning, flags.bwlimit);
    appendPerfRecord(historyDir!, line);
    // The daemon keeps it too (best effort, bounded wait), while the
    // snapshot fetched during the transfer is kept (if not already).
    if (daemon) await Promise.all([uploadPerf(daemon, line), refreshing]);
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

/**
 * `--stats`: the totals, with rsync's names and meanings: "Total
 * transferred file size" is the full size of the files transferred,
 * "Literal data" what crossed as file data, "Matched data" what the
 * receiver already held (a delta's matched blocks and a resumed file's
 * verified part), "Total bytes sent/received" everything on the wire.
 */
export function statsLines(
  result: TransferResult,
  elapsedMs: number,
  dryRun: boolean,
): string {
  const seconds = elapsedMs / 1000;
  const n = (value: number) => value.toLocaleString("en");
  const would = dryRun ? " (dry run: would be)" : "";
  const resumed = result.bytesResumed ?? 0;
  const literal = result.bytesLiteral ??
    Math.max(0, result.bytesTransferred - resumed);
  const matched = (result.bytesMatched ?? 0) + resumed;
  const sent = result.bytesSent ?? 0;
  const received = result.bytesReceived ?? 0;
  // rsync's rate is of the bytes on the wire; a local copy has none.
  const moved = result.transport === "local"
    ? result.bytesTransferred
    : sent + received;
  return [
    `Number of files transferred${would}: ${n(result.filesTransferred)}`,
    `Number of files unchanged: ${n(result.filesSkipped)}`,
    `Number of deleted files${would}: ${n(result.filesDeleted)}`,
    `Total transferred file size${would}: ${
      n(result.bytesTransferred)
    } bytes (${formatBytes(result.bytesTransferred)})`,
    `Literal data: ${n(literal)} bytes`,
    `Matched data: ${n(matched)} bytes${
      resumed > 0 ? ` (${n(resumed)} resumed)` : ""
    }`,
    `Total bytes sent: ${n(sent)}`,
    `Total bytes received: ${n(received)}`,
    `Transport: ${result.transport}, ${plural(result.streams, "stream")}${
      result.fallback ? " (fallback)" : ""
    }; ${plural(result.retries, "retry")}`.replace("retrys", "retries"),
    `Elapsed: ${seconds.toFixed(2)} s (${
      formatBytes(moved / Math.max(seconds, 0.001))
    }/s)`,
    "",
  ].join("\n");
}

/** Files the size hint looks at, at most. */
const HINT_FILES = 32;

/**
 * The size class of what a push sends, for the predictor: a file's own,
 * or a tree's from a bounded look at it (its first 32 files,
 * breadth-first), so the choice fits this tree and not the route's last
 * run (which may be another client's). Undefined when it can't tell.
 * The look is kept small: it runs on the event loop's thread while the
 * performance snapshot's call is on its way (1,024 files held a tree's
 * no-op push back ~30 ms; 128 files, ~5 ms against 32 on the stdlib
 * tree).
 */
export function sizeHintOf(local: string | undefined): SizeClass | undefined {
  if (!local) return undefined;
  try {
    const info = Deno.statSync(local);
    if (info.isFile) return sizeClass(1, info.size);
    if (!info.isDirectory) return undefined;
    let files = 0;
    let bytes = 0;
    const queue = [local];
    for (let visited = 0; queue.length > 0 && visited < 512; visited++) {
      const dir = queue.shift()!;
      for (const item of Deno.readDirSync(dir)) {
        if (++visited >= 512 || files >= HINT_FILES) break;
        const path = `${dir}/${item.name}`;
        if (item.isDirectory) queue.push(path);
        else if (item.isFile) {
          files++;
          // Through libc where it may be called (~4x Deno's lstat).
          bytes += preciseLstat(path)?.size ?? 0;
        }
      }
      if (files >= HINT_FILES) break;
    }
    return files > 0 ? sizeClass(files, bytes) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether anything is at the local path `path` (a link counts). */
function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
