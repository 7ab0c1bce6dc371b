// Remote operations: push, pull, list, purge and modules against a daemon.
import type * as grpc from "../deps/grpc.ts";
import { create } from "../deps/protobuf.ts";
import { sourceEntries } from "../fs/enumerate.ts";
import {
  type ClientPullRequest,
  ClientPullRequestSchema,
  type ClientPushRequest,
  ClientPushRequestSchema,
  DataAckSchema,
  type DataTransferNegotiation,
  EntryKind,
  ListModulesRequestSchema,
  type ListModulesResponse,
  ListRequestSchema,
  type ListResponse,
  NeedCompleteSchema,
  type PerfRun,
  PerfSnapshotRequestSchema,
  type PerfSnapshotResponse,
  PullDoneSchema,
  PullHeaderSchema,
  PurgeRequestSchema,
  type PurgeResponse,
  PushHeaderSchema,
  type PushSummary,
  type ServerPullResponse,
  type ServerPushResponse,
  TransferOptionsSchema,
  Transport,
  UploadCompleteSchema,
  UploadPerfRequestSchema,
  type UploadPerfResponse,
} from "../rpc/service.ts";
import {
  chunkToFileData,
  fileDataToChunk,
  manifestStream,
  NeedBatch,
  offersOf,
  recordToRun,
  runToRecord,
} from "../rpc/convert.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";
import {
  ACK_EVERY_BYTES,
  acknowledgements,
  MessageReader,
  SendWindow,
  writeMessage,
} from "../rpc/call_io.ts";
import {
  DataPlaneRejectedError,
  DataPlaneUnreachableError,
  dialDataPlane,
} from "../wire/data_plane.ts";
import {
  GrpcReceiver,
  PLAN_AHEAD_FILES,
  Receiver,
} from "../transfer/receiver.ts";
import { Sender } from "../transfer/sender.ts";
import { Bandwidth } from "../wire/bandwidth.ts";
import { hostPort, type RemoteAddress } from "./address.ts";
import {
  connect,
  DaemonUnreachableError,
  RemoteError,
  remoteFailure,
} from "./connect.ts";
import {
  basename,
  dirname,
  ensureDirectory,
  placeLocal,
  sourceIsDirectory,
} from "./placement.ts";
import type { TransferResult } from "./summary.ts";
import type { ProgressSink } from "../ui/progress.ts";
import { loadZeroCopy } from "../wire/zero_copy.ts";

/** Options for push and pull. */
export interface RemoteTransferOptions {
  /** Delete what the destination has and the source has not. Default: false. */
  mirror?: boolean;
  /** Report what would happen; change nothing. Default: false. */
  dryRun?: boolean;
  /** Compare content hashes instead of size and mtime. Default: false. */
  checksum?: boolean;
  /**
   * Pull: keep setuid, setgid and sticky bits even when this process runs
   * as root. Default: false (kept only for a non-root client, whose files
   * can't be setuid-anyone-else).
   */
  keepSpecialBits?: boolean;
  /** Send file bytes over the gRPC control connection only. Default: false. */
  forceGrpcData?: boolean;
  /** Globs to leave out (never sent, never deleted). Default: none. */
  exclude?: readonly string[];
  /** Requested streams (0 = daemon's choice). */
  streams?: number;
  /** Retries of the whole operation on transient failures. Default: 3. */
  retries?: number;
  /** Prints a `blit: warning:` line. */
  warn?: (line: string) => void;
  /** Time to reach the data plane before falling back. Default: 3000 ms. */
  dataTimeoutMs?: number;
  /** Gets totals, files and bytes as they move (a progress bar). */
  progress?: ProgressSink;
  /**
   * Send big file bodies by sendfile when this process can (Linux, FFI
   * allowed); same frames either way. Default: true.
   */
  zeroCopy?: boolean;
  /** The module secret to present (see `RemoteAddress.secret`). */
  secret?: string;
  /** PEM certificates to trust for `blits://` (see `RemoteAddress.tlsCa`). */
  tlsCa?: string;
  /**
   * Workers writing a pull's small files. Default: the cores left over
   * (see {@linkcode pullWriters}), at most 2.
   */
  writers?: number;
  /** Bytes per second for file data, all streams together. Default: none. */
  bwlimit?: number;
  /**
   * Told `+` and the path of each file or link transferred (or that would
   * be, in a dry run), `-` and the path of each one a mirror deletes.
   */
  onItem?: (sign: "+" | "-", path: string) => void;
}

