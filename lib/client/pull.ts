// Pull: the client hosts the receiving role (lib/transfer/receive_tree.ts)
// against the daemon's sender. What is here is only the host's part: the
// header, placement, dialling, the daemon's summary and the result.
import { create } from "../rpc/codec.ts";
import { closeDescribers } from "../delta/basis_pool.ts";
import {
  ClientPullRequestSchema,
  PullHeaderSchema,
  type ServerPullResponse,
} from "../rpc/service.ts";
import { MessageReader, writeMessage } from "../rpc/call_io.ts";
import { pullReceiverPeer } from "../rpc/role_wire.ts";
import { Receiver } from "../transfer/receiver.ts";
import {
  receiveTree,
  type ReceiveTreeOptions,
} from "../transfer/receive_tree.ts";
import { Bandwidth } from "../wire/bandwidth.ts";
import type { RemoteAddress } from "./address.ts";
import { RemoteError } from "./connect.ts";
import { basename, ensureDirectory, placeLocal } from "./placement.ts";
import type { TransferResult } from "./summary.ts";
import {
  bindWhileWaiting,
  expectAck,
  openDataPath,
  type PullCall,
  type RemoteTransferOptions,
  runCall,
  transferOptions,
  wireResult,
  withRetries,
} from "./transfer_call.ts";
import {
  type Choice,
  compressionFor,
  isLoopback,
  useDelta,
} from "../transfer/link_policy.ts";
import { hostTag } from "../transfer/same_host.ts";

/**
 * Workers writing a pull's small files (see `ReceiveSinkOptions.writers`):
 * only cores nobody else needs. Measured on a 2-core VM with the daemon on
 * the same machine (10,000 x 4 KiB pull): 0.64-0.69 s with none, 0.68-0.73
 * s with two and 35 MiB more RSS; both processes already keep both cores
 * busy, so Workers only help where there is a core to spare. The daemon
 * runs here when it listens on loopback, or when it says it shares this
 * kernel (`sameHost`: another network namespace, a container; see
 * lib/transfer/same_host.ts): 10,000 ~1 KiB files pulled over a 1 Gbit/s
 * veth link between two namespaces of a 2-core VM, 0.44 s with one
 * writer, 0.38 without (9 pairs; client CPU -95 ms).
 *
 * @example
 * ```ts
 * import { pullWriters } from "./pull.ts";
 * if (pullWriters("10.0.0.2", 2) !== 1 || pullWriters("10.0.0.2", 2, true) !== 0) throw new Error("example failed");
 * if (pullWriters("127.0.0.1", 8) !== 2) throw new Error("example failed");
 * ```
 */
