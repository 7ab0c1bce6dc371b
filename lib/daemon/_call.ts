// What the daemon's transfer handlers share: context, checks, the call
// guard, negotiation, messages, errors.
import * as grpc from "../deps/grpc.ts";
import { create } from "../deps/protobuf.ts";
import { isTempName } from "../fs/atomic_write.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import type { Tree } from "../fs/tree.ts";
import {
  type ClientPullRequest,
  type ClientPushRequest,
  type DataTransferNegotiation,
  DataTransferNegotiationSchema,
  PushSummarySchema,
  type ServerPullResponse,
  ServerPullResponseSchema,
  type ServerPushResponse,
  ServerPushResponseSchema,
  Transport,
} from "../rpc/service.ts";
import { type MessageReadable, MessageReader } from "../rpc/call_io.ts";
import type { DataPlaneServer, DataSession } from "../wire/data_plane.ts";
import type { TokenScope } from "../wire/token.ts";
import type { ZeroCopy } from "../wire/zero_copy.ts";
import type { NativeStat } from "../fs/native_stat.ts";
import type { DaemonConfig, ModuleConfig } from "./config.ts";
import type { SymlinkMaker } from "./link_broker.ts";
import { type Admission, BusyError, type Ticket } from "./admission.ts";
import { type PerfRecord, sizeClass } from "../telemetry/perf_history.ts";
import { ModuleNotFoundError, ServiceError, toStatus } from "./errors.ts";
import { AuthGuard, SECRET_METADATA } from "./auth.ts";
import { allows } from "./allow.ts";

/** Most manifest entries one transfer may declare. */
export const MAX_MANIFEST_ENTRIES = 10_000_000;

/** Paths per FileList / ListResponse message. */
export const BATCH = 1000;

/** Budget bytes per path a pull's need list names (the string and a slot). */
export const NEED_COST = 64;

/** What the handlers need from the daemon. */
export interface ServiceContext {
  config: DaemonConfig;
  /** Module secrets and the brake on guessing them (one per daemon). */
  auth?: AuthGuard;
  /** Null when the daemon forces gRPC data. */
  dataPlane: DataPlaneServer | null;
  /** sendfile for pulls, when the config allows FFI and it loaded. */
  zeroCopy?: ZeroCopy;
  /** libc lstat for need lists, likewise (see native_stat.ts). */
  nativeStat?: NativeStat;
  log: (line: string) => void;
  /** Makes symlinks (through the link broker when sandboxed). */
  makeSymlink?: SymlinkMaker;
  /**
   * "walk" forces the fallback tree (tests of it); default: the kernel
   * tree wherever openat2 works.
   */
  containment?: "kernel" | "walk";
  /** Appends a line to the daemon's performance history. */
  record?: (record: PerfRecord) => void;
  /** Told when a transfer call starts (the self-check's idle clock). */
  onCall?: () => void;
  /** The daemon's performance history; none when it keeps none. */
  history?: { dir: string; append(record: PerfRecord): void };
  /** Session slots and memory budgets. */
  admission: Admission;
  /** Peers ("HOST:PORT") whose connection arrived over a connection cap. */
  refusedPeers?: ReadonlySet<string>;
  /**
   * Journals a module directory that may get temp files (see
   * `ContainedRootOptions.onTempDir`), so a crash's are swept at start.
   */
  onTempDir?: (module: ModuleConfig, dirRel: string) => void;
}

export type PushCall = grpc.ServerDuplexStream<
  ClientPushRequest,
  ServerPushResponse
>;

export type PullCall = grpc.ServerDuplexStream<
  ClientPullRequest,
  ServerPullResponse
>;

export function findModule(ctx: ServiceContext, name: string): ModuleConfig {
  const module = ctx.config.modules.find((m) => m.name === name);
  if (!module) {
    throw new ModuleNotFoundError(
      name,
      ctx.config.modules.map((m) => m.name),
    );
  }
  return module;
}

/** A guard for contexts made without one (tests): same rules. */
const defaultAuth = new AuthGuard();

