// The daemon's gRPC handlers: Push, Pull, List, Purge, ListModules.
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import type { FileEntry } from "../fs/entry.ts";
import { entryFromPath, sourceEntries } from "../fs/enumerate.ts";
import { lstatIfExists, NeedListStream } from "../fs/need_list.ts";
import {
  applyDir,
  applySymlink,
  isTempName,
  setDirTimes,
} from "../fs/atomic_write.ts";
import {
  applyDeletions,
  countTree,
  type DeletionCounts,
  planDeletions,
} from "../fs/mirror_plan.ts";
import { normalizeRelative, resolveInside } from "../fs/safe_path.ts";
import {
  AckSchema,
  type ClientPullRequest,
  type ClientPushRequest,
  DataAckSchema,
  type DataTransferNegotiation,
  DataTransferNegotiationSchema,
  EntryKind,
  FileDataSchema,
  FileHeaderSchema,
  FileListSchema,
  type ListModulesResponse,
  ListModulesResponseSchema,
  type ListRequest,
  type ListResponse,
  ListResponseSchema,
  ModuleInfoSchema,
  type PurgeRequest,
  type PurgeResponse,
  PurgeResponseSchema,
  PushSummarySchema,
  type ServerPullResponse,
  ServerPullResponseSchema,
  type ServerPushResponse,
  ServerPushResponseSchema,
  Transport,
} from "../rpc/service.ts";
import {
  entryToHeader,
  headerToEntry,
  manifestStream,
  sendManifest,
} from "../rpc/convert.ts";
import {
  ACK_EVERY_BYTES,
  acknowledgements,
  MessageReader,
  SendWindow,
  writeMessage,
} from "../rpc/call_io.ts";
import type { DataPlaneServer, DataSession } from "../wire/data_plane.ts";
import type { TokenScope } from "../wire/token.ts";
import { receiveFrames, sendFrames } from "../wire/frame_io.ts";
import { ReceiveSink } from "../wire/receive_sink.ts";
import {
  chunksToFrames,
  type FileDataChunk,
  fileDataChunks,
} from "../wire/grpc_data.ts";
import type { FrameEvent } from "../wire/frame_codec.ts";
import type { DaemonConfig, ModuleConfig } from "./config.ts";
import type { SymlinkMaker } from "./link_broker.ts";
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

