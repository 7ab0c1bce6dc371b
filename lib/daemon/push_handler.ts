// Push: the client's sender feeds the daemon's receiver.
import { PUSH_HINT_MAX_BYTES } from "../delta/hash_hints.ts";
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import { PARTIAL_KEEP_MS, sweepTemps } from "../fs/sweep.ts";
import { normalizeRelative } from "../fs/safe_path.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import type { Tree } from "../fs/tree.ts";
import { Receiver } from "../transfer/receiver.ts";
import type { GrownFiles } from "../transfer/grown_files.ts";
import { type ReceivedTree, receiveTree } from "../transfer/receive_tree.ts";
import { useDelta } from "../transfer/link_policy.ts";
import { choiceOf } from "../rpc/convert.ts";
import { pushReceiverPeer } from "../rpc/role_wire.ts";
import {
  AckSchema,
  type ClientPushRequest,
  ItemListSchema,
  type PushHeader,
  PushProgressSchema,
} from "../rpc/service.ts";
import { type MessageReader, writeMessage } from "../rpc/call_io.ts";
import type { ModuleConfig } from "./config.ts";
import type { Ticket } from "./admission.ts";
import { mungeTarget } from "./symlink_policy.ts";
import { ReadOnlyModuleError, ServiceError } from "./errors.ts";
import {
  baseName,
  MAX_MANIFEST_ENTRIES,
  parentOf,
  protocolError,
  type PushCall,
  pushMessage,
  type ServiceContext,
} from "./context.ts";
import { clientOf, moduleRoot, openModule, refuseTempNames } from "./access.ts";
import { compressionFor } from "../transfer/link_policy.ts";
import {
  dropNegotiation,
  negotiateAhead,
  type Negotiated,
} from "./negotiate.ts";
import { CallGuard } from "./call_guard.ts";
import { failCall, perfRecord } from "./call_end.ts";

/** Where a push writes: checked, placed and (unless a dry run) pinned. */
interface PushTarget {
  module: ModuleConfig;
  header: PushHeader;
  dryRun: boolean;
  /** Session directory relative to the module. */
  rootRel: string;
  /** A single file's name at the destination, when it is renamed. */
  rename?: string;
  root: Tree;
  /** The module's tree the session's is inside (closed with it). */
  modRoot: Tree;
}

/** Reads the header, checks the module, places and pins the destination. */
async function openPushTarget(
  reader: MessageReader<ClientPushRequest>,
  ctx: ServiceContext,
  call: PushCall,
): Promise<PushTarget> {
  const first = await reader.next();
  if (first?.payload.case !== "header") {
    throw protocolError("Push must start with a header");
  }
  const header = first.payload.value;
  const module = openModule(ctx, header.module, call);
  if (module.readOnly) throw new ReadOnlyModuleError(module.name);
  const dryRun = header.options?.dryRun ?? false;
  const dest = normalizeRelative(header.destination);
  refuseTempNames(dest);
  const modRoot = moduleRoot(ctx, module);
  let root: Tree | undefined;
  try {
    // Placement: a file goes into an existing directory (or one named
    // with a trailing slash), otherwise it becomes the destination path.
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
    root = modRoot.sub(rootRel);
    // Made (or found) now, refusing links on the way, and held: every
    // later call resolves beneath this very directory.
    if (!dryRun) pinDestination(root, rootRel);
    return { module, header, dryRun, rootRel, rename, root, modRoot };
  } catch (error) {
    root?.close();
    modRoot.close();
    throw error;
  }
}