/**
 * Finds `name` and admits the caller to it: a module with a secret needs
 * the call to carry it (see auth.ts). Checked before any path.
 *
 * @throws {ServiceError} NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED or
 * RESOURCE_EXHAUSTED.
 */
export function openModule(
  ctx: ServiceContext,
  name: string,
  call: { getPeer(): string; metadata: grpc.Metadata },
): ModuleConfig {
  const module = findModule(ctx, name);
  if (module.allow && !allows(module.allow, clientOf(call))) {
    throw new ServiceError(
      grpc.status.PERMISSION_DENIED,
      `access denied to module "${module.name}"`,
    );
  }
  const value = call.metadata.get(SECRET_METADATA)[0];
  (ctx.auth ?? defaultAuth).check(
    module,
    clientOf(call),
    value === undefined ? undefined : String(value),
  );
  return module;
}

/**
 * The module's tree: every filesystem call for this request goes through
 * it. On Linux with openat2 the kernel resolves every name beneath the
 * module's directory handle (kernel_tree.ts); elsewhere the weaker walk
 * (contained_root.ts). The caller closes it.
 */
export function moduleRoot(
  ctx: ServiceContext,
  module: ModuleConfig,
): Tree {
  try {
    const onTempDir = ctx.onTempDir;
    const options = {
      onTempDir: onTempDir && ((dir: string) => onTempDir(module, dir)),
    };
    if (ctx.containment !== "walk") {
      const kernel = KernelTree.open(module.path, options);
      if (kernel) return kernel;
    }
    return new ContainedRoot(module.path, "", {
      ...options,
      nativeStat: ctx.nativeStat,
    });
  } catch {
    throw new ServiceError(
      grpc.status.UNAVAILABLE,
      `Module "${module.name}" directory is missing on the daemon`,
    );
  }
}

/**
 * Refuses every call on a connection that arrived over a cap, so the
 * client hears why instead of a bare hang-up.
 *
 * @throws {BusyError} for such a connection.
 */
export function checkConnection(
  call: { getPeer(): string },
  ctx: ServiceContext,
): void {
  if (ctx.refusedPeers?.has(call.getPeer())) {
    throw new BusyError(
      "The daemon has too many connections open (limits.maxConnections, limits.maxConnectionsPerClient); try again later",
    );
  }
}

/** The client's address without its port, for per-client limits. */
export function clientOf(call: { getPeer(): string }): string {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(":");
  return (colon > 0 ? peer.slice(0, colon) : peer).replace(/^\[|\]$/g, "");
}

/** Refuses manifest paths that use our temp names (they'd dodge the sweep). */
export function refuseTempNames(path: string): void {
  for (const part of path.split("/")) {
    if (isTempName(part)) {
      throw new PathEscapeError(path, "uses a name reserved for temp files");
    }
  }
}

/**
 * Fails a transfer that sat idle for `ms`: the peer sent nothing and took
 * nothing. `touch()` on every sign of life.
 */
export class IdleWatch {
  readonly #ms: number;
  readonly #onIdle: (error: ServiceError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = Date.now();
  constructor(ms: number, onIdle: (error: ServiceError) => void) {
    this.#ms = ms;
    this.#onIdle = onIdle;
    this.#arm(ms);
  }
  touch(): void {
    this.#last = Date.now();
  }
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      const idle = Date.now() - this.#last;
      if (idle < this.#ms) return this.#arm(this.#ms - idle);
      this.#timer = undefined;
      this.#onIdle(
        new ServiceError(
          grpc.status.DEADLINE_EXCEEDED,
          `Transfer idle for ${
            Math.round(this.#ms / 1000)
          } s; the daemon gave up on it`,
        ),
      );
    }, delay);
  }
}

export function protocolError(message: string): ServiceError {
  return new ServiceError(grpc.status.INVALID_ARGUMENT, message);
}

export { baseName, parentOf } from "../fs/paths.ts";

