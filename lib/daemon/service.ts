// The daemon's gRPC handlers: Push, Pull, List, Purge, ListModules.
import * as grpc from "../deps/grpc.ts";
import { create } from "../deps/protobuf.ts";
import type { FileEntry } from "../fs/entry.ts";
import { entryFromPath, sourceEntries } from "../fs/enumerate.ts";
import { isTempName, sweepTemps } from "../fs/atomic_write.ts";
import { normalizeRelative, PathEscapeError } from "../fs/safe_path.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import { GrpcReceiver, Receiver } from "../transfer/receiver.ts";
import { Sender } from "../transfer/sender.ts";
import {
  AckSchema,
  type ClientPullRequest,
  type ClientPushRequest,
  DataAckSchema,
  type DataTransferNegotiation,
  DataTransferNegotiationSchema,
  EntryKind,
  FileHeaderSchema,
  FileListSchema,
  type ListModulesResponse,
  ListModulesResponseSchema,
  type ListRequest,
  type ListResponse,
  ListResponseSchema,
  ModuleInfoSchema,
  type PullHeader,
  type PurgeRequest,
  type PurgeResponse,
  PurgeResponseSchema,
  type PushHeader,
  PushSummarySchema,
  type ServerPullResponse,
  ServerPullResponseSchema,
  type ServerPushResponse,
  ServerPushResponseSchema,
  Transport,
} from "../rpc/service.ts";
import {
  chunkToFileData,
  entryToHeader,
  fileDataToChunk,
  manifestStream,
} from "../rpc/convert.ts";
import {
  ACK_EVERY_BYTES,
  acknowledgements,
  type MessageReadable,
  MessageReader,
  SendWindow,
  writeMessage,
} from "../rpc/call_io.ts";
import type { DataPlaneServer, DataSession } from "../wire/data_plane.ts";
import type { TokenScope } from "../wire/token.ts";
import type { FileDataChunk } from "../wire/grpc_data.ts";
import type { DaemonConfig, ModuleConfig } from "./config.ts";
import type { SymlinkMaker } from "./link_broker.ts";
import { type Admission, BusyError, type Ticket } from "./admission.ts";
import { mungeTarget, unmungeTarget } from "./symlink_policy.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";
import {
  ModuleNotFoundError,
  ReadOnlyModuleError,
  ServiceError,
  toStatus,
} from "./errors.ts";

/** Most manifest entries one transfer may declare. */
export const MAX_MANIFEST_ENTRIES = 10_000_000;
/** Paths per FileList / ListResponse message. */
const BATCH = 1000;
/** Budget bytes per path a pull's need list names (the string and a slot). */
const NEED_COST = 64;

