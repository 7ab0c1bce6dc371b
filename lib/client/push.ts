// Push: the client hosts the sending role (lib/transfer/send_tree.ts)
// against the daemon's receiver. What is here is only the host's part:
// the header, the daemon's reports, dialling, and the result.
import { preciseLstat } from "../fs/native_stat.ts";
import { dirTimeOf } from "../fs/apply_tree.ts";
import { create } from "../rpc/codec.ts";
import { sourceEntries } from "../fs/enumerate.ts";
import {
  ClientPushRequestSchema,
  PushHeaderSchema,
  type ServerPushResponse,
} from "../rpc/service.ts";
import { MessageReader, writeMessage } from "../rpc/call_io.ts";
import { pushSenderPeer } from "../rpc/role_wire.ts";
import { Sender } from "../transfer/sender.ts";
import { sendTree } from "../transfer/send_tree.ts";
import { withLocalHashHints } from "../delta/hash_hints.ts";
import { Bandwidth } from "../wire/bandwidth.ts";
import { loadZeroCopy } from "../wire/zero_copy.ts";
import type { ProgressSink } from "../ui/progress.ts";
import type { RemoteAddress } from "./address.ts";
import { basename, dirname, sourceIsDirectory } from "./placement.ts";
import type { TransferResult } from "./summary.ts";
import {
  bindWhileWaiting,
  expectAck,
  openDataPath,
  type PushCall,
  type RemoteTransferOptions,
  runCall,
  transferOptions,
  wireResult,
  withRetries,
} from "./transfer_call.ts";
import {
  compressionFor,
  useDelta,
  useSendfile,
} from "../transfer/link_policy.ts";

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

/** The daemon's progress reports and item lists go straight to the user. */
function reportsOf(options: RemoteTransferOptions) {
  return (message: ServerPushResponse): boolean => {
    const p = message.payload;
    if (p.case === "items") {
      for (const path of p.value.added) options.onItem?.("+", path);
      for (const path of p.value.deleted) options.onItem?.("-", path);
      return true;
    }
    if (p.case !== "progress") return false;
    options.progress?.peer?.(Number(p.value.files), Number(p.value.links));
    return true;
  };
}

/** The push call's first message: where to, and how. */
function headerOf(
  dest: RemoteAddress,
  source: LocalSource,
  options: RemoteTransferOptions,
  delta: boolean,
  offersHints: boolean,
) {
  return create(ClientPushRequestSchema, {
    payload: {
      case: "header",
      value: create(PushHeaderSchema, {
        module: dest.module,
        destination: dest.path +
          (dest.trailingSlash && dest.path !== "" ? "/" : ""),
        mirror: options.mirror ?? false,
        // The daemon receives: it describes old copies if told to.
        options: transferOptions({
          ...options,
          delta: delta ? "on" : "off",
        }, offersHints),
        sourceIsFile: !source.isDir,
      }),
    },
  });
}

function pushOnce(
  src: string,
  dest: RemoteAddress,
  options: RemoteTransferOptions,
): Promise<TransferResult> {
  const source = localSource(src);
  const dryRun = options.dryRun ?? false;
  const progress = options.progress;
  const t0 = performance.now();
  return runCall(dest, (c) => c.push() as PushCall, async (call) => {
    const reader = new MessageReader<ServerPushResponse>(call, {
      aside: reportsOf(options),
    });
    const delta = useDelta(
      options.delta ?? "auto",
      dest.host,
      options.linkBytesPerS,
    );
    // Hash hints offered (see `RemoteTransferOptions.hashHints`) for a
    // tree pushed as a delta, not compared by content anyway, not a dry
    // run; listed only if the daemon's ack says it holds old copies.
    const offered = (options.hashHints ?? false) && delta && source.isDir &&
      !options.checksum && !dryRun;
    await writeMessage(
      call,
      headerOf(dest, source, options, delta, offered),
    );
    const compress = compressionFor(
      options.compress ?? "auto",
      dest.host,
      options.compressLevel,
      options.linkBytesPerS,
    );
    // While the daemon answers and the data path opens: the native
    // functions the walk, the hashing and the compressing will call.
    const stopBinding = bindWhileWaiting(
      ["syscall", "close", "statx", "getdents64", "read"],
      { delta, compress: compress !== undefined },
    );
    const ack = await expectAck(reader, "push").catch((error) => {
      stopBinding();
      throw error;
    });
    // Hashed here, one file after another, as the walk lists them: only
    // where the daemon has old copies to compare them with.
    const hints = offered && ack.payload.value.oldCopies;
    options.onAccepted?.();
    const handshakeMs = performance.now() - t0;
    const t1 = performance.now();
    const { link } = await openDataPath(reader, dest, options).finally(
      stopBinding,
    );
    const sender = new Sender(source.root, {
      verified: new Set(),
      zeroCopy: useSendfile(options.zeroCopy, dest.host)
        ? loadZeroCopy()
        : undefined,
      compress,
    });
    const listed = sourceEntries(source.path, {
      name: source.name,
      exclude: options.exclude,
      hash: options.checksum,
    });
    const walked = hints ? withLocalHashHints(source.root, listed) : listed;
    // Counted for a progress bar only (a hop an entry otherwise).
    const entries = progress ? scanned(walked, progress) : walked;
    const wire = pushSenderPeer(call, reader, {
      compressManifest: sender.compresses,
    });
    const sent = await sendTree(wire, sender, entries, {
      link,
      dryRun,
      // The directory's own mtime, for the one it fills.
      ...(source.isDir ? { root: dirTimeOf(preciseLstat(source.root)) } : {}),
      onNeed: options.onItem && ((path) => options.onItem!("+", path)),
      onNeeds: progress && ((files, bytes) => progress.total(files, bytes)),
      onPlanned: progress?.planned && (() => progress.planned!()),
      onBytes: progress && ((n) => progress.bytes(n)),
      onFile: progress && (() => progress.file()),
      bandwidth: options.bwlimit ? new Bandwidth(options.bwlimit) : undefined,
    });
    call.end();
    return {
      filesTransferred: sent.summary.files,
      bytesTransferred: sent.summary.bytes,
      filesDeleted: sent.summary.deleted,
      filesSkipped: sent.summary.skipped,
      transport: sent.transport,
      streams: sent.streams,
      fallback: sent.fallback,
      handshakeMs,
      manifestMs: sent.manifestMs,
      transferMs: performance.now() - t1 - sent.manifestMs,
      retries: 0,
      bytesResumed: sender.resumedBytes,
      filesSame: (sent.summary.same ?? 0) + sender.sameByHash,
      ...wireResult(
        sent.summary.bytes,
        sender.resumedBytes,
        sent.summary.matched,
        {
          sent: sent.control.sent + sender.wire.dataBytes,
          received: sent.control.received,
        },
        sender.wire,
      ),
    };
  });
}

/**
 * Pushes a local file or tree to `dest` (placement rules of the contract),
 * over the TCP data plane when the daemon offers it, else over gRPC.
 *
 * Permissions: read on `src`, net to the daemon.
 *
 * @example
 * ```ts ignore
 * import { pushRemote } from "@blit/cli/mod";
 * import { parseRemote } from "@blit/cli/mod";
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

/** `entries`, counted into the progress bar's scan as they are walked. */
async function* scanned<T>(
  entries: AsyncIterable<T>,
  progress: ProgressSink,
): AsyncIterable<T> {
  let n = 0;
  for await (const entry of entries) {
    if (++n % 256 === 0) progress.scan?.(n);
    yield entry;
  }
  progress.scan?.(n);
}