function pinDestination(root: Tree, rootRel: string): void {
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

/** Destinations whose grown files the daemon remembers, at most. */
const GROWN_KEPT = 1024;
/**
 * What the files that grew past their old copies were in the last pushes
 * to each destination (module and path), for the next push's first choice
 * (see `GrownFiles`): the oldest forgotten first.
 */
const grownByDestination = new Map<string, GrownFiles>();

/** The grown files kept for a push to `rootRel` in `module` (made if new). */
function grownFor(module: string, rootRel: string): GrownFiles {
  const key = `${module}\0${rootRel}`;
  let grown = grownByDestination.get(key);
  if (grown) grownByDestination.delete(key);
  else grown = { appended: 0, other: 0, streak: 0 };
  // Last used last: the first key is the one longest unused.
  grownByDestination.set(key, grown);
  if (grownByDestination.size > GROWN_KEPT) {
    grownByDestination.delete(grownByDestination.keys().next().value!);
  }
  return grown;
}

/** The receiving role for a push, with the daemon's checks on each entry. */
function pushReceiver(
  target: PushTarget,
  ctx: ServiceContext,
  ticket: Ticket,
  client: string,
  hashHints: boolean,
  items?: ItemBatch,
): Receiver {
  const { header, module, rootRel, root } = target;
  return new Receiver(root, {
    delta: useDelta(choiceOf(header.options?.delta), client),
    // Files are in the need list already; links, files settled by their
    // hash hints and deletions are not.
    onItem: items && ((sign, path, kind) => {
      if (sign === "-") items.deleted.push(path);
      else if (kind === "link" || kind === "same") items.added.push(path);
    }),
    mirror: header.mirror && !header.sourceIsFile,
    dryRun: target.dryRun,
    checksum: header.options?.checksum ?? false,
    hashHints,
    hintMaxBytes: PUSH_HINT_MAX_BYTES,
    grown: target.dryRun ? undefined : grownFor(module.name, rootRel),
    exclude: header.options?.exclude,
    rename: target.rename,
    onEntry(entry) {
      refuseTempNames(entry.path);
      // Setuid, setgid and sticky bits only where the module allows them.
      if (!module.keepSpecialBits) entry.mode &= 0o777;
      if (entry.kind === "symlink" && module.mungeSymlinks) {
        // Before the need list, so an unchanged munged link is skipped.
        const inModule = rootRel === ""
          ? entry.path
          : `${rootRel}/${entry.path}`;
        entry.linkTarget = mungeTarget(inModule, entry.linkTarget ?? "");
      }
    },
    charge: (bytes) => ticket.charge(bytes),
    // The walk fallback can't make links under Deno's sandbox: the
    // parent does (link_broker.ts). A kernel tree makes them itself.
    makeSymlink: ctx.makeSymlink && root instanceof ContainedRoot
      ? ((_root, entry) => ctx.makeSymlink!(root, entry))
      : undefined,
  });
}

/**
 * Whether this push takes the manifest's hash hints (the client offered
 * them; see PROTOCOL.md, "Hash hints"): a tree sent as a delta, not
 * compared by content anyway, not a dry run, into a destination that holds
 * something (else every hint would be hashed by the client for nothing).
 */
function takesHints(target: PushTarget, client: string): boolean {
  const { header } = target;
  const options = header.options;
  if (
    !options?.hashHints || options.checksum || target.dryRun ||
    header.sourceIsFile || !useDelta(choiceOf(options.delta), client)
  ) return false;
  try {
    return target.root.readDir("").length > 0;
  } catch {
    return false;
  }
}

/** Links made and files deleted, waiting to be named to the client. */
interface ItemBatch {
  added: string[];
  deleted: string[];
}

/** Sends what `items` holds, in messages of at most 1,000 paths. */
async function sendItems(call: PushCall, items: ItemBatch | undefined) {
  while (items && (items.added.length > 0 || items.deleted.length > 0)) {
    const added = items.added.splice(0, 1000);
    const deleted = items.deleted.splice(0, 1000 - added.length);
    await writeMessage(
      call,
      pushMessage({
        case: "items",
        value: create(ItemListSchema, { added, deleted }),
      }),
    );
  }
}

/**
 * Hosts the receiving role (lib/transfer/receive_tree.ts) on the call:
 * offers the data path before the manifest (so bytes can flow while it
 * is compared), tells the client what has landed four times a second
 * when it asked, and names links and deletions when it asked (`-v`).
 */
async function receivePush(
  call: PushCall,
  guard: CallGuard<ClientPushRequest>,
  target: PushTarget,
  receiver: Receiver,
  items: ItemBatch | undefined,
  negotiating: Promise<Negotiated> | undefined,
): Promise<ReceivedTree> {
  let received = 0;
  let committed = 0;
  // The client's progress bar hears what has landed, 4 times a second.
  let told = "";
  const report = () => {
    const links = receiver.links;
    const now = `${committed}:${links}`;
    if (now === told) return;
    told = now;
    call.write(pushMessage({
      case: "progress",
      value: create(PushProgressSchema, {
        files: BigInt(committed),
        links: BigInt(links),
        bytes: BigInt(received),
      }),
    }));
  };
  const wanted = !target.dryRun &&
    (target.header.options?.progressReports ?? false);
  const reporting = wanted ? setInterval(report, 250) : undefined;
  guard.onStop(() => clearInterval(reporting));
  const offer = await negotiating;
  const link = offer?.link;
  guard.onStop(() => link?.cancel());
  if (offer) {
    await writeMessage(
      call,
      pushMessage({ case: "negotiation", value: offer.negotiation }),
    );
  }
  // Need lists (with the old copies' descriptions) compressed as the
  // client's data would be: not on loopback, not when told not to.
  const options = target.header.options;
  const compressNeeds = compressionFor(
    choiceOf(options?.compress),
    clientOf(call),
  ) !== undefined;
  const peer = pushReceiverPeer(call, guard.reader, { compressNeeds });
  return await receiveTree(peer, receiver, {
    link,
    dryRun: target.dryRun,
    maxEntries: MAX_MANIFEST_ENTRIES,
    sink: {
      onFile() {
        committed++;
      },
      onBytes(n: number) {
        guard.alive(n);
        received += n;
      },
    },
    beforeNeeds: () => sendItems(call, items),
    // Walks and deletions go through the session root: no link followed,
    // nothing outside; a swapped destination fails here.
    beforeFinish: () => {
      if (!target.dryRun) target.root.verify();
    },
    beforeDone: async () => {
      clearInterval(reporting);
      if (wanted) report();
      await sendItems(call, items);
    },
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
  let target: PushTarget | undefined;
  let negotiating: Promise<Negotiated> | undefined;
  try {
    const ticket = guard.admit(ctx);
    target = await openPushTarget(guard.reader, ctx, call);
    ctx.calls?.note(call, {
      path: normalizeRelative(target.header.destination),
    });
    const hints = takesHints(target, clientOf(call));
    // The data path's sessions: their tokens signed while the ack goes out.
    negotiating = negotiateAhead(ctx, {
      module: target.module.name,
      scope: "push",
      options: target.header.options,
      dryRun: target.dryRun,
    });
    await writeMessage(
      call,
      pushMessage({
        case: "ack",
        value: create(AckSchema, {
          destination: normalizeRelative(target.header.destination),
          oldCopies: hints,
        }),
      }),
    );
    const items = target.header.options?.listItems
      ? { added: [], deleted: [] }
      : undefined;
    const receiver = pushReceiver(
      target,
      ctx,
      ticket,
      clientOf(call),
      hints,
      items,
    );
    const got = await receivePush(
      call,
      guard,
      target,
      receiver,
      items,
      negotiating,
    );
    ctx.calls?.note(call, {
      files: got.result.files,
      bytes: got.result.bytes,
      deleted: got.result.deleted,
    });
    call.end();
    if (target.dryRun) return;
    ctx.record?.(
      perfRecord("push", got, got.result, t0, t0 + got.manifestMs, {
        module: target.module.name,
        peer: clientOf(call),
      }),
    );
  } catch (error) {
    guard.stop(error instanceof Error ? error : new Error(String(error)));
    // Sessions made for a call that failed before using them go too.
    dropNegotiation(negotiating);
    // A failed session leaves no temp files behind where it can reach.
    // Partial copies of big files stay for the rerun to resume.
    if (target && target.root.tempDirs.size > 0) {
      sweepTemps(target.modRoot, target.root.tempDirs, {
        keepPartialsMs: PARTIAL_KEEP_MS,
      });
    }
    failCall(call, error, ctx);
  } finally {
    guard.close();
    target?.root.close();
    target?.modRoot.close();
  }
}
