// What push and pull share on the client: their options, the call that
// carries them (connect, race the call's status, map errors), retries,
// the daemon's acknowledgement of the header, and dialling the data plane.
import type { GrpcCall } from "../rpc/grpc_client.ts";
import { create } from "../rpc/codec.ts";
import {
  Choice as ChoiceMessage,
  type ClientPullRequestSchema,
  type ClientPushRequestSchema,
  type DataTransferNegotiation,
  type ServerPullResponse,
  type ServerPullResponseSchema,
  type ServerPushResponse,
  type ServerPushResponseSchema,
  TransferOptionsSchema,
  Transport,
} from "../rpc/service.ts";
import { DataLink } from "../transfer/peer.ts";
import type { MessageReader } from "../rpc/call_io.ts";
import {
  DataPlaneRejectedError,
  DataPlaneUnreachableError,
  dialDataPlane,
} from "../wire/data_plane.ts";
import { hostPort, type RemoteAddress } from "./address.ts";
import {
  DaemonUnreachableError,
  RemoteError,
  remoteFailure,
} from "./connect.ts";
import { sharedClient } from "./shared_client.ts";
import type { TransferResult } from "./summary.ts";
import type { ProgressSink } from "../ui/progress.ts";
import type { Choice } from "../transfer/link_policy.ts";
import type { GrownFiles } from "../transfer/grown_files.ts";
import { sleep } from "../timer.ts";
import { loadNativeStat } from "../fs/native_stat.ts";
import { bindIdle } from "../fs/_lazy_ffi.ts";
import { libcBindings, type LibcSymbols } from "../fs/_libc.ts";
import { hashBindings } from "../fs/native_hash.ts";
import { zstdBindings } from "../wire/zstd.ts";

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
   * allowed); same frames either way. Default: yes, except to a daemon on
   * this machine (see `useSendfile`).
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
   * Delta transfer of changed files: `on`, `off`, or `auto` (when the
   * link is slower than reading the old copy back). Default: `auto`.
   */
  delta?: Choice;
  /**
   * Compression of file data: `on`, `off`, or `auto` (while it makes
   * the transfer faster). Default: `auto`.
   */
  compress?: Choice;
  /** zstd level 1-19. Default: chosen by the link's speed. */
  compressLevel?: number;
  /**
   * How fast this route's link has been seen to be (bytes/s), for `auto`
   * deltas (see `useDelta`) and compression (see `CompressOptions`; a
   * pull's daemon is told it). Default: unknown.
   */
  linkBytesPerS?: number;
  /**
   * A push lists hash hints (each file's content hash, for the daemon to
   * settle an old copy of the same content without naming it) when the
   * daemon holds old copies to compare: set from the route's history (see
   * `pushHintsPay`). Default: false.
   */
  hashHints?: boolean;
  /**
   * What the last pulls on the route found of their files that grew past
   * their old copies (see `GrownFiles`): a pull's receiver starts from it
   * (set from the route's history, see `pullGrown`). Default: nothing
   * known.
   */
  grown?: GrownFiles;
  /**
   * Told `+` and the path of each file or link transferred (or that would
   * be, in a dry run), `-` and the path of each one a mirror deletes.
   */
  onItem?: (sign: "+" | "-", path: string) => void;
  /**
   * Told when the daemon has accepted the call (its access checks passed),
   * once for each attempt: the moment to use the call's connection for
   * something else (the CLI fetches the daemon's performance snapshot
   * then, without waiting for it).
   */
  onAccepted?: () => void;
}

/** A push call, as the client holds it. */
export type PushCall = GrpcCall<
  typeof ClientPushRequestSchema,
  typeof ServerPushResponseSchema
>;
/** A pull call, as the client holds it. */
export type PullCall = GrpcCall<
  typeof ClientPullRequestSchema,
  typeof ServerPullResponseSchema
>;

/**
 * The TransferOptions message for `options`; `hashHints`: a pull asks for
 * the daemon's hash hints (see `pullHints`).
 */
export function transferOptions(
  options: RemoteTransferOptions,
  hashHints = false,
) {
  return create(TransferOptionsSchema, {
    checksum: options.checksum ?? false,
    dryRun: options.dryRun ?? false,
    forceGrpcData: options.forceGrpcData ?? false,
    exclude: [...(options.exclude ?? [])],
    streams: options.streams ?? 0,
    listItems: options.onItem !== undefined,
    progressReports: options.progress !== undefined,
    delta: choiceMessage(options.delta),
    compress: choiceMessage(options.compress),
    compressLevel: options.compressLevel ?? 0,
    bwlimit: BigInt(Math.floor(options.bwlimit ?? 0)),
    hashHints,
    linkBytesPerS: BigInt(Math.floor(options.linkBytesPerS ?? 0)),
  });
}