export function pushMessage(
  payload: ServerPushResponse["payload"],
): ServerPushResponse {
  return create(ServerPushResponseSchema, { payload });
}

export function pullMessage(
  payload: ServerPullResponse["payload"],
): ServerPullResponse {
  return create(ServerPullResponseSchema, { payload });
}

export function advertised(
  ctx: ServiceContext,
  plane: DataPlaneServer,
): { host: string; port: number } {
  const advertise = ctx.config.advertiseData;
  if (!advertise) return { host: "", port: plane.port };
  const colon = advertise.lastIndexOf(":");
  return {
    host: advertise.slice(0, colon).replace(/^\[|\]$/g, ""),
    port: Number(advertise.slice(colon + 1)),
  };
}

/** Most parallel data streams a transfer may ask for. */
export const MAX_STREAMS = 16;

/**
 * Streams used when the client leaves the choice to the daemon. Measured
 * on the 2-core VMs this was built on (1 GiB over loopback, tmpfs, 3
 * interleaved runs): 1, 2 and 4 streams all pushed in 0.9-1.0 s and pulled
 * in 0.9-1.1 s, the receiver's single thread being the limit, so one
 * stream: the others only cost connections. `--streams` still asks for more
 * (a link with per-connection limits gains from them).
 */
export const DEFAULT_STREAMS = 1;

/** The number of data streams for a transfer (1 to MAX_STREAMS). */
export function streamsFor(requested: number): number {
  if (!(requested > 0)) return DEFAULT_STREAMS;
  return Math.min(MAX_STREAMS, Math.floor(requested));
}

/** The data-plane sessions of one transfer, one per stream. */
export class DataSessions {
  readonly sessions: readonly DataSession[];
  #conns: Deno.Conn[] = [];
  #cancelled = false;

  constructor(sessions: readonly DataSession[]) {
    this.sessions = sessions;
  }