type Client = grpc.Client & Record<string, CallableFunction>;
type PushCall = grpc.ClientDuplexStream<ClientPushRequest, ServerPushResponse>;
type PullCall = grpc.ClientDuplexStream<ClientPullRequest, ServerPullResponse>;

const NEED_BATCH = 1000;
/**
 * Workers writing a pull's small files (see `ReceiveSinkOptions.writers`):
 * only cores nobody else needs. Measured on a 2-core VM with the daemon on
 * the same machine (10,000 x 4 KiB pull): 0.64-0.69 s with none, 0.68-0.73
 * s with two and 35 MiB more RSS; both processes already keep both cores
 * busy, so Workers only help where there is a core to spare.
 */
export function pullWriters(host: string, cores: number): number {
  const loopback = /^(127\.|localhost$|::1$|\[::1\]$)/.test(host);
  // This process's main thread, and the daemon's when it runs here.
  const busy = loopback ? 2 : 1;
  return Math.max(0, Math.min(2, cores - busy));
}

function transferOptions(options: RemoteTransferOptions) {
  return create(TransferOptionsSchema, {
    checksum: options.checksum ?? false,
    dryRun: options.dryRun ?? false,
    forceGrpcData: options.forceGrpcData ?? false,
    exclude: [...(options.exclude ?? [])],
    streams: options.streams ?? 0,
    listItems: options.onItem !== undefined,
    progressReports: options.progress !== undefined,
  });
}

function pushRequest(payload: ClientPushRequest["payload"]): ClientPushRequest {
  return create(ClientPushRequestSchema, { payload });
}