function choiceMessage(choice: Choice | undefined): ChoiceMessage {
  if (choice === "on") return ChoiceMessage.ON;
  if (choice === "off") return ChoiceMessage.OFF;
  return ChoiceMessage.AUTO;
}

/**
 * What a push or pull's result adds about the wire: literal and matched
 * bytes, bytes on the network both ways, and whether deltas and
 * compression were used.
 */
export function wireResult(
  bytes: number,
  resumed: number,
  matched: number,
  onWire: { sent: number; received: number },
  wire: { compressedBlocks: number; deltas: number },
): Pick<
  TransferResult,
  | "bytesLiteral"
  | "bytesMatched"
  | "bytesOnWire"
  | "bytesSent"
  | "bytesReceived"
  | "delta"
  | "compression"
> {
  return {
    bytesLiteral: Math.max(0, bytes - resumed - matched),
    bytesMatched: matched,
    bytesOnWire: onWire.sent + onWire.received,
    bytesSent: onWire.sent,
    bytesReceived: onWire.received,
    delta: wire.deltas > 0,
    compression: wire.compressedBlocks > 0,
  };
}

export async function withRetries(
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

/**
 * Runs one streaming call: connects, opens it, races the body against the
 * call's own failure (so its status is never lost), and maps errors to
 * what the CLI says.
 */
export async function runCall<C extends PushCall | PullCall, T>(
  address: RemoteAddress,
  open: (client: Awaited<ReturnType<typeof sharedClient>>["client"]) => C,
  body: (call: C) => Promise<T>,
): Promise<T> {
  const { client, release } = await sharedClient(address);
  const call = open(client);
  // Bind libc while the daemon answers: the walk or the writes need it
  // first thing after (~5 ms that would otherwise wait for nothing).
  loadNativeStat();
  const failure = callFailure(call);
  failure.catch(() => {});
  try {
    return await Promise.race([failure, body(call)]);
  } catch (error) {
    call.cancel();
    release(true);
    throw await remoteFailure(error, address);
  } finally {
    release();
  }
}

/** The next message, which must be the daemon's ack of `what`. */
export async function expectAck<
  T extends { payload: { case: string | undefined } },
>(
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

/**
 * Dials every stream the daemon offered, each with its own token; if any
 * can't be reached, closes the others (no frame sent yet), warns and
 * resolves undefined: the transfer goes over gRPC instead.
 */
export async function dialOrWarn(
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

/** What a client transfers on: the data link, if any, and a fallback. */
export interface DataPath {
  /** The data connections (undefined: the bytes go in messages). */
  link?: DataLink;
  /** The daemon offered the data plane and it could not be reached. */
  fallback: boolean;
}

/**
 * Reads the daemon's offer of a data path (made before the manifest, none
 * in a dry run) and dials it at once, so bytes can flow while the manifest
 * is compared; tells the progress bar the route.
 */
export async function openDataPath(
  reader: MessageReader<ServerPushResponse> | MessageReader<ServerPullResponse>,
  address: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<DataPath> {
  if (options.dryRun) return { fallback: false };
  const negotiation = await readNegotiation(reader);
  const tcp = negotiation.transport === Transport.TCP;
  const conns = tcp
    ? await dialOrWarn(negotiation, address, options)
    : undefined;
  options.progress?.route?.(conns ? "tcp" : "grpc", conns?.length ?? 1);
  return {
    link: tcp ? DataLink.of(conns) : undefined,
    fallback: tcp && !conns,
  };
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
 * Binds the native functions a transfer calls first, one an event-loop
 * turn, while the daemon answers its call and the data path opens (see
 * `bindIdle`): libc's `libc`, the hash library's for a delta, zstd's when
 * the transfer may compress. Returns what stops it (call it once the data
 * path is open, or the call failed).
 *
 * Permissions: ffi (optional).
 *
 * @example
 * ```ts ignore
 * const stop = bindWhileWaiting(["read"], { delta: true, compress: false });
 * stop();
 * ```
 */
export function bindWhileWaiting(
  libc: readonly (keyof LibcSymbols & string)[],
  what: { delta: boolean; compress: boolean },
): () => void {
  return bindIdle(
    [
      libcBindings(libc),
      what.delta ? hashBindings() : undefined,
      what.compress ? zstdBindings() : undefined,
    ].filter((b) => b !== undefined),
  );
}
