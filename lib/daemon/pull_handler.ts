// Pull: the daemon's sender feeds the client's receiver.
import { dirTimeOf } from "../fs/apply_tree.ts";
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import type { FileEntry } from "../fs/entry.ts";
import { sourceEntries } from "../fs/enumerate.ts";
import { isTempName } from "../fs/temp_names.ts";
import { normalizeRelative } from "../fs/safe_path.ts";
import type { Tree } from "../fs/tree.ts";
import { Sender } from "../transfer/sender.ts";
import { sendTree, type SentTree } from "../transfer/send_tree.ts";
import { compressionFor } from "../transfer/link_policy.ts";
import { choiceOf } from "../rpc/convert.ts";
import { pullSenderPeer } from "../rpc/role_wire.ts";
import { Bandwidth } from "../wire/bandwidth.ts";
import { MESSAGE_UNITS } from "./admission.ts";
import {
  AckSchema,
  type ClientPullRequest,
  type PullHeader,
  Transport,
} from "../rpc/service.ts";
import {
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
  parentOf,
  protocolError,
  type PullCall,
  pullMessage,
  type ServiceContext,
} from "./context.ts";
import { clientOf, moduleRoot, openModule } from "./access.ts";
import {
  dropNegotiation,
  negotiateAhead,
  type Negotiated,
} from "./negotiate.ts";
import { CallGuard } from "./call_guard.ts";
import { failCall, perfRecord, summaryOf } from "./call_end.ts";
import { withHashHints } from "../delta/hash_hints.ts";
import { isSameHost } from "../transfer/same_host.ts";

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
 * Hosts the sending role (lib/transfer/send_tree.ts) on the call: offers
 * the data path before the manifest (so bytes can flow while it is
 * compared) and lists the source beneath the pinned directory. Resolves
 * once the client said done.
 */
async function sendPull(
  call: PullCall,
  guard: CallGuard<ClientPullRequest>,
  source: PullSource,
  sender: Sender,
  ticket: Ticket,
  negotiating: Promise<Negotiated> | undefined,
): Promise<SentTree> {
  const dryRun = source.header.options?.dryRun ?? false;
  const offer = await negotiating;
  const link = offer?.link;
  const window = new SendWindow();
  guard.onStop((error) => {
    window.fail(error);
    sender.fail(error);
    link?.cancel();
  });
  if (offer) {
    await writeMessage(
      call,
      pullMessage({ case: "negotiation", value: offer.negotiation }),
    );
  }
  // Listed beneath the pinned directory too: names and sizes, like bytes,
  // come from the directory that was checked, whatever is renamed.
  const entries = sourceEntries(source.top ?? source.modRoot, {
    rel: source.top ? (source.isDir ? "" : baseName(source.path)) : source.path,
    name: baseName(source.path),
    exclude: source.header.options?.exclude,
    hash: source.header.options?.checksum,
    // Hints only where they are not hashes already, and a dry run sends
    // nothing to compare.
    ...(source.header.options?.hashHints && !source.header.options.checksum &&
        !dryRun
      ? { hints: withHashHints }
      : {}),
  });
  // Bytes leaving are progress; a manifest batch, one message's worth.
  const alive = (n = MESSAGE_UNITS) => guard.alive(n);
  const bwlimit = Number(source.header.options?.bwlimit ?? 0n);
  return await sendTree(
    pullSenderPeer(call, guard.reader, link, {
      compressManifest: sender.compresses,
    }),
    sender,
    source.module.mungeSymlinks ? unmunged(entries) : entries,
    {
      link,
      dryRun,
      window,
      // A directory's own mtime goes with its manifest (read beneath the
      // pinned directory, like the entries).
      ...(source.isDir && source.top
        ? { root: dirTimeOf(source.top.lstat("")) }
        : {}),
      onBytes: alive,
      onWire: alive,
      // The client's --bwlimit: paced to it, in small writes.
      bandwidth: bwlimit > 0 ? new Bandwidth(bwlimit) : undefined,
      // A long manifest is progress, not idling.
      onManifest: alive,
      charge: (bytes: number) => ticket.charge(bytes),
    },
  );
}

/** Pull: the daemon sends a tree; the client says what it still needs. */
export async function handlePull(
  call: PullCall,
  ctx: ServiceContext,
): Promise<void> {
  const guard = new CallGuard<ClientPullRequest>(call, ctx);
  const t0 = performance.now();
  const trees: Tree[] = [];
  let negotiating: Promise<Negotiated> | undefined;
  try {
    const ticket = guard.admit(ctx);
    const source = await openPullSource(guard.reader, ctx, call);
    ctx.calls?.note(call, { path: source.path });
    const { modRoot, path, isDir } = source;
    trees.push(modRoot);
    // The data path's sessions: their tokens signed while the ack goes out.
    negotiating = negotiateAhead(ctx, {
      module: source.module.name,
      scope: "pull",
      options: source.header.options,
      dryRun: source.header.options?.dryRun ?? false,
    });
    await writeMessage(
      call,
      pullMessage({
        case: "ack",
        value: create(AckSchema, {
          destination: path,
          sourceIsDir: isDir,
          sourceExists: true,
          sameHost: await isSameHost(source.header.hostTag),
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
    const options = source.header.options;
    const sender = new Sender(top, {
      zeroCopy: ctx.zeroCopy,
      idleMs: ctx.config.limits.idleTimeout * 1000,
      // Compressing (on the runtime's worker threads) as the client asks.
      compress: compressionFor(
        choiceOf(options?.compress),
        clientOf(call),
        options?.compressLevel || undefined,
        // The route's rate as the client's history knows it (see
        // CompressOptions.linkBytesPerS): 0 when it does not.
        Number(options?.linkBytesPerS ?? 0n) || undefined,
      ),
    });
    const sent = await sendPull(
      call,
      guard,
      source,
      sender,
      ticket,
      negotiating,
    );
    const result = { files: sender.needed, bytes: sender.neededBytes };
    ctx.calls?.note(call, result);
    await writeMessage(
      call,
      pullMessage({
        case: "summary",
        value: summaryOf(
          result,
          sent.transport === "tcp" ? Transport.TCP : Transport.GRPC,
        ),
      }),
    );
    call.end();
    ctx.record?.(
      perfRecord("pull", sent, result, t0, t0 + sent.manifestMs, {
        module: source.module.name,
        peer: clientOf(call),
      }),
    );
  } catch (error) {
    guard.stop(error instanceof Error ? error : new Error(String(error)));
    // Sessions made for a call that failed before using them go too.
    dropNegotiation(negotiating);
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