/** What the handlers need from the daemon. */
export interface ServiceContext {
  config: DaemonConfig;
  /** Null when the daemon forces gRPC data. */
  dataPlane: DataPlaneServer | null;
  log: (line: string) => void;
  /** Makes symlinks (through the link broker when sandboxed). */
  makeSymlink?: SymlinkMaker;
  /** Appends a line to the daemon's performance history. */
  record?: (record: PerfRecord) => void;
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

type PushCall = grpc.ServerDuplexStream<ClientPushRequest, ServerPushResponse>;
type PullCall = grpc.ServerDuplexStream<ClientPullRequest, ServerPullResponse>;

function findModule(ctx: ServiceContext, name: string): ModuleConfig {
  const module = ctx.config.modules.find((m) => m.name === name);
  if (!module) {
    throw new ModuleNotFoundError(
      name,
      ctx.config.modules.map((m) => m.name),
    );
  }
  return module;
}

/**
 * The module's contained root: every filesystem call for this request
 * goes through it (see contained_root.ts).
 */
function moduleRoot(ctx: ServiceContext, module: ModuleConfig): ContainedRoot {
  try {
    const onTempDir = ctx.onTempDir;
    return new ContainedRoot(module.path, "", {
      onTempDir: onTempDir && ((dir) => onTempDir(module, dir)),
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
function clientOf(call: { getPeer(): string }): string {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(":");
  return (colon > 0 ? peer.slice(0, colon) : peer).replace(/^\[|\]$/g, "");
}

/** Refuses manifest paths that use our temp names (they'd dodge the sweep). */
function refuseTempNames(path: string): void {
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
class IdleWatch {
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

function protocolError(message: string): ServiceError {
  return new ServiceError(grpc.status.INVALID_ARGUMENT, message);
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

function pushMessage(
  payload: ServerPushResponse["payload"],
): ServerPushResponse {
  return create(ServerPushResponseSchema, { payload });
}

function pullMessage(
  payload: ServerPullResponse["payload"],
): ServerPullResponse {
  return create(ServerPullResponseSchema, { payload });
}

function advertised(
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

/**
 * Decides how file bytes travel: a data-plane session and its token when
 * the daemon offers TCP and the client didn't ask for gRPC, else gRPC.
 */
async function negotiate(
  ctx: ServiceContext,
  request: {
    module: string;
    scope: TokenScope;
    files: number;
    bytes: number;
    forceGrpc: boolean;
  },
): Promise<{ session?: DataSession; negotiation: DataTransferNegotiation }> {
  const base = {
    files: BigInt(request.files),
    bytes: BigInt(request.bytes),
    streams: 1,
  };
  if (request.files === 0 || ctx.dataPlane === null || request.forceGrpc) {
    return {
      negotiation: create(DataTransferNegotiationSchema, {
        transport: Transport.GRPC,
        ...base,
      }),
    };
  }
  const session = await ctx.dataPlane.openSession({
    module: request.module,
    scope: request.scope,
  });
  const { host, port } = advertised(ctx, ctx.dataPlane);
  return {
    session,
    negotiation: create(DataTransferNegotiationSchema, {
      transport: Transport.TCP,
      host,
      port,
      token: session.token,
      ...base,
    }),
  };
}

function chunkFromMessage(
  message: ClientPushRequest | ServerPullResponse,
): FileDataChunk {
  if (message.payload.case !== "fileData") {
    throw protocolError("Expected file data");
  }
  return fileDataToChunk(message.payload.value);
}

/**
 * What every streaming transfer call holds: its reader, its slot, an idle
 * watch, and the cleanups that stop it (on cancel, idle or failure).
 */
class CallGuard<Req> {
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

/** Where a push writes: checked, placed and (unless a dry run) pinned. */
interface PushTarget {
  module: ModuleConfig;
  header: PushHeader;
  dryRun: boolean;
  /** Session directory relative to the module. */
  rootRel: string;
  /** A single file's name at the destination, when it is renamed. */
  rename?: string;
  root: ContainedRoot;
}

/** Reads the header, checks the module, places and pins the destination. */
async function openPushTarget(
  reader: MessageReader<ClientPushRequest>,
  ctx: ServiceContext,
): Promise<PushTarget> {
  const first = await reader.next();
  if (first?.payload.case !== "header") {
    throw protocolError("Push must start with a header");
  }
  const header = first.payload.value;
  const module = findModule(ctx, header.module);
  if (module.readOnly) throw new ReadOnlyModuleError(module.name);
  const dryRun = header.options?.dryRun ?? false;
  const dest = normalizeRelative(header.destination);
  refuseTempNames(dest);
  const modRoot = moduleRoot(ctx, module);
  // Placement: a file goes into an existing directory (or one named with
  // a trailing slash), otherwise it becomes the destination path itself.
  let rootRel = dest;
  let rename: string | undefined;
  if (header.sourceIsFile) {
    const info = modRoot.lstat(dest);
    if (
      !(dest === "" || header.destination.endsWith("/") || info?.isDirectory)
    ) {
      rootRel = parentOf(dest);
      rename = baseName(dest);
    }
  }
  const root = modRoot.sub(rootRel);
  // Made (or found) now, by a walk that refuses links; its identity is
  // checked on every later walk, so a swap fails the transfer.
  if (!dryRun) pinDestination(root, rootRel);
  return { module, header, dryRun, rootRel, rename, root };
}

function pinDestination(root: ContainedRoot, rootRel: string): void {
  try {
    root.pin({ create: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotADirectory)) throw error;
    const blocker = error.message.replace(/^Not a directory: /, "");
    throw new ServiceError(
      grpc.status.FAILED_PRECONDITION,
      blocker === rootRel
        ? `Destination ${rootRel} exists and is not a directory`
        : `Destination ${rootRel} can't be made: ${blocker} is not a directory`,
    );
  }
}

/** The receiving role for a push, with the daemon's checks on each entry. */
function pushReceiver(
  target: PushTarget,
  ctx: ServiceContext,
  ticket: Ticket,
): Receiver {
  const { header, module, rootRel, root } = target;
  return new Receiver(root, {
    mirror: header.mirror && !header.sourceIsFile,
    dryRun: target.dryRun,
    checksum: header.options?.checksum ?? false,
    exclude: header.options?.exclude,
    rename: target.rename,
    onEntry(entry) {
      refuseTempNames(entry.path);
      if (entry.kind === "symlink" && module.mungeSymlinks) {
        // Before the need list, so an unchanged munged link is skipped.
        const inModule = rootRel === ""
          ? entry.path
          : `${rootRel}/${entry.path}`;
        entry.linkTarget = mungeTarget(inModule, entry.linkTarget ?? "");
      }
    },
    charge: (bytes) => ticket.charge(bytes),
    makeSymlink: ctx.makeSymlink &&
      ((_root, entry) => ctx.makeSymlink!(root, entry)),
  });
}

/** Manifest in, needed paths back to the client in FileList batches. */
async function planPush(
  call: PushCall,
  reader: MessageReader<ClientPushRequest>,
  receiver: Receiver,
): Promise<void> {
  let paths: string[] = [];
  const flush = async () => {
    if (paths.length === 0) return;
    const batch = paths;
    paths = [];
    await writeMessage(
      call,
      pushMessage({
        case: "fileList",
        value: create(FileListSchema, { paths: batch }),
      }),
    );
  };
  await receiver.plan(
    manifestStream(async () => (await reader.next())?.payload, {
      maxEntries: MAX_MANIFEST_ENTRIES,
    }),
    async (path) => {
      paths.push(path);
      if (paths.length >= BATCH) await flush();
    },
  );
  await flush();
}

/**
 * Negotiates the data path and receives the needed files: over the TCP
 * data plane, or as FileData on the call (offered, or the client's
 * fallback), acknowledging every few MiB. Resolves with the transport used.
 */
async function receivePushData(
  call: PushCall,
  guard: CallGuard<ClientPushRequest>,
  ctx: ServiceContext,
  target: PushTarget,
  receiver: Receiver,
): Promise<{ transport: Transport; fallback: boolean }> {
  let received = 0;
  let acked = 0;
  let ackOn = false;
  const sink = receiver.sink({
    onBytes(n) {
      guard.alive();
      received += n;
      if (ackOn && received - acked >= ACK_EVERY_BYTES) {
        acked = received;
        call.write(pushMessage({
          case: "dataAck",
          value: create(DataAckSchema, { bytes: BigInt(received) }),
        }));
      }
    },
  });
  const offer = await negotiate(ctx, {
    module: target.module.name,
    scope: "push",
    files: receiver.needed,
    bytes: receiver.neededBytes,
    forceGrpc: target.header.options?.forceGrpcData ?? false,
  });
  const session = offer.session;
  let grpcIn: GrpcReceiver | undefined;
  let dataConn: Deno.Conn | undefined;
  guard.onStop((error) => {
    session?.cancel();
    grpcIn?.abort(error);
    closeQuietly(dataConn);
  });
  let tcpDone = session?.connection.then((conn) => {
    dataConn = conn;
    return receiver.receiveTcp(conn, sink);
  });
  tcpDone?.catch(() => {});
  await writeMessage(
    call,
    pushMessage({ case: "negotiation", value: offer.negotiation }),
  );
  const takeGrpc = () => {
    ackOn = true;
    return new GrpcReceiver(sink);
  };
  if (!session) grpcIn = takeGrpc();
  for (;;) {
    const message = await guard.reader.next();
    if (!message) {
      throw protocolError("Client ended the call before upload_complete");
    }
    if (message.payload.case === "uploadComplete") break;
    if (!grpcIn) {
      // The client could not reach the data plane: take the bytes here.
      session?.cancel();
      tcpDone = undefined;
      grpcIn = takeGrpc();
    }
    await grpcIn.write(chunkFromMessage(message));
  }
  if (grpcIn) await grpcIn.finish();
  else await tcpDone;
  return {
    transport: grpcIn ? Transport.GRPC : Transport.TCP,
    fallback: session !== undefined && grpcIn !== undefined,
  };
}

/** The summary message that ends a push or pull. */
function summaryOf(
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

/** Push: the client sends a tree, the daemon writes it. */
export async function handlePush(
  call: PushCall,
  ctx: ServiceContext,
): Promise<void> {
  const guard = new CallGuard<ClientPushRequest>(call, ctx, {
    highWaterMark: 4,
  });
  const t0 = performance.now();
  let root: ContainedRoot | undefined;
  try {
    const ticket = guard.admit(ctx);
    const target = await openPushTarget(guard.reader, ctx);
    root = target.root;
    await writeMessage(
      call,
      pushMessage({
        case: "ack",
        value: create(AckSchema, {
          destination: normalizeRelative(target.header.destination),
        }),
      }),
    );
    const receiver = pushReceiver(target, ctx, ticket);
    await planPush(call, guard.reader, receiver);
    const tManifest = performance.now();
    if (target.dryRun) {
      const result = await receiver.finish();
      await writeMessage(
        call,
        pushMessage({ case: "summary", value: summaryOf(result) }),
      );
      call.end();
      return;
    }
    const data = await receivePushData(call, guard, ctx, target, receiver);
    // Walks and deletions go through the session root: no link followed,
    // nothing outside; a swapped destination fails here.
    target.root.verify();
    const result = await receiver.finish();
    await writeMessage(
      call,
      pushMessage({
        case: "summary",
        value: summaryOf(result, data.transport),
      }),
    );
    call.end();
    ctx.record?.(perfRecord("push", data, result, t0, tManifest));
  } catch (error) {
    guard.stop(error instanceof Error ? error : new Error(String(error)));
    // A failed session leaves no temp files behind where it can reach.
    if (root && root.tempDirs.size > 0) {
      sweepTemps(new ContainedRoot(root.modulePath), root.tempDirs);
    }
    failCall(call, error, ctx);
  } finally {
    guard.close();
  }
}

/** The daemon's history line for a finished push or pull. */
function perfRecord(
  op: "push" | "pull",
  data: { transport: Transport; fallback: boolean },
  result: { files: number; bytes: number },
  t0: number,
  tManifest: number,
): PerfRecord {
  return {
    timestamp: new Date().toISOString(),
    op,
    transport: data.transport === Transport.TCP ? "tcp" : "grpc",
    streams: 1,
    files: result.files,
    bytes: result.bytes,
    handshake_ms: 0,
    manifest_ms: Math.round(tManifest - t0),
    transfer_ms: Math.round(performance.now() - tManifest),
    retries: 0,
    fallback: data.fallback,
  };
}

function closeQuietly(conn: Deno.Conn | undefined): void {
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
function safeStatus(
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

function failCall(
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

/** What a pull sends: checked, with its sending role ready. */
interface PullSource {
  module: ModuleConfig;
  header: PullHeader;
  /** The path in the module ("" for its root). */
  path: string;
  isDir: boolean;
  modRoot: ContainedRoot;
}

/** Reads the header and finds what to send. */
async function openPullSource(
  reader: MessageReader<ClientPullRequest>,
  ctx: ServiceContext,
): Promise<PullSource> {
  const first = await reader.next();
  if (first?.payload.case !== "header") {
    throw protocolError("Pull must start with a header");
  }
  const header = first.payload.value;
  const module = findModule(ctx, header.module);
  const path = normalizeRelative(header.path);
  const modRoot = moduleRoot(ctx, module);
  const info = modRoot.lstat(path);
  if (!info || path.split("/").some(isTempName)) {
    throw new ServiceError(
      grpc.status.NOT_FOUND,
      `Path "${path}" not found in module "${module.name}"`,
    );
  }
  return { module, header, path, isDir: info.isDirectory, modRoot };
}

/** Reads the client's need list into the sender, charging each path. */
async function readNeedList(
  reader: MessageReader<ClientPullRequest>,
  sender: Sender,
  ticket: Ticket,
): Promise<void> {
  for (;;) {
    const message = await reader.next();
    if (!message) {
      throw protocolError("Client ended the call inside the need list");
    }
    if (message.payload.case === "needComplete") return;
    if (message.payload.case !== "need") {
      throw protocolError("Expected a need list");
    }
    for (const raw of message.payload.value.paths) {
      const p = normalizeRelative(raw);
      if (!sender.offered(p)) {
        throw protocolError(
          `Need list names ${
            JSON.stringify(raw)
          }, which is not in the manifest`,
        );
      }
      // Asked twice is no error; each needed path is one string held.
      if (sender.need(p)) ticket.charge(NEED_COST);
    }
  }
}

/**
 * Negotiates the data path and sends the needed files: on the client's
 * data connection, or as FileData on the call (offered, or the client's
 * fallback). Resolves once the client said done.
 */
async function sendPullData(
  call: PullCall,
  guard: CallGuard<ClientPullRequest>,
  ctx: ServiceContext,
  source: PullSource,
  sender: Sender,
): Promise<{ transport: Transport; fallback: boolean }> {
  const offer = await negotiate(ctx, {
    module: source.module.name,
    scope: "pull",
    files: sender.needed,
    bytes: sender.neededBytes,
    forceGrpc: source.header.options?.forceGrpcData ?? false,
  });
  const session = offer.session;
  const window = new SendWindow();
  let dataConn: Deno.Conn | undefined;
  guard.onStop((error) => {
    window.fail(error);
    session?.cancel();
    closeQuietly(dataConn);
  });
  await writeMessage(
    call,
    pullMessage({ case: "negotiation", value: offer.negotiation }),
  );
  const alive = () => guard.alive();
  let next: Promise<ClientPullRequest | undefined> = guard.reader.next();
  let transport = Transport.GRPC;
  if (session) {
    const winner = await Promise.race([
      session.connection.then((conn) => ({ conn, message: undefined })),
      next.then((message) => ({ conn: undefined, message })),
    ]);
    if (winner.conn) {
      dataConn = winner.conn;
      transport = Transport.TCP;
      await sender.sendTcp(winner.conn, { onBytes: alive });
    } else if (
      winner.message?.payload.case !== "needComplete" ||
      !winner.message.payload.value.fallbackToGrpc
    ) {
      throw protocolError("Expected the data connection or a fallback request");
    } else {
      session.cancel();
      next = sendOverGrpc(call, guard.reader, sender, window, alive);
    }
  } else {
    // The first message is the client's first ack (or done): hand it on.
    next = sendOverGrpc(call, guard.reader, sender, window, alive, next);
  }
  const done = await next;
  if (done?.payload.case !== "done") {
    throw protocolError("Expected done after the transfer");
  }
  return { transport, fallback: session !== undefined && !dataConn };
}

/** Pull: the daemon sends a tree; the client says what it still needs. */
export async function handlePull(
  call: PullCall,
  ctx: ServiceContext,
): Promise<void> {
  const guard = new CallGuard<ClientPullRequest>(call, ctx);
  const t0 = performance.now();
  try {
    const ticket = guard.admit(ctx);
    const source = await openPullSource(guard.reader, ctx);
    const { modRoot, path, isDir } = source;
    await writeMessage(
      call,
      pullMessage({
        case: "ack",
        value: create(AckSchema, {
          destination: path,
          sourceIsDir: isDir,
          sourceExists: true,
        }),
      }),
    );
    // The sending role: manifest out, the client's need list in. File
    // bytes are read through the contained root: each open handle is
    // checked to be the regular file listed, inside the module.
    const sender = new Sender(modRoot.sub(isDir ? path : parentOf(path)));
    const entries = sourceEntries(modRoot, {
      rel: path,
      name: baseName(path),
      exclude: source.header.options?.exclude,
      hash: source.header.options?.checksum,
    });
    await sender.offer(
      source.module.mungeSymlinks ? unmunged(entries) : entries,
      (payload) => {
        guard.alive(); // a long manifest is progress, not idling
        return writeMessage(call, pullMessage(payload));
      },
    );
    await readNeedList(guard.reader, sender, ticket);
    const tManifest = performance.now();
    const data = await sendPullData(call, guard, ctx, source, sender);
    const result = { files: sender.needed, bytes: sender.neededBytes };
    await writeMessage(
      call,
      pullMessage({
        case: "summary",
        value: summaryOf(result, data.transport),
      }),
    );
    call.end();
    ctx.record?.(perfRecord("pull", data, result, t0, tManifest));
  } catch (error) {
    guard.stop(error instanceof Error ? error : new Error(String(error)));
    failCall(call, error, ctx);
  } finally {
    guard.close();
  }
}

/** Link targets as the client pushed them (see symlink_policy.ts). */
async function* unmunged(
  entries: AsyncIterable<FileEntry>,
): AsyncIterable<FileEntry> {
  for await (const entry of entries) yield unmungeEntry(entry);
}

function unmungeEntry(entry: FileEntry): FileEntry {
  if (entry.kind === "symlink" && entry.linkTarget !== undefined) {
    const target = unmungeTarget(entry.linkTarget);
    if (target !== entry.linkTarget) {
      entry.linkTarget = target;
      entry.size = new TextEncoder().encode(target).length;
    }
  }
  return entry;
}

/**
 * Sends file bytes as FileData, at most a window ahead of the client's
 * acknowledgements; resolves with the client's `done` message.
 */
async function sendOverGrpc(
  call: PullCall,
  reader: MessageReader<ClientPullRequest>,
  sender: Sender,
  window: SendWindow,
  alive: () => void,
  first?: Promise<ClientPullRequest | undefined>,
): Promise<ClientPullRequest | undefined> {
  const tail = acknowledgements(
    reader,
    window,
    () =>
      new ServiceError(
        grpc.status.INVALID_ARGUMENT,
        "Client stopped acknowledging data",
      ),
    first,
  );
  tail.catch(() => {});
  await sender.sendGrpc(window, (chunk) => {
    alive();
    return writeMessage(
      call,
      pullMessage({ case: "fileData", value: chunkToFileData(chunk) }),
    );
  });
  return await tail;
}

/** List: a directory's entries (or one file), in batches. */
export async function handleList(
  call: grpc.ServerWritableStream<ListRequest, ListResponse>,
  ctx: ServiceContext,
): Promise<void> {
  try {
    checkConnection(call, ctx);
    const module = findModule(ctx, call.request.module);
    const path = normalizeRelative(call.request.path);
    const root = moduleRoot(ctx, module);
    const info = root.lstat(path);
    if (!info || path.split("/").some(isTempName)) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    if (!info.isDirectory) {
      const entry = listEntry(
        root,
        path,
        baseName(path),
        module.mungeSymlinks,
      );
      await writeMessage(
        call,
        create(ListResponseSchema, {
          entries: entry ? [entryToHeader(entry)] : [],
          pathIsDir: false,
        }),
      );
      call.end();
      return;
    }
    const names: string[] = [];
    for (const item of Deno.readDirSync(root.dir(path))) {
      if (!isTempName(item.name)) names.push(item.name);
    }
    names.sort();
    let first = true;
    for (let i = 0; i < names.length || first; i += BATCH) {
      // Each batch is looked up in one synchronous turn, after a fresh
      // walk: the awaits between batches let other requests move around.
      const batch = [];
      for (const name of names.slice(i, i + BATCH)) {
        const rel = path === "" ? name : `${path}/${name}`;
        const entry = listEntry(root, rel, name, module.mungeSymlinks);
        if (entry) batch.push(create(FileHeaderSchema, entryToHeader(entry)));
      }
      await writeMessage(
        call,
        create(ListResponseSchema, { entries: batch, pathIsDir: true }),
      );
      first = false;
    }
    call.end();
  } catch (error) {
    failCall(call, error, ctx);
  }
}

function listEntry(
  root: ContainedRoot,
  rel: string,
  name: string,
  munged: boolean,
): FileEntry | undefined {
  try {
    const entry = entryFromPath(root.at(rel), name);
    return munged ? unmungeEntry(entry) : entry;
  } catch {
    return undefined; // vanished, or a socket/fifo
  }
}

/** Purge: delete a file or tree; a module root is emptied, never removed. */
export function handlePurge(
  call: grpc.ServerUnaryCall<PurgeRequest, PurgeResponse>,
  callback: grpc.sendUnaryData<PurgeResponse>,
  ctx: ServiceContext,
): void {
  try {
    checkConnection(call, ctx);
    const request = call.request;
    const module = findModule(ctx, request.module);
    if (module.readOnly) throw new ReadOnlyModuleError(module.name);
    const path = normalizeRelative(request.path);
    if (path === "" && !request.allowRoot) {
      throw new ServiceError(
        grpc.status.FAILED_PRECONDITION,
        `Purging the root of module "${module.name}" needs --yes`,
      );
    }
    const root = moduleRoot(ctx, module);
    const info = root.lstat(path);
    if (!info) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    // Never follows a link; a module root is emptied and kept.
    const counts = root.removeTree(path, { files: 0, dirs: 0 }, {
      dryRun: request.dryRun,
    });
    callback(
      null,
      create(PurgeResponseSchema, {
        filesDeleted: BigInt(counts.files),
        dirsDeleted: BigInt(counts.dirs),
      }),
    );
  } catch (error) {
    const status = safeStatus(error, ctx);
    if (status.code === grpc.status.INTERNAL) {
      ctx.log(`blit-daemon: ${status.details}`);
    }
    callback(status);
  }
}

/** ListModules: names, comments and read-only flags. */
export function handleListModules(ctx: ServiceContext): ListModulesResponse {
  return create(ListModulesResponseSchema, {
    modules: ctx.config.modules.map((m) =>
      create(ModuleInfoSchema, {
        name: m.name,
        comment: m.comment,
        readOnly: m.readOnly,
      })
    ),
  });
}

/** The kind enum of an entry (re-exported for tests). */
export { EntryKind };