function pullRequest(payload: ClientPullRequest["payload"]): ClientPullRequest {
  return create(ClientPullRequestSchema, { payload });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withRetries(
  options: RemoteTransferOptions,
  attempt: () => Promise<TransferResult>,
): Promise<TransferResult> {
  const retries = options.retries ?? 3;
  for (let i = 0;; i++) {
    try {
      const result = await attempt();
      result.retries = i;
      return result;
    } catch (error) {
      // A daemon that refuses the first connection is simply not running:
      // fail fast. One that went away mid-transfer may be restarting, so
      // refusals on later attempts are retried too.
      const retryable = error instanceof RemoteError &&
        (error.transient || (i > 0 && error instanceof DaemonUnreachableError));
      if (!retryable || i >= retries) throw error;
      const wait = Math.min(500 * 2 ** i, 4000);
      options.warn?.(
        `${error.message}; retrying in ${wait} ms (${i + 1}/${retries})`,
      );
      await sleep(wait);
    }
  }
}

/** Waits for a call's error (or end) so its status isn't lost. */
function callFailure(
  call: { on(event: "error", listener: (error: unknown) => void): unknown },
): Promise<never> {
  return new Promise<never>((_, reject) => {
    call.on("error", (error) => reject(error));
  });
}

function summaryResult(
  summary: PushSummary | undefined,
  transport: Transport,
  fallback: boolean,
  streams: number,
  timings: { handshakeMs: number; manifestMs: number; transferMs: number },
): TransferResult {
  return {
    filesTransferred: Number(summary?.filesTransferred ?? 0n),
    bytesTransferred: Number(summary?.bytesTransferred ?? 0n),
    filesDeleted: Number(summary?.filesDeleted ?? 0n),
    filesSkipped: Number(summary?.filesSkipped ?? 0n),
    transport: transport === Transport.TCP ? "tcp" : "grpc",
    streams,
    fallback,
    ...timings,
    retries: 0,
  };
}

/**
 * Runs one streaming call: connects, opens it, races the body against the
 * call's own failure (so its status is never lost), and maps errors to
 * what the CLI says.
 */
async function runCall<C extends PushCall | PullCall, T>(
  address: RemoteAddress,
  open: (client: Awaited<ReturnType<typeof connect>>) => C,
  body: (call: C) => Promise<T>,
): Promise<T> {
  const client = await connect(address);
  const call = open(client);
  const failure = callFailure(call);
  failure.catch(() => {});
  try {
    return await Promise.race([failure, body(call)]);
  } catch (error) {
    call.cancel();
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

/** The next message, which must be the daemon's ack of `what`. */
async function expectAck<T extends { payload: { case: string | undefined } }>(
  reader: MessageReader<T>,
  what: string,
): Promise<T & { payload: { case: "ack" } }> {
  const ack = await reader.next();
  if (ack?.payload.case !== "ack") {
    throw new RemoteError(
      `the daemon did not acknowledge the ${what}`,
      13,
      false,
    );
  }
  return ack as T & { payload: { case: "ack" } };
}

/** A local push source: a tree, or one file in its parent. */
interface LocalSource {
  isDir: boolean;
  /** The directory files are read from (real path). */
  root: string;
  /** The name a single file is offered under. */
  name: string;
  /** What to enumerate: the tree, or the file. */
  path: string;
}

function localSource(src: string): LocalSource {
  const isDir = sourceIsDirectory(src);
  const root = Deno.realPathSync(isDir ? src : dirname(src));
  const name = basename(src);
  return { isDir, root, name, path: isDir ? root : `${root}/${name}` };
}

/** How a transfer's bytes went, and how long its manifest took. */
interface DataPath {
  transport: Transport;
  /** TCP was offered but could not be reached. */
  fallback: boolean;
  /** Data connections used (1 over gRPC). */
  streams: number;
  /** From the offer to the end of the need list. */
  manifestMs: number;
}

/** The daemon's offer of a data path, which opens every transfer. */
async function readNegotiation(
  reader: MessageReader<ServerPushResponse> | MessageReader<ServerPullResponse>,
): Promise<DataTransferNegotiation> {
  const reply = await reader.next();
  if (reply?.payload.case !== "negotiation") {
    throw new RemoteError(
      "the daemon did not negotiate the transfer",
      13,
      false,
    );
  }
  return reply.payload.value;
}

/**
 * Reads the daemon's need list (FileList batches, the last one marked)
 * into the sender, which queues each file for the data path at once;
 * resolves with the summary instead when the daemon answers with one (a
 * dry run).
 */
async function readNeeds(
  reader: MessageReader<ServerPushResponse>,
  sender: Sender,
  options: RemoteTransferOptions,
): Promise<PushSummary | undefined> {
  try {
    for (;;) {
      const message = await reader.next();
      if (!message) {
        throw new RemoteError("the daemon ended the push early", 14, true);
      }
      const payload = message.payload;
      if (payload.case === "summary") return payload.value;
      if (payload.case !== "fileList") {
        throw new RemoteError(
          `unexpected ${payload.case} from the daemon`,
          13,
          false,
        );
      }
      const offers = offersOf(payload.value);
      for (const path of payload.value.paths) {
        options.onItem?.("+", path);
        if (!sender.need(path, offers.get(path))) {
          throw new RemoteError(
            `the daemon asked for ${path}, which was not offered (or not in order, or twice)`,
            13,
            false,
          );
        }
      }
      sender.forget(Number(payload.value.decided));
      options.progress?.total(sender.needed, sender.neededBytes);
      if (payload.value.last) options.progress?.planned?.();
      // A dry run's summary follows its last batch.
      if (payload.value.last && !options.dryRun) return undefined;
    }
  } finally {
    sender.endNeeds();
  }
}

/**
 * Streams the manifest while the daemon's need list comes back, and
 * sends each needed file as soon as it is named: over the data plane
 * (dialled before the manifest), or over the call after the need list
 * when it can't be reached (or wasn't offered); then waits for the
 * summary.
 */
async function pushTree(
  call: PushCall,
  reader: MessageReader<ServerPushResponse>,
  sender: Sender,
  source: LocalSource,
  dest: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<DataPath & { summary: PushSummary }> {
  const t0 = performance.now();
  const dryRun = options.dryRun ?? false;
  const negotiation = dryRun ? undefined : await readNegotiation(reader);
  const progress = options.progress;
  const tcp = negotiation?.transport === Transport.TCP;
  const conns = tcp ? await dialOrWarn(negotiation!, dest, options) : undefined;
  progress?.route?.(conns ? "tcp" : "grpc", conns?.length ?? 1);
  // Frames leave as the need list names files, manifest still going out.
  const bandwidth = options.bwlimit
    ? new Bandwidth(options.bwlimit)
    : undefined;
  const sending = conns &&
    sender.sendTcp(conns, { onBytes: (n) => progress?.bytes(n), bandwidth });
  sending?.catch(() => {});
  const needs = readNeeds(reader, sender, options);
  needs.catch(() => {});
  try {
    await sender.offer(
      scanned(
        sourceEntries(source.path, {
          name: source.name,
          exclude: options.exclude,
          hash: options.checksum,
        }),
        progress,
      ),
      (payload) => writeMessage(call, pushRequest(payload), { flushed: true }),
    );
  } catch (error) {
    sender.fail(error);
    throw error;
  }
  const early = await needs;
  const manifestMs = performance.now() - t0;
  if (early) {
    return {
      summary: early,
      transport: Transport.GRPC,
      fallback: false,
      streams: 1,
      manifestMs,
    };
  }
  // Everything the daemon says from here on: acks, then the summary.
  const window = new SendWindow();
  const tail = acknowledgements(
    reader,
    window,
    () => new RemoteError("the daemon stopped acknowledging data", 14, true),
  );
  tail.catch(() => {});
  if (sending) await sending;
  else if (sender.needed > 0) {
    await sender.sendGrpc(window, (chunk) => {
      progress?.bytes(chunk.data.length);
      if (chunk.last) progress?.file();
      return writeMessage(
        call,
        pushRequest({ case: "fileData", value: chunkToFileData(chunk) }),
      );
    }, { bandwidth });
  }
  await writeMessage(
    call,
    pushRequest({
      case: "uploadComplete",
      value: create(UploadCompleteSchema, {}),
    }),
  );
  const final = await tail;
  if (final?.payload.case !== "summary") {
    throw new RemoteError(
      "the daemon ended the push without a summary",
      14,
      true,
    );
  }
  return {
    summary: final.payload.value,
    transport: conns ? Transport.TCP : Transport.GRPC,
    fallback: tcp && !conns,
    streams: conns?.length ?? 1,
    manifestMs,
  };
}

function pushOnce(
  src: string,
  dest: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<TransferResult> {
  const source = localSource(src);
  const t0 = performance.now();
  return runCall(dest, (c) => c.push() as PushCall, async (call) => {
    // The daemon's progress reports go straight to the bar.
    const reader = new MessageReader<ServerPushResponse>(call, {
      aside: (message) => {
        if (message.payload.case === "items") {
          for (const path of message.payload.value.added) {
            options.onItem?.("+", path);
          }
          for (const path of message.payload.value.deleted) {
            options.onItem?.("-", path);
          }
          return true;
        }
        if (message.payload.case !== "progress") return false;
        const p = message.payload.value;
        options.progress?.peer?.(Number(p.files), Number(p.links));
        return true;
      },
    });
    await writeMessage(
      call,
      pushRequest({
        case: "header",
        value: create(PushHeaderSchema, {
          module: dest.module,
          destination: dest.path +
            (dest.trailingSlash && dest.path !== "" ? "/" : ""),
          mirror: options.mirror ?? false,
          options: transferOptions(options),
          sourceIsFile: !source.isDir,
        }),
      }),
    );
    await expectAck(reader, "push");
    const handshakeMs = performance.now() - t0;
    // The sending role: manifest out, the daemon's need list in.
    const sender = new Sender(source.root, {
      verified: new Set(),
      zeroCopy: options.zeroCopy === false ? undefined : loadZeroCopy(),
    });
    const t1 = performance.now();
    const sent = await pushTree(call, reader, sender, source, dest, options);
    call.end();
    return {
      ...summaryResult(
        sent.summary,
        sent.transport,
        sent.fallback,
        sent.streams,
        {
          handshakeMs,
          manifestMs: sent.manifestMs,
          transferMs: performance.now() - t1 - sent.manifestMs,
        },
      ),
      bytesResumed: sender.resumedBytes,
    };
  });
}

/**
 * Dials every stream the daemon offered, each with its own token; if any
 * can't be reached, closes the others (no frame sent yet), warns and
 * resolves undefined: the transfer goes over gRPC instead.
 */
async function dialOrWarn(
  negotiation: DataTransferNegotiation,
  control: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<Deno.Conn[] | undefined> {
  const host = negotiation.host || control.host;
  const tokens = negotiation.tokens.length > 0
    ? negotiation.tokens
    : [negotiation.token];
  const dials = tokens.map((token) =>
    dialDataPlane(host, negotiation.port, token, {
      timeoutMs: options.dataTimeoutMs ?? 3000,
      tls: control.tls ? { ca: control.tlsCa } : undefined,
    })
  );
  const settled = await Promise.allSettled(dials);
  const failed = settled.find((r) => r.status === "rejected");
  if (!failed) {
    return settled.map((r) => (r as PromiseFulfilledResult<Deno.Conn>).value);
  }
  for (const r of settled) {
    if (r.status === "fulfilled") {
      try {
        r.value.close();
      } catch {
        // already closed
      }
    }
  }
  const error = (failed as PromiseRejectedResult).reason;
  if (error instanceof DataPlaneUnreachableError) {
    options.warn?.(
      `data plane ${error.address} unreachable (${error.reason}); sending over gRPC instead`,
    );
    return undefined;
  }
  if (error instanceof DataPlaneRejectedError) {
    options.warn?.(
      `data plane ${
        hostPort(host, negotiation.port)
      } unreachable (${error.message}); sending over gRPC instead`,
    );
    return undefined;
  }
  throw error;
}

/**
 * Pushes a local file or tree to `dest` (placement rules of the contract),
 * over the TCP data plane when the daemon offers it, else over gRPC.
 *
 * Permissions: read on `src`, net to the daemon.
 *
 * @example
 * ```ts ignore
 * import { pushRemote } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * await pushRemote("./dir", parseRemote("blit://127.0.0.1/default/dir"));
 * ```
 */
export function pushRemote(
  src: string,
  dest: RemoteAddress,
  options: RemoteTransferOptions = {},
): Promise<TransferResult> {
  return withRetries(options, () => pushOnce(src, dest, options));
}

/** Where a pull writes: the placement rules, resolved. */
function pullRoot(
  dst: string,
  sourceIsDir: boolean,
  remoteName: string,
  dryRun: boolean,
): { root: string; name?: string } {
  const placement = placeLocal(dst, sourceIsDir, remoteName);
  if (!dryRun) ensureDirectory(placement.root);
  try {
    return { root: Deno.realPathSync(placement.root), name: placement.name };
  } catch {
    // A dry run into a directory that does not exist yet.
    const root = placement.root.startsWith("/")
      ? placement.root
      : `${Deno.cwd()}/${placement.root}`;
    return { root, name: placement.name };
  }
}

/**
 * Reads the manifest through the receiver's need list, naming each needed
 * file to the daemon at once (small batches first, so bytes start moving
 * early), and receives the files meanwhile over the data plane (dialled
 * before the manifest); over the call after the need list when it can't
 * be reached (asking the daemon to fall back) or wasn't offered,
 * acknowledging every few MiB.
 */
async function pullTree(
  call: PullCall,
  reader: MessageReader<ServerPullResponse>,
  receiver: Receiver,
  src: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<DataPath> {
  const t0 = performance.now();
  const dryRun = options.dryRun ?? false;
  const negotiation = dryRun ? undefined : await readNegotiation(reader);
  const progress = options.progress;
  // Over gRPC the daemon waits for acknowledgements (flow control).
  let received = 0;
  let acked = 0;
  let ackOn = false;
  const sinkOptions = {
    // Small files are written by two Workers with sync calls.
    writers: options.writers ??
      pullWriters(src.host, navigator.hardwareConcurrency),
    onFile: () => progress?.file(),
    onBytes(n: number) {
      progress?.bytes(n);
      received += n;
      if (ackOn && received - acked >= ACK_EVERY_BYTES) {
        acked = received;
        call.write(pullRequest({
          case: "dataAck",
          value: create(DataAckSchema, { bytes: BigInt(received) }),
        }));
      }
    },
  };
  const tcp = negotiation?.transport === Transport.TCP;
  const bandwidth = options.bwlimit
    ? new Bandwidth(options.bwlimit)
    : undefined;
  const conns = tcp ? await dialOrWarn(negotiation!, src, options) : undefined;
  if (negotiation) {
    progress?.route?.(conns ? "tcp" : "grpc", conns?.length ?? 1);
  }
  if (conns) receiver.pace(PLAN_AHEAD_FILES);
  const receiving = conns &&
    receiver.receiveTcp(conns, receiver.sinks(conns.length, sinkOptions), {
      bandwidth,
    })
      .finally(() => receiver.pace(Infinity));
  receiving?.catch(() => {});
  const batch = new NeedBatch();
  let told = 0;
  const flush = async () => {
    const decided = receiver.decided;
    if (dryRun || (batch.size === 0 && decided === told)) return;
    told = decided;
    await writeMessage(
      call,
      pullRequest({ case: "need", value: batch.take({ decided }) }),
    );
  };
  await receiver.plan(
    manifestStream(async () => {
      const message = await reader.next();
      if (!message) {
        throw new RemoteError(
          "the daemon ended the pull inside the manifest",
          14,
          true,
        );
      }
      return message.payload;
    }),
    async (path, resume) => {
      if (dryRun) return;
      batch.add(path, resume);
      progress?.total(receiver.needed, receiver.neededBytes);
      if (
        batch.offering ||
        batch.size >= (receiver.needed <= NEED_BATCH ? 64 : NEED_BATCH)
      ) await flush();
    },
    flush,
  );
  await flush();
  progress?.planned?.();
  const manifestMs = performance.now() - t0;
  await writeMessage(
    call,
    pullRequest({
      case: "needComplete",
      value: create(NeedCompleteSchema, { fallbackToGrpc: tcp && !conns }),
    }),
  );
  if (receiving) {
    await receiving;
    return {
      transport: Transport.TCP,
      fallback: false,
      streams: conns.length,
      manifestMs,
    };
  }
  const files = dryRun ? 0 : receiver.needed;
  if (files > 0) {
    ackOn = true;
    const grpcIn = new GrpcReceiver(receiver.sink(sinkOptions));
    try {
      for (let left = files; left > 0;) {
        const message = await reader.next();
        if (message?.payload.case !== "fileData") {
          throw new RemoteError(
            "the daemon stopped sending file data",
            14,
            true,
          );
        }
        const chunk = fileDataToChunk(message.payload.value);
        if (chunk.last) left--;
        await bandwidth?.take(chunk.data.length);
        await grpcIn.write(chunk);
      }
      await grpcIn.finish();
    } catch (error) {
      grpcIn.abort(error);
      throw error;
    }
  }
  return { transport: Transport.GRPC, fallback: tcp, streams: 1, manifestMs };
}

function pullOnce(
  src: RemoteAddress,
  dst: string,
  options: RemoteTransferOptions,
): Promise<TransferResult> {
  const dryRun = options.dryRun ?? false;
  const t0 = performance.now();
  return runCall(src, (c) => c.pull() as PullCall, async (call) => {
    const reader = new MessageReader<ServerPullResponse>(call);
    await writeMessage(
      call,
      pullRequest({
        case: "header",
        value: create(PullHeaderSchema, {
          module: src.module,
          path: src.path,
          options: transferOptions(options),
        }),
      }),
    );
    const ack = await expectAck(reader, "pull");
    const sourceIsDir = ack.payload.value.sourceIsDir;
    const handshakeMs = performance.now() - t0;
    const remoteName = basename(src.path) || src.module;
    const place = pullRoot(dst, sourceIsDir, remoteName, dryRun);
    // The receiving role: manifest -> local need list; dirs and links
    // are made right away.
    let entries = 0;
    const progress = options.progress;
    const dropSpecial = !options.keepSpecialBits && runsAsRoot();
    const receiver = new Receiver(place.root, {
      mirror: options.mirror,
      dryRun,
      checksum: options.checksum,
      exclude: options.exclude,
      rename: place.name,
      onEntry: (progress || dropSpecial)
        ? (entry) => {
          // A daemon can't hand a root client a setuid file by default.
          if (dropSpecial) entry.mode &= 0o777;
          if (progress && ++entries % 256 === 0) progress.scan?.(entries);
        }
        : undefined,
      onLink: progress && (() => progress.link?.()),
      onItem: options.onItem,
    });
    const t1 = performance.now();
    const data = await pullTree(call, reader, receiver, src, options);
    // Only now, every needed file in: directory times, mirror deletions.
    const result = await receiver.finish({
      mirror: (options.mirror ?? false) && sourceIsDir,
    });
    await writeMessage(
      call,
      pullRequest({ case: "done", value: create(PullDoneSchema, {}) }),
    );
    const final = await reader.next();
    if (final?.payload.case !== "summary") {
      throw new RemoteError(
        "the daemon ended the pull without a summary",
        14,
        true,
      );
    }
    call.end();
    return {
      filesTransferred: result.files,
      bytesTransferred: result.bytes,
      bytesResumed: result.resumed,
      filesDeleted: result.deleted,
      filesSkipped: result.skipped,
      transport: data.transport === Transport.TCP ? "tcp" : "grpc",
      streams: data.streams,
      fallback: data.fallback,
      handshakeMs,
      manifestMs: data.manifestMs,
      transferMs: performance.now() - t1 - data.manifestMs,
      retries: 0,
    } satisfies TransferResult;
  });
}

/**
 * Pulls a remote file or tree into `dst` (placement rules of the contract).
 * The client computes the need list, so a repeated pull sends nothing.
 *
 * Permissions: read and write on `dst`, net to the daemon.
 *
 * @example
 * ```ts ignore
 * import { pullRemote } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * await pullRemote(parseRemote("blit://127.0.0.1/default/dir"), "./dir");
 * ```
 */
export function pullRemote(
  src: RemoteAddress,
  dst: string,
  options: RemoteTransferOptions = {},
): Promise<TransferResult> {
  return withRetries(options, () => pullOnce(src, dst, options));
}

/** One listed entry. */
export interface ListEntry {
  /** The entry's name in the listed directory. */
  name: string;
  /** A directory. */
  isDir: boolean;
  /** A symlink (listed as itself, never followed). */
  isSymlink: boolean;
  /** Bytes (for a link, its target's length). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
  /** A symlink's target text. */
  linkTarget?: string;
}

/** A listing and whether the listed path is a directory. */
export interface Listing {
  /** Whether the listed path is a directory (else one entry for the file). */
  pathIsDir: boolean;
  /** The entries, sorted by name. */
  entries: ListEntry[];
}

/**
 * Lists a remote directory (or one file).
 *
 * @example
 * ```ts ignore
 * import { listRemote } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * console.log((await listRemote(parseRemote("blit://127.0.0.1/default"))).entries);
 * ```
 */
export async function listRemote(address: RemoteAddress): Promise<Listing> {
  const client = await connect(address);
  try {
    const call = client.list(
      create(ListRequestSchema, { module: address.module, path: address.path }),
    ) as grpc.ClientReadableStream<ListResponse>;
    const listing: Listing = { pathIsDir: false, entries: [] };
    for await (const response of call as AsyncIterable<ListResponse>) {
      listing.pathIsDir = response.pathIsDir;
      for (const h of response.entries) {
        listing.entries.push({
          name: h.path,
          isDir: h.kind === EntryKind.DIR,
          isSymlink: h.kind === EntryKind.SYMLINK,
          size: Number(h.size),
          mtimeMs: Number(h.mtimeMs),
          linkTarget: h.kind === EntryKind.SYMLINK ? h.linkTarget : undefined,
        });
      }
    }
    return listing;
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

function unary<Req, Res>(
  client: Client,
  method: string,
  request: Req,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client[method](
      request,
      (error: unknown, response: Res) =>
        error ? reject(error) : resolve(response),
    );
  });
}

/**
 * Deletes a remote file or tree; the module root needs `allowRoot`.
 *
 * @example
 * ```ts ignore
 * import { purgeRemote } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * await purgeRemote(parseRemote("blit://127.0.0.1/default/old"));
 * ```
 */
export async function purgeRemote(
  address: RemoteAddress,
  options: { dryRun?: boolean; allowRoot?: boolean } = {},
): Promise<{ filesDeleted: number; dirsDeleted: number }> {
  const client = await connect(address);
  try {
    const response = await unary<unknown, PurgeResponse>(
      client,
      "purge",
      create(PurgeRequestSchema, {
        module: address.module,
        path: address.path,
        allowRoot: options.allowRoot ?? false,
        dryRun: options.dryRun ?? false,
      }),
    );
    return {
      filesDeleted: Number(response.filesDeleted),
      dirsDeleted: Number(response.dirsDeleted),
    };
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

/**
 * Lists the daemon's modules.
 *
 * @example
 * ```ts ignore
 * import { listModules } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * console.log(await listModules(parseRemote("blit://127.0.0.1", { moduleRequired: false })));
 * ```
 */
export async function listModules(
  address: RemoteAddress,
): Promise<
  { name: string; comment: string; readOnly: boolean; auth: boolean }[]
> {
  const client = await connect(address);
  try {
    const response = await unary<unknown, ListModulesResponse>(
      client,
      "listModules",
      create(ListModulesRequestSchema, {}),
    );
    return response.modules.map((m) => ({
      name: m.name,
      comment: m.comment,
      readOnly: m.readOnly,
      auth: m.auth,
    }));
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

/** The daemon's performance snapshot for a module (see `PerfSnapshot`). */
export interface RemoteSnapshot {
  /** Whether the daemon keeps a history. */
  enabled: boolean;
  /** Its recent runs for the module, oldest first. */
  runs: PerfRecord[];
  /** Its last self-check, if any. */
  lastSelfCheck?: PerfRecord;
}

/** Runs `fn` on a fresh connection, giving up after `timeoutMs`. */
async function quickCall<T>(
  address: RemoteAddress,
  timeoutMs: number,
  fn: (client: Client, deadline: Date) => Promise<T>,
): Promise<T> {
  const deadline = new Date(Date.now() + timeoutMs);
  const client = await connect(address, { timeoutMs });
  try {
    return await fn(client, deadline);
  } finally {
    client.close();
  }
}

function unaryBy<Req, Res>(
  client: Client,
  method: string,
  request: Req,
  deadline: Date,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    client[method](
      request,
      { deadline },
      (error: unknown, response: Res) =>
        error ? reject(error) : resolve(response),
    );
  });
}

/**
 * The daemon's performance snapshot for `address.module`, or undefined
 * when it can't be had within `timeoutMs` (an older daemon, a slow link):
 * the predictor then does without. The module's access check is the
 * transfer's: a missing or wrong secret, an address not allowed or an
 * unknown module throws the error the transfer would (so a run with a
 * wrong secret is one attempt, not two).
 *
 * @example
 * ```ts ignore
 * import { fetchPerfSnapshot } from "./remote.ts";
 * import { parseRemote } from "./address.ts";
 * console.log(await fetchPerfSnapshot(parseRemote("blit://127.0.0.1/default")));
 * ```
 */
export async function fetchPerfSnapshot(
  address: RemoteAddress,
  timeoutMs = 1500,
): Promise<RemoteSnapshot | undefined> {
  try {
    return await quickCall(address, timeoutMs, async (client, deadline) => {
      const response = await unaryBy<unknown, PerfSnapshotResponse>(
        client,
        "perfSnapshot",
        create(PerfSnapshotRequestSchema, { module: address.module }),
        deadline,
      );
      const read = (run: PerfRun) =>
        runToRecord(run, { now: Date.parse(run.ts) });
      const check = response.lastSelfCheck && read(response.lastSelfCheck);
      return {
        enabled: response.enabled,
        runs: response.runs.map(read).filter((r) => r !== undefined),
        ...(check ? { lastSelfCheck: check } : {}),
      };
    });
  } catch (error) {
    const code = (error as { code?: number }).code;
    const details = String((error as { details?: string }).details ?? "");
    if (
      code === 16 || code === 7 || code === 5 ||
      (code === 8 && details.includes("wrong secrets"))
    ) throw await remoteFailure(error, address);
    return undefined;
  }
}

/**
 * Uploads a run summary to the daemon's history for `address.module`;
 * whether it was recorded. Never throws; gives up after `timeoutMs`.
 *
 * @example
 * ```ts ignore
 * import { uploadPerf } from "./remote.ts";
 * ```
 */
export async function uploadPerf(
  address: RemoteAddress,
  record: PerfRecord,
  timeoutMs = 1500,
): Promise<boolean> {
  try {
    return await quickCall(address, timeoutMs, async (client, deadline) => {
      const response = await unaryBy<unknown, UploadPerfResponse>(
        client,
        "uploadPerf",
        create(UploadPerfRequestSchema, {
          module: address.module,
          run: recordToRun(record),
        }),
        deadline,
      );
      return response.recorded;
    });
  } catch {
    return false;
  }
}

/** `entries`, counted into the progress bar's scan as they are walked. */
async function* scanned<T>(
  entries: AsyncIterable<T>,
  progress: ProgressSink | undefined,
): AsyncIterable<T> {
  let n = 0;
  for await (const entry of entries) {
    if (++n % 256 === 0) progress?.scan?.(n);
    yield entry;
  }
  progress?.scan?.(n);
}

/** Whether this process runs as root (false where that can't be told). */
function runsAsRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}