function moduleRoot(module: ModuleConfig): string {
  try {
    return Deno.realPathSync(module.path);
  } catch {
    throw new ServiceError(
      grpc.status.UNAVAILABLE,
      `Module "${module.name}" directory is missing on the daemon`,
    );
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

/**
 * Receives file bytes over gRPC: FileData messages in, the shared
 * ReceiveSink at the end.
 */
class GrpcReceiver {
  readonly #writer: WritableStreamDefaultWriter<FileDataChunk>;
  readonly done: Promise<void>;
  constructor(sink: ReceiveSink) {
    const frames = chunksToFrames();
    const ended = new TransformStream<FrameEvent, FrameEvent>({
      flush(controller) {
        controller.enqueue({ type: "end" });
      },
    });
    this.done = frames.readable.pipeThrough(ended).pipeTo(sink);
    this.done.catch(() => {});
    this.#writer = frames.writable.getWriter();
  }
  async write(chunk: FileDataChunk): Promise<void> {
    await this.#writer.ready;
    await this.#writer.write(chunk);
  }
  async finish(): Promise<void> {
    await this.#writer.close();
    await this.done;
  }
  abort(reason: unknown): void {
    this.#writer.abort(reason).catch(() => {});
  }
}

function chunkFromMessage(
  message: ClientPushRequest | ServerPullResponse,
): FileDataChunk {
  if (message.payload.case !== "fileData") {
    throw protocolError("Expected file data");
  }
  const data = message.payload.value;
  return {
    path: normalizeRelative(data.path),
    header: data.header ? headerToEntry(data.header) : undefined,
    data: data.data,
    last: data.last,
  };
}

/** Push: the client sends a tree, the daemon writes it. */
export async function handlePush(
  call: PushCall,
  ctx: ServiceContext,
): Promise<void> {
  const reader = new MessageReader<ClientPushRequest>(call);
  const t0 = performance.now();
  let session: DataSession | undefined;
  let grpcReceiver: GrpcReceiver | undefined;
  const cancelled = () => {
    session?.cancel();
    grpcReceiver?.abort(new Error("client went away"));
  };
  call.on("cancelled", cancelled);
  try {
    const first = await reader.next();
    if (first?.payload.case !== "header") {
      throw protocolError("Push must start with a header");
    }
    const header = first.payload.value;
    const module = findModule(ctx, header.module);
    if (module.readOnly) throw new ReadOnlyModuleError(module.name);
    const options = header.options;
    const dryRun = options?.dryRun ?? false;
    const dest = normalizeRelative(header.destination);
    const modRoot = moduleRoot(module);
    const destAbs = resolveInside(modRoot, dest);
    // Placement: a file goes into an existing directory (or one named with
    // a trailing slash), otherwise it becomes the destination path itself.
    let rootRel = dest;
    let rename: string | undefined;
    let offeredName: string | undefined;
    if (header.sourceIsFile) {
      const info = lstatIfExists(destAbs);
      if (
        !(dest === "" || header.destination.endsWith("/") || info?.isDirectory)
      ) {
        rootRel = parentOf(dest);
        rename = baseName(dest);
      }
    }
    let root = resolveInside(modRoot, rootRel);
    if (!dryRun) {
      const info = lstatIfExists(root);
      if (info && !info.isDirectory) {
        throw new ServiceError(
          grpc.status.FAILED_PRECONDITION,
          `Destination ${rootRel} exists and is not a directory`,
        );
      }
      if (!info) Deno.mkdirSync(root, { recursive: true });
      root = Deno.realPathSync(root);
      resolveInside(
        modRoot,
        root === modRoot ? "" : root.slice(modRoot.length + 1),
      );
    }
    await writeMessage(
      call,
      pushMessage({
        case: "ack",
        value: create(AckSchema, { destination: dest }),
      }),
    );

    // Manifest -> need list -> dirs/links applied, files collected.
    const keep = new Set<string>();
    const expected = new Map<string, FileEntry>();
    const dirs: FileEntry[] = [];
    let links = 0;
    let bytes = 0;
    let paths: string[] = [];
    const flushPaths = async () => {
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
    const manifest = manifestStream(
      async () => (await reader.next())?.payload,
      {
        maxEntries: MAX_MANIFEST_ENTRIES,
        onEntry(entry, index) {
          if (rename !== undefined) {
            if (index > 1) {
              throw protocolError(
                "A single-file push carries one manifest entry",
              );
            }
            offeredName = entry.path;
            entry.path = rename;
          }
          if (header.mirror) keep.add(entry.path);
        },
      },
    );
    const needList = new NeedListStream(root, {
      checksum: options?.checksum ?? false,
    });
    await manifest.pipeThrough(needList).pipeTo(
      new WritableStream<FileEntry>({
        async write(entry) {
          if (entry.kind === "dir") {
            dirs.push(entry);
            if (!dryRun) applyDir(root, entry);
          } else if (entry.kind === "symlink") {
            if (!dryRun) {
              if (ctx.makeSymlink) await ctx.makeSymlink(root, entry);
              else applySymlink(root, entry);
            }
            links++;
          } else {
            // Keyed by the name the client offered; written under entry.path.
            const key = offeredName ?? entry.path;
            if (expected.has(key)) {
              throw protocolError(`Manifest lists ${key} twice`);
            }
            expected.set(key, entry);
            bytes += entry.size;
            paths.push(key);
            if (paths.length >= BATCH) await flushPaths();
          }
        },
      }),
    );
    await flushPaths();
    const tManifest = performance.now();

    let plan: FileEntry[] = [];
    const mirror = header.mirror && !header.sourceIsFile;
    if (dryRun) {
      if (mirror && lstatIfExists(root)) {
        plan = await planDeletions(root, keep, { exclude: options?.exclude });
      }
      await writeMessage(
        call,
        pushMessage({
          case: "summary",
          value: create(PushSummarySchema, {
            filesTransferred: BigInt(expected.size + links),
            bytesTransferred: BigInt(bytes),
            filesDeleted: BigInt(plan.length),
            filesSkipped: BigInt(needList.skipped),
          }),
        }),
      );
      call.end();
      return;
    }

    // Negotiate how the bytes travel.
    // Over gRPC the client waits for acknowledgements (flow control).
    let received = 0;
    let acked = 0;
    let ackOn = false;
    const sink = new ReceiveSink(root, expected, {
      onBytes(n) {
        received += n;
        if (ackOn && received - acked >= ACK_EVERY_BYTES) {
          acked = received;
          call.write(
            pushMessage({
              case: "dataAck",
              value: create(DataAckSchema, { bytes: BigInt(received) }),
            }),
          );
        }
      },
    });
    const offer = await negotiate(ctx, {
      module: module.name,
      scope: "push",
      files: expected.size,
      bytes,
      forceGrpc: options?.forceGrpcData ?? false,
    });
    session = offer.session;
    const useTcp = session !== undefined;
    let tcpDone: Promise<void> | undefined;
    if (session) {
      tcpDone = session.connection.then((conn) =>
        receiveFrames(conn, sink).finally(() => {
          try {
            conn.close();
          } catch {
            // closed by the pipe
          }
        })
      );
      tcpDone.catch(() => {});
    }
    await writeMessage(
      call,
      pushMessage({ case: "negotiation", value: offer.negotiation }),
    );
    let transport = useTcp ? Transport.TCP : Transport.GRPC;
    if (!useTcp) {
      grpcReceiver = new GrpcReceiver(sink);
      ackOn = true;
    }
    for (;;) {
      const message = await reader.next();
      if (!message) {
        throw protocolError("Client ended the call before upload_complete");
      }
      if (message.payload.case === "uploadComplete") break;
      if (message.payload.case !== "fileData") {
        throw protocolError("Expected file data or upload_complete");
      }
      if (!grpcReceiver) {
        // The client could not reach the data plane: take the bytes here.
        session?.cancel();
        tcpDone = undefined;
        transport = Transport.GRPC;
        grpcReceiver = new GrpcReceiver(sink);
        ackOn = true;
      }
      await grpcReceiver.write(chunkFromMessage(message));
    }
    if (grpcReceiver) await grpcReceiver.finish();
    else if (tcpDone) await tcpDone;

    setDirTimes(root, dirs);
    let deleted: DeletionCounts = { files: 0, dirs: 0 };
    if (mirror) {
      // Only now: every needed file has arrived.
      plan = await planDeletions(root, keep, { exclude: options?.exclude });
      deleted = applyDeletions(root, plan);
    }
    await writeMessage(
      call,
      pushMessage({
        case: "summary",
        value: create(PushSummarySchema, {
          filesTransferred: BigInt(sink.stats.files + links),
          bytesTransferred: BigInt(sink.stats.bytes),
          filesDeleted: BigInt(deleted.files),
          filesSkipped: BigInt(needList.skipped),
          transport,
        }),
      }),
    );
    call.end();
    ctx.record?.({
      timestamp: new Date().toISOString(),
      op: "push",
      transport: transport === Transport.TCP ? "tcp" : "grpc",
      streams: 1,
      files: sink.stats.files + links,
      bytes: sink.stats.bytes,
      handshake_ms: 0,
      manifest_ms: Math.round(tManifest - t0),
      transfer_ms: Math.round(performance.now() - tManifest),
      retries: 0,
      fallback: useTcp && transport !== Transport.TCP,
    });
  } catch (error) {
    session?.cancel();
    grpcReceiver?.abort(error);
    failCall(call, error, ctx);
  } finally {
    call.off("cancelled", cancelled);
  }
}

function failCall(
  call: grpc.ServerWritableStream<unknown, unknown> | PushCall | PullCall,
  error: unknown,
  ctx: ServiceContext,
): void {
  const status = toStatus(error);
  if (status.code === grpc.status.INTERNAL) {
    ctx.log(`blit-daemon: ${status.details}`);
  }
  try {
    call.emit("error", status);
  } catch {
    // the call is already gone
  }
}

/** Pull: the daemon sends a tree; the client says what it still needs. */
export async function handlePull(
  call: PullCall,
  ctx: ServiceContext,
): Promise<void> {
  const reader = new MessageReader<ClientPullRequest>(call);
  const t0 = performance.now();
  let session: DataSession | undefined;
  call.on("cancelled", () => session?.cancel());
  try {
    const first = await reader.next();
    if (first?.payload.case !== "header") {
      throw protocolError("Pull must start with a header");
    }
    const header = first.payload.value;
    const module = findModule(ctx, header.module);
    const options = header.options;
    const path = normalizeRelative(header.path);
    const modRoot = moduleRoot(module);
    const srcAbs = resolveInside(modRoot, path);
    const info = lstatIfExists(srcAbs);
    if (!info) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    const isDir = info.isDirectory;
    const srcRoot = isDir ? srcAbs : resolveInside(modRoot, parentOf(path));
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

    const source = sourceEntries(srcAbs, {
      name: baseName(srcAbs),
      exclude: options?.exclude,
      hash: options?.checksum,
    });
    const files = await sendManifest(
      source,
      (payload) => writeMessage(call, pullMessage(payload)),
    );

    const needed: FileEntry[] = [];
    let bytes = 0;
    const asked = new Set<string>();
    for (;;) {
      const message = await reader.next();
      if (!message) {
        throw protocolError("Client ended the call inside the need list");
      }
      if (message.payload.case === "needComplete") break;
      if (message.payload.case !== "need") {
        throw protocolError("Expected a need list");
      }
      for (const raw of message.payload.value.paths) {
        const p = normalizeRelative(raw);
        const entry = files.get(p);
        if (!entry) {
          throw protocolError(
            `Need list names ${
              JSON.stringify(raw)
            }, which is not in the manifest`,
          );
        }
        if (asked.has(p)) continue;
        asked.add(p);
        needed.push(entry);
        bytes += entry.size;
      }
    }
    files.clear();
    const tManifest = performance.now();

    const offer = await negotiate(ctx, {
      module: module.name,
      scope: "pull",
      files: needed.length,
      bytes,
      forceGrpc: options?.forceGrpcData ?? false,
    });
    session = offer.session;
    let transport = offer.negotiation.transport;
    let nextMessage: Promise<ClientPullRequest | undefined> | undefined;
    await writeMessage(
      call,
      pullMessage({ case: "negotiation", value: offer.negotiation }),
    );
    if (session) {
      nextMessage = reader.next();
      const winner = await Promise.race([
        session.connection.then((conn) => ({ conn, message: undefined })),
        nextMessage.then((message) => ({ conn: undefined, message })),
      ]);
      if (winner.conn) {
        const conn = winner.conn;
        try {
          await sendFrames(conn, srcRoot, needed);
        } finally {
          try {
            conn.close();
          } catch {
            // already closed
          }
        }
      } else {
        const message = winner.message;
        if (
          message?.payload.case !== "needComplete" ||
          !message.payload.value.fallbackToGrpc
        ) {
          throw protocolError(
            "Expected the data connection or a fallback request",
          );
        }
        session.cancel();
        transport = Transport.GRPC;
        nextMessage = sendOverGrpc(call, reader, srcRoot, needed);
        await nextMessage;
      }
    } else {
      nextMessage = sendOverGrpc(call, reader, srcRoot, needed);
      await nextMessage;
    }
    const done = await (nextMessage ?? reader.next());
    if (done?.payload.case !== "done") {
      throw protocolError("Expected done after the transfer");
    }
    await writeMessage(
      call,
      pullMessage({
        case: "summary",
        value: create(PushSummarySchema, {
          filesTransferred: BigInt(needed.length),
          bytesTransferred: BigInt(bytes),
          transport,
        }),
      }),
    );
    call.end();
    ctx.record?.({
      timestamp: new Date().toISOString(),
      op: "pull",
      transport: transport === Transport.TCP ? "tcp" : "grpc",
      streams: 1,
      files: needed.length,
      bytes,
      handshake_ms: 0,
      manifest_ms: Math.round(tManifest - t0),
      transfer_ms: Math.round(performance.now() - tManifest),
      retries: 0,
      fallback: offer.session !== undefined && transport !== Transport.TCP,
    });
  } catch (error) {
    session?.cancel();
    failCall(call, error, ctx);
  }
}

/**
 * Sends file bytes as FileData, at most a window ahead of the client's
 * acknowledgements; resolves with the client's `done` message.
 */
async function sendOverGrpc(
  call: PullCall,
  reader: MessageReader<ClientPullRequest>,
  root: string,
  needed: FileEntry[],
): Promise<ClientPullRequest | undefined> {
  const window = new SendWindow();
  const tail = acknowledgements(
    reader,
    window,
    () =>
      new ServiceError(
        grpc.status.INVALID_ARGUMENT,
        "Client stopped acknowledging data",
      ),
  );
  tail.catch(() => {});
  for await (const chunk of fileDataChunks(root, needed)) {
    await window.reserve(chunk.data.length);
    await writeMessage(
      call,
      pullMessage({
        case: "fileData",
        value: create(FileDataSchema, {
          path: chunk.path,
          data: chunk.data,
          last: chunk.last,
          header: chunk.header ? entryToHeader(chunk.header) : undefined,
        }),
      }),
    );
  }
  return await tail;
}

function listEntry(abs: string, name: string): FileEntry | undefined {
  try {
    return entryFromPath(abs, name);
  } catch {
    return undefined; // vanished, or a socket/fifo
  }
}

/** List: a directory's entries (or one file), in batches. */
export async function handleList(
  call: grpc.ServerWritableStream<ListRequest, ListResponse>,
  ctx: ServiceContext,
): Promise<void> {
  try {
    const module = findModule(ctx, call.request.module);
    const path = normalizeRelative(call.request.path);
    const abs = resolveInside(moduleRoot(module), path);
    const info = lstatIfExists(abs);
    if (!info) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    if (!info.isDirectory) {
      const entry = listEntry(abs, baseName(abs));
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
    for (const item of Deno.readDirSync(abs)) {
      if (!isTempName(item.name)) names.push(item.name);
    }
    names.sort();
    let batch = [];
    let first = true;
    for (const name of names) {
      const entry = listEntry(`${abs}/${name}`, name);
      if (!entry) continue;
      batch.push(create(FileHeaderSchema, { ...entryToHeader(entry) }));
      if (batch.length >= BATCH) {
        await writeMessage(
          call,
          create(ListResponseSchema, { entries: batch, pathIsDir: true }),
        );
        batch = [];
        first = false;
      }
    }
    if (batch.length > 0 || first) {
      await writeMessage(
        call,
        create(ListResponseSchema, { entries: batch, pathIsDir: true }),
      );
    }
    call.end();
  } catch (error) {
    failCall(call, error, ctx);
  }
}

/** Purge: delete a file or tree; a module root is emptied, never removed. */
export function handlePurge(
  call: grpc.ServerUnaryCall<PurgeRequest, PurgeResponse>,
  callback: grpc.sendUnaryData<PurgeResponse>,
  ctx: ServiceContext,
): void {
  try {
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
    const root = moduleRoot(module);
    const abs = resolveInside(root, path);
    const info = lstatIfExists(abs);
    if (!info) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    let counts: DeletionCounts;
    if (path === "") {
      const plan: FileEntry[] = [];
      for (const item of Deno.readDirSync(root)) {
        plan.push({
          path: item.name,
          kind: item.isDirectory ? "dir" : "file",
          size: 0,
          mtimeMs: 0,
          mode: 0,
        });
      }
      if (request.dryRun) {
        counts = { files: 0, dirs: 0 };
        for (const e of plan) {
          if (e.kind === "dir") {
            const c = countTree(`${root}/${e.path}`);
            counts.files += c.files;
            counts.dirs += c.dirs;
          } else counts.files++;
        }
      } else counts = applyDeletions(root, plan);
    } else if (request.dryRun) {
      counts = info.isDirectory ? countTree(abs) : { files: 1, dirs: 0 };
    } else {
      counts = applyDeletions(root, [{
        path,
        kind: info.isDirectory ? "dir" : "file",
        size: 0,
        mtimeMs: 0,
        mode: 0,
      }]);
    }
    callback(
      null,
      create(PurgeResponseSchema, {
        filesDeleted: BigInt(counts.files),
        dirsDeleted: BigInt(counts.dirs),
      }),
    );
  } catch (error) {
    const status = toStatus(error);
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