  /** Resolves with every stream's connection (in token order). */
  async connections(): Promise<Deno.Conn[]> {
    const conns = await Promise.all(this.sessions.map((s) => s.connection));
    this.#conns = conns;
    if (this.#cancelled) this.cancel();
    return conns;
  }

  /** Drops the sessions and closes every connection that did arrive. */
  cancel(): void {
    this.#cancelled = true;
    for (const session of this.sessions) {
      session.cancel();
      session.connection.then(closeQuietly, () => {});
    }
    for (const conn of this.#conns) closeQuietly(conn);
  }
}

/**
 * Decides how file bytes travel, before the manifest (so they can flow
 * while it is compared): data-plane sessions (one single-use token per
 * stream) when the daemon offers TCP and the client didn't ask for gRPC,
 * else gRPC (one stream).
 */
export async function negotiate(
  ctx: ServiceContext,
  request: {
    module: string;
    scope: TokenScope;
    forceGrpc: boolean;
    streams: number;
  },
): Promise<{ data?: DataSessions; negotiation: DataTransferNegotiation }> {
  if (ctx.dataPlane === null || request.forceGrpc) {
    return {
      negotiation: create(DataTransferNegotiationSchema, {
        transport: Transport.GRPC,
        streams: 1,
      }),
    };
  }
  const plane = ctx.dataPlane;
  const count = streamsFor(request.streams);
  const sessions: DataSession[] = [];
  try {
    for (let i = 0; i < count; i++) {
      sessions.push(
        await plane.openSession({
          module: request.module,
          scope: request.scope,
        }),
      );
    }
  } catch (error) {
    for (const session of sessions) session.cancel();
    throw error;
  }
  const { host, port } = advertised(ctx, plane);
  return {
    data: new DataSessions(sessions),
    negotiation: create(DataTransferNegotiationSchema, {
      transport: Transport.TCP,
      host,
      port,
      token: sessions[0].token,
      tokens: sessions.map((s) => s.token),
      streams: count,
    }),
  };
}

/**
 * What every streaming transfer call holds: its reader, its slot, an idle
 * watch, and the cleanups that stop it (on cancel, idle or failure).
 */
export class CallGuard<Req> {
  readonly reader: MessageReader<Req>;
  readonly #call: PushCall | PullCall;
  readonly #idle: IdleWatch;
  readonly #stops: ((error: Error) => void)[] = [];
  readonly #onCancel = () => this.stop(new Error("client went away"));
  readonly #onData = () => this.alive();
  #ticket: Ticket | undefined;

  constructor(
    call: PushCall | PullCall,
    ctx: ServiceContext,
    options: { highWaterMark?: number } = {},
  ) {
    this.#call = call;
    this.reader = new MessageReader<Req>(
      call as unknown as MessageReadable<Req>,
      options,
    );
    this.#idle = new IdleWatch(
      ctx.config.limits.idleTimeout * 1000,
      (error) => this.stop(error),
    );
    call.on("cancelled", this.#onCancel);
    call.on("data", this.#onData);
  }

  /** Refuses over-cap connections and takes a transfer slot. */
  admit(ctx: ServiceContext): Ticket {
    checkConnection(this.#call, ctx);
    this.#ticket = ctx.admission.admit(clientOf(this.#call));
    return this.#ticket;
  }

  /** A sign of life: data moved. */
  alive(): void {
    this.#idle.touch();
  }

  /** Registers what to stop when the call is given up. */
  onStop(stop: (error: Error) => void): void {
    this.#stops.push(stop);
  }

  /** Gives the call up: the reader fails and every registered stop runs. */
  stop(error: Error): void {
    this.reader.fail(error);
    for (const stop of this.#stops) stop(error);
  }

  /** Releases the slot and the listeners (always, at the end). */
  close(): void {
    this.#idle.stop();
    this.#ticket?.release();
    this.#call.off("cancelled", this.#onCancel);
    this.#call.off("data", this.#onData);
  }
}

/** The summary message that ends a push or pull. */
export function summaryOf(
  result: { files: number; bytes: number; deleted?: number; skipped?: number },
  transport?: Transport,
) {
  return create(PushSummarySchema, {
    filesTransferred: BigInt(result.files),
    bytesTransferred: BigInt(result.bytes),
    filesDeleted: BigInt(result.deleted ?? 0),
    filesSkipped: BigInt(result.skipped ?? 0),
    transport,
  });
}

/** The daemon's history line for a finished push or pull. */
export function perfRecord(
  op: "push" | "pull",
  data: { transport: "tcp" | "grpc"; fallback: boolean; streams: number },
  result: { files: number; bytes: number },
  t0: number,
  tManifest: number,
  where: { module: string; peer: string },
): PerfRecord {
  return {
    ts: new Date().toISOString(),
    op,
    transport: data.transport,
    streams: data.streams,
    files: result.files,
    bytes: result.bytes,
    duration_ms: Math.round(performance.now() - t0),
    remote: where.peer,
    source: "daemon",
    module: where.module,
    size_class: sizeClass(result.files, result.bytes),
    handshake_ms: 0,
    manifest_ms: Math.round(tManifest - t0),
    transfer_ms: Math.round(performance.now() - tManifest),
    retries: 0,
    fallback: data.fallback,
  };
}

export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}

/**
 * The status for `error` with the daemon's own paths taken out: clients
 * see paths relative to the module, never where modules live.
 */
export function safeStatus(
  error: unknown,
  ctx: ServiceContext,
): { code: grpc.status; details: string } {
  const status = toStatus(error);
  let details = status.details;
  for (const module of ctx.config.modules) {
    details = details.replaceAll(`${module.path}/`, "")
      .replaceAll(module.path, `(module ${module.name})`);
  }
  return { code: status.code, details };
}

export function failCall(
  call: grpc.ServerWritableStream<unknown, unknown> | PushCall | PullCall,
  error: unknown,
  ctx: ServiceContext,
): void {
  const status = safeStatus(error, ctx);
  if (status.code === grpc.status.INTERNAL) {
    ctx.log(`blit-daemon: ${status.details}`);
  }
  try {
    call.emit("error", status);
  } catch {
    // the call is already gone
  }
}
