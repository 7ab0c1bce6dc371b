// Pull: the daemon's sender feeds the client's receiver.
import * as grpc from "../deps/grpc.ts";
import { create } from "../deps/protobuf.ts";
import type { FileEntry } from "../fs/entry.ts";
import { sourceEntries } from "../fs/enumerate.ts";
import { isTempName } from "../fs/atomic_write.ts";
import { normalizeRelative } from "../fs/safe_path.ts";
import type { Tree } from "../fs/tree.ts";
import { Sender } from "../transfer/sender.ts";
import {
  AckSchema,
  type ClientPullRequest,
  type PullHeader,
  Transport,
} from "../rpc/service.ts";
import { chunkToFileData, offersOf } from "../rpc/convert.ts";
import {
  acknowledgements,
  type MessageReader,
  SendWindow,
  writeMessage,
} from "../rpc/call_io.ts";
import type { ModuleConfig } from "./config.ts";
import type { Ticket } from "./admission.ts";
import { unmungeTarget } from "./symlink_policy.ts";
import { ServiceError } from "./errors.ts";
import {
  baseName,
  CallGuard,
  clientOf,
  failCall,
  moduleRoot,
  NEED_COST,
  negotiate,
  openModule,
  parentOf,
  perfRecord,
  protocolError,
  type PullCall,
  pullMessage,
  type ServiceContext,
  summaryOf,
} from "./_call.ts";

/** What a pull sends: checked, with its sending role ready. */
interface PullSource {
  module: ModuleConfig;
  header: PullHeader;
  /** The path in the module ("" for its root). */
  path: string;
  isDir: boolean;
  modRoot: Tree;
  /** The pinned directory the pull reads beneath (set by handlePull). */
  top?: Tree;
}

/** Reads the header and finds what to send. */
async function openPullSource(
  reader: MessageReader<ClientPullRequest>,
  ctx: ServiceContext,
  call: PullCall,
): Promise<PullSource> {
  const first = await reader.next();
  if (first?.payload.case !== "header") {
    throw protocolError("Pull must start with a header");
  }
  const header = first.payload.value;
  const module = openModule(ctx, header.module, call);
  const path = normalizeRelative(header.path);
  const modRoot = moduleRoot(ctx, module);
  let info: Deno.FileInfo | undefined;
  try {
    info = modRoot.lstat(path);
  } catch (error) {
    modRoot.close();
    throw error;
  }
  if (!info || path.split("/").some(isTempName)) {
    modRoot.close();
    throw new ServiceError(
      grpc.status.NOT_FOUND,
      `Path "${path}" not found in module "${module.name}"`,
    );
  }
  return { module, header, path, isDir: info.isDirectory, modRoot };
}

/**
 * Reads the client's need list into the sender (which queues each file
 * for the data path at once), charging each path; resolves with whether
 * the client asked to fall back to gRPC.
 */
async function readNeedList(
  reader: MessageReader<ClientPullRequest>,
  sender: Sender,
  ticket: Ticket,
): Promise<{ fallbackToGrpc: boolean }> {
  for (;;) {
    const message = await reader.next();
    if (!message) {
      throw protocolError("Client ended the call inside the need list");
    }
    if (message.payload.case === "needComplete") {
      return { fallbackToGrpc: message.payload.value.fallbackToGrpc };
    }
    if (message.payload.case !== "need") {
      throw protocolError("Expected a need list");
    }
    const offers = offersOf(message.payload.value);
    for (const raw of message.payload.value.paths) {
      const p = normalizeRelative(raw);
      const offer = offers.get(raw);
      if (!sender.need(p, offer)) {
        throw protocolError(
          `Need list names ${
            JSON.stringify(raw)
          }, which is not in the manifest (or not in its order, or twice)`,
        );
      }
      // Each needed path is one entry held until it is sent, with the
      // block hashes of a resume offer (up to 1 MiB each) counted too.
      ticket.charge(NEED_COST + (offer?.hashes.length ?? 0));
    }
    sender.forget(Number(message.payload.value.decided));
  }
}

/**
 * Offers the data path before the manifest, sends the manifest while the
 * client's need list comes back, and sends each needed file as soon as it
 * is named: on the client's data connections, or as FileData on the call
 * after the need list (offered, or the client's fallback). Resolves once
 * the client said done.
 */