export function pullWriters(
  host: string,
  cores: number,
  sameHost = false,
): number {
  // This process's main thread, and the daemon's when it runs here.
  const busy = isLoopback(host) || sameHost ? 2 : 1;
  return Math.max(0, Math.min(2, cores - busy));
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

/** The receiving role for a pull, with the client's checks on each entry. */
function pullReceiver(
  root: string,
  name: string | undefined,
  options: RemoteTransferOptions,
  delta: boolean,
  hashHints: boolean,
): Receiver {
  let entries = 0;
  const progress = options.progress;
  const dropSpecial = !options.keepSpecialBits && runsAsRoot();
  return new Receiver(root, {
    mirror: options.mirror,
    dryRun: options.dryRun ?? false,
    checksum: options.checksum,
    exclude: options.exclude,
    rename: name,
    onEntry: (progress || dropSpecial)
      ? (entry) => {
        // A daemon can't hand a root client a setuid file by default.
        if (dropSpecial) entry.mode &= 0o777;
        if (progress && ++entries % 256 === 0) progress.scan?.(entries);
      }
      : undefined,
    onLink: progress && (() => progress.link?.()),
    onItem: options.onItem,
    delta,
    hashHints,
    // What the last pulls on the route found of grown files (copied: the
    // receiver updates its own).
    ...(options.grown ? { grown: { ...options.grown } } : {}),
  });
}

/**
 * Whether a pull asks for the daemon's hash hints (see
 * lib/delta/hash_hints.ts): a delta transfer into a directory that holds
 * something already (into a new one the daemon would hash every file for
 * nothing; a single file is offered by its hash as it is).
 */
function wantsHints(
  dst: string,
  options: RemoteTransferOptions,
  delta: boolean,
): boolean {
  if (!delta || options.checksum || options.dryRun) return false;
  try {
    for (const _ of Deno.readDirSync(dst)) return true;
  } catch {
    // missing, or not a directory
  }
  return false;
}

/** How the client receives: its writers, progress and bandwidth limit. */
function receiveOptions(
  src: RemoteAddress,
  options: RemoteTransferOptions,
  sameHost: boolean,
): ReceiveTreeOptions {
  const progress = options.progress;
  return {
    sink: {
      // Small files are written by Workers with sync calls.
      writers: options.writers ??
        pullWriters(src.host, navigator.hardwareConcurrency, sameHost),
      onFile: progress && (() => progress.file()),
      onBytes: progress && ((n) => progress.bytes(n)),
    },
    bandwidth: options.bwlimit ? new Bandwidth(options.bwlimit) : undefined,
    onNeeds: progress && ((files, bytes) => progress.total(files, bytes)),
    onPlanned: progress?.planned && (() => progress.planned!()),
  };
}

function pullOnce(
  src: RemoteAddress,
  dst: string,
  options: RemoteTransferOptions,
): Promise<TransferResult> {
  const dryRun = options.dryRun ?? false;
  const t0 = performance.now();
  const delta = useDelta(
    options.delta ?? "auto",
    src.host,
    options.linkBytesPerS,
  );
  const hashHints = wantsHints(dst, options, delta);
  // The daemon sends: it compresses as told (auto: when it pays).
  const compress = compressChoice(options, src.host);
  // The same-host tag, made while the call opens: its SHA-256 is an async
  // op (a few ms in a new process) the header would otherwise wait for.
  // (Not on loopback: that is this machine already.)
  const tagging = isLoopback(src.host)
    ? Promise.resolve(new Uint8Array(0))
    : hostTag();
  tagging.catch(() => {});
  return runCall(src, (c) => c.pull() as PullCall, async (call) => {
    const reader = new MessageReader<ServerPullResponse>(call);
    const tag = await tagging;
    await writeMessage(
      call,
      create(ClientPullRequestSchema, {
        payload: {
          case: "header",
          value: create(PullHeaderSchema, {
            module: src.module,
            path: src.path,
            options: transferOptions({ ...options, compress }, hashHints),
            hostTag: tag,
          }),
        },
      }),
    );
    // While the daemon answers and the data path opens: the native
    // functions deciding, hashing, unpacking and writing will call.
    const stopBinding = bindWhileWaiting(
      [
        "syscall",
        "close",
        "statx",
        "read",
        "write",
        "futimens",
        "fchmod",
        "renameat2",
      ],
      { delta, compress: compress !== "off" },
    );
    const ack = await expectAck(reader, "pull").catch((error) => {
      stopBinding();
      throw error;
    });
    options.onAccepted?.();
    const sourceIsDir = ack.payload.value.sourceIsDir;
    const handshakeMs = performance.now() - t0;
    const remoteName = basename(src.path) || src.module;
    const place = pullRoot(dst, sourceIsDir, remoteName, dryRun);
    const receiver = pullReceiver(
      place.root,
      place.name,
      options,
      delta,
      hashHints,
    );
    const t1 = performance.now();
    const { link, fallback } = await openDataPath(reader, src, options)
      .finally(stopBinding);
    // Need lists (with the old copies' descriptions) compressed as the
    // daemon's data will be.
    const peer = pullReceiverPeer(call, reader, fallback, {
      compressNeeds: compress !== "off",
    });
    const got = await receiveTree(peer, receiver, {
      ...receiveOptions(src, options, ack.payload.value.sameHost),
      link,
      dryRun,
      mirror: (options.mirror ?? false) && sourceIsDir,
    });
    const final = await reader.next();
    if (final?.payload.case !== "summary") {
      throw new RemoteError(
        "the daemon ended the pull without a summary",
        14,
        true,
      );
    }
    call.end();
    const result = got.result;
    return {
      filesTransferred: result.files,
      bytesTransferred: result.bytes,
      bytesResumed: result.resumed,
      filesDeleted: result.deleted,
      filesSkipped: result.skipped,
      transport: got.transport,
      streams: got.streams,
      fallback: got.fallback,
      handshakeMs,
      manifestMs: got.manifestMs,
      transferMs: performance.now() - t1 - got.manifestMs,
      retries: 0,
      ...(delta && !dryRun ? { grown: receiver.grownSeen } : {}),
      ...wireResult(
        result.bytes,
        result.resumed,
        result.matched,
        {
          sent: got.control.sent,
          received: got.control.received + receiver.wire.dataBytes,
        },
        receiver.wire,
      ),
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
 * import { pullRemote } from "@blit/cli/mod";
 * import { parseRemote } from "@blit/cli/mod";
 * await pullRemote(parseRemote("blit://127.0.0.1/default/dir"), "./dir");
 * ```
 */
export function pullRemote(
  src: RemoteAddress,
  dst: string,
  options: RemoteTransferOptions = {},
): Promise<TransferResult> {
  // The workers that described old copies go with the transfer.
  return withRetries(options, () => pullOnce(src, dst, options))
    .finally(closeDescribers);
}

/** What the daemon is told about compressing what it sends. */
function compressChoice(
  options: RemoteTransferOptions,
  host: string,
): Choice {
  const how = compressionFor(
    options.compress ?? "auto",
    host,
    options.compressLevel,
  );
  return how ? how.mode : "off";
}

/** Whether this process runs as root (false where that can't be told). */
function runsAsRoot(): boolean {
  try {
    return Deno.uid() === 0;
  } catch {
    return false;
  }
}