async function sendPull(
  call: PullCall,
  guard: CallGuard<ClientPullRequest>,
  ctx: ServiceContext,
  source: PullSource,
  sender: Sender,
  ticket: Ticket,
): Promise<{ transport: Transport; fallback: boolean; streams: number }> {
  const dryRun = source.header.options?.dryRun ?? false;
  const offer = dryRun ? undefined : await negotiate(ctx, {
    module: source.module.name,
    scope: "pull",
    forceGrpc: source.header.options?.forceGrpcData ?? false,
    streams: source.header.options?.streams ?? 0,
  });
  const data = offer?.data;
  const window = new SendWindow();
  guard.onStop((error) => {
    window.fail(error);
    sender.fail(error);
    data?.cancel();
  });
  if (offer) {
    await writeMessage(
      call,
      pullMessage({ case: "negotiation", value: offer.negotiation }),
    );
  }
  const alive = () => guard.alive();
  let tcpIn = false;
  // The client dials at once; frames leave as its need list names files.
  const tcpDone = data?.connections().then((conns) => {
    tcpIn = true;
    return sender.sendTcp(conns, { onBytes: alive });
  });
  tcpDone?.catch(() => {});
  const needs = readNeedList(guard.reader, sender, ticket);
  needs.catch(() => {});
  // Listed beneath the pinned directory too: names and sizes, like bytes,
  // come from the directory that was checked, whatever is renamed.
  const entries = sourceEntries(source.top ?? source.modRoot, {
    rel: source.top ? (source.isDir ? "" : baseName(source.path)) : source.path,
    name: baseName(source.path),
    exclude: source.header.options?.exclude,
    hash: source.header.options?.checksum,
  });
  await sender.offer(
    source.module.mungeSymlinks ? unmunged(entries) : entries,
    (payload) => {
      guard.alive(); // a long manifest is progress, not idling
      return writeMessage(call, pullMessage(payload), { flushed: true });
    },
  );
  const complete = await needs;
  sender.endNeeds();
  let next: Promise<ClientPullRequest | undefined>;
  let transport = Transport.GRPC;
  if (data && !complete.fallbackToGrpc) {
    transport = Transport.TCP;
    await tcpDone;
    next = guard.reader.next();
  } else {
    if (tcpIn) {
      throw protocolError("Fallback asked for after the data streams came");
    }
    data?.cancel();
    next = dryRun
      ? guard.reader.next()
      : sendOverGrpc(call, guard.reader, sender, window, alive);
  }
  const done = await next;
  if (done?.payload.case !== "done") {
    throw protocolError("Expected done after the transfer");
  }
  return {
    transport,
    fallback: data !== undefined && transport === Transport.GRPC,
    streams: transport === Transport.TCP ? data!.sessions.length : 1,
  };
}

/** Pull: the daemon sends a tree; the client says what it still needs. */
export async function handlePull(
  call: PullCall,
  ctx: ServiceContext,
): Promise<void> {
  const guard = new CallGuard<ClientPullRequest>(call, ctx);
  const t0 = performance.now();
  const trees: Tree[] = [];
  try {
    const ticket = guard.admit(ctx);
    const source = await openPullSource(guard.reader, ctx, call);
    const { modRoot, path, isDir } = source;
    trees.push(modRoot);
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
    const top = modRoot.sub(isDir ? path : parentOf(path));
    trees.push(top);
    // Held for the session: every file is read beneath this directory,
    // and one a local user keeps swapping is refused (see Tree.pin).
    top.pin();
    source.top = top;
    const sender = new Sender(top, {
      zeroCopy: ctx.zeroCopy,
      idleMs: ctx.config.limits.idleTimeout * 1000,
    });
    const data = await sendPull(call, guard, ctx, source, sender, ticket);
    const tManifest = performance.now();
    const result = { files: sender.needed, bytes: sender.neededBytes };
    await writeMessage(
      call,
      pullMessage({
        case: "summary",
        value: summaryOf(result, data.transport),
      }),
    );
    call.end();
    ctx.record?.(
      perfRecord("pull", data, result, t0, tManifest, {
        module: source.module.name,
        peer: clientOf(call),
      }),
    );
  } catch (error) {
    guard.stop(error instanceof Error ? error : new Error(String(error)));
    failCall(call, error, ctx);
  } finally {
    guard.close();
    for (const tree of trees) tree.close();
  }
}

/** Link targets as the client pushed them (see symlink_policy.ts). */
async function* unmunged(
  entries: AsyncIterable<FileEntry>,
): AsyncIterable<FileEntry> {
  for await (const entry of entries) yield unmungeEntry(entry);
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

export function unmungeEntry(entry: FileEntry): FileEntry {
  if (entry.kind === "symlink" && entry.linkTarget !== undefined) {
    const target = unmungeTarget(entry.linkTarget);
    if (target !== entry.linkTarget) {
      entry.linkTarget = target;
      entry.size = new TextEncoder().encode(target).length;
    }
  }
  return entry;
}
