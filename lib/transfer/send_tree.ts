// The sending role's conversation, once for push (the client) and pull
// (the daemon): the manifest goes out while the receiver's need list
// comes back; each needed file leaves as soon as it is named, on the data
// connections, or in messages after the need list (acknowledged every
// few MiB); then the receiver says it is done.
import type { DirTime } from "../fs/apply_tree.ts";
import type { FileEntry } from "../fs/entry.ts";
import { normalizeRelative } from "../fs/safe_path.ts";
import { SendWindow } from "../rpc/call_io.ts";
import type { Bandwidth } from "../wire/bandwidth.ts";
import type { Sender } from "./sender.ts";
import { after, type Timer } from "../timer.ts";
import { basisProblem } from "../delta/basis.ts";
import {
  connectionCut,
  countingPeer,
  type DataLink,
  type MessageTally,
  PeerError,
  type ReceivedSummary,
  type ReceiverPeer,
} from "./peer.ts";

/** Options for {@linkcode sendTree}. */
export interface SendTreeOptions {
  /**
   * The data connections, when the daemon offered them (see `DataLink`).
   * Default: none (the bytes go in messages).
   */
  link?: DataLink;
  /** Only list what would move: no data phase. Default: false. */
  dryRun?: boolean;
  /**
   * The transfer root directory's mtime, when the root is a directory:
   * the receiver gives it to the directory it fills. Default: none.
   */
  root?: DirTime;
  /** Told each path as the receiver names it. */
  onNeed?: (path: string) => void;
  /** Told after each batch of the need list (needed files, bytes so far). */
  onNeeds?: (files: number, bytes: number) => void;
  /** Told once the need list is complete. */
  onPlanned?: () => void;
  /** Told file bytes as they leave (progress, idle watches). */
  onBytes?: (n: number) => void;
  /**
   * Told each write on a data connection as it completes (idle watches:
   * under a slow limit a file's bytes leave long after they were read).
   */
  onWire?: (n: number) => void;
  /** Told when a file sent in messages is complete. */
  onFile?: () => void;
  /** Told before each manifest batch goes out (idle watches). */
  onManifest?: () => void;
  /**
   * Told the bytes a need costs the sender to hold (a path and its resume
   * offer's block hashes), for memory budgets.
   */
  charge?: (bytes: number) => void;
  /** Limits file bytes per second, all routes together. */
  bandwidth?: Bandwidth;
  /** Flow control for bytes in messages. Default: a 16 MiB window. */
  window?: SendWindow;
}

/** How a send went. */
export interface SentTree {
  /** How the bytes went: `tcp` on the data connections, `grpc` in messages. */
  transport: "tcp" | "grpc";
  /** Data connections used (1 for messages). */
  streams: number;
  /** The data plane was offered and the bytes went in messages instead. */
  fallback: boolean;
  /** From the start to the end of the need list, ms. */
  manifestMs: number;
  /** About what the conversation's messages cost on the wire (not file data). */
  control: MessageTally;
  /** What the receiver reported when done. */
  summary: ReceivedSummary;
}

/** Bytes held for each needed path (its entry and queue slot). */
const NEED_COST = 64;

/**
 * Runs the sending role against `peer`: offers `entries` through `sender`
 * and moves exactly the files the receiver needs. Resolves once the
 * receiver is done.
 *
 * @throws {PeerError} when the receiver breaks the conversation.
 *
 * @example
 * ```ts
 * import { peerPair } from "@blit/cli/mod";
 * import { Sender } from "@blit/cli/mod";
 * import { Receiver } from "@blit/cli/mod";
 * import { sendTree } from "@blit/cli/mod";
 * import { receiveTree } from "@blit/cli/mod";
 * const from = Deno.realPathSync(Deno.makeTempDirSync());
 * const to = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${from}/a`, "hi");
 * const [toReceiver, toSender] = peerPair();
 * const entries = [{ path: "a", kind: "file" as const, size: 2, mtimeMs: 0, mode: 0o644 }];
 * const [sent] = await Promise.all([
 *   sendTree(toReceiver, new Sender(from), entries),
 *   receiveTree(toSender, new Receiver(to)),
 * ]);
 * if (sent.summary.files !== 1 || Deno.readTextFileSync(`${to}/a`) !== "hi") throw new Error("example failed");
 * Deno.removeSync(from, { recursive: true });
 * Deno.removeSync(to, { recursive: true });
 * ```
 */
export async function sendTree(
  peer: ReceiverPeer,
  sender: Sender,
  entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
  options: SendTreeOptions = {},
): Promise<SentTree> {
  const tally = { sent: 0, received: 0 };
  const sent = await sendOn(
    countingPeer(peer, tally),
    sender,
    entries,
    options,
  );
  return { ...sent, control: tally };
}

async function sendOn(
  peer: ReceiverPeer,
  sender: Sender,
  entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
  options: SendTreeOptions,
): Promise<Omit<SentTree, "control">> {
  const t0 = performance.now();
  const link = options.link;
  // Frames leave on the data connections as the need list names files,
  // the manifest still going out.
  const sending = link?.connections.then((conns) =>
    conns &&
    sender.sendTcp(conns, {
      onBytes: options.onBytes,
      onWire: options.onWire,
      bandwidth: options.bandwidth,
    }).then(() => conns.length)
  );
  sending?.catch(() => {});
  const needs = readNeeds(peer, sender, options);
  needs.catch(() => {});
  try {
    await sender.offer(entries, (message) => {
      options.onManifest?.();
      return peer.write(message);
    }, options.root);
    // The receiver now compares the last of the manifest: meanwhile.
    if (!options.dryRun) await sender.prime();
    await needs;
  } catch (error) {
    sender.fail(error);
    link?.cancel();
    throw error;
  }
  const manifestMs = performance.now() - t0;
  if (options.dryRun) {
    const summary = await expectDone(peer);
    return {
      summary,
      transport: "grpc",
      streams: 1,
      fallback: false,
      manifestMs,
    };
  }
  // Known by now: the dialling side knew all along, and a listening one
  // hears of a fallback with the end of the need list.
  const conns = link && await link.connections;
  if (conns) {
    let streams: number;
    try {
      streams = (await sending) ?? conns.length;
    } catch (error) {
      throw connectionCut(error) ? await receiverReason(peer, error) : error;
    }
    await peer.write({ kind: "dataEnd", fallback: false });
    const summary = await expectDone(peer);
    return { summary, transport: "tcp", streams, fallback: false, manifestMs };
  }
  link?.fallBack();
  const window = options.window ?? new SendWindow();
  const tail = acknowledgements(peer, window);
  tail.catch(() => {});
  await sender.sendGrpc(window, (chunk) => {
    options.onBytes?.(chunk.data.length);
    if (chunk.last) options.onFile?.();
    return peer.write({ kind: "data", chunk });
  }, { bandwidth: options.bandwidth });
  await peer.write({ kind: "dataEnd", fallback: link !== undefined });
  return {
    summary: doneOf(await tail),
    transport: "grpc",
    streams: 1,
    fallback: link !== undefined,
    manifestMs,
  };
}

/**
 * Reads the need list into the sender, which queues each file for the
 * data path at once; returns after the last batch.
 */
async function readNeeds(
  peer: ReceiverPeer,
  sender: Sender,
  options: SendTreeOptions,
): Promise<void> {
  try {
    for (;;) {
      const message = await peer.next();
      if (!message) {
        throw new PeerError(
          "the receiver ended the transfer inside the need list",
          {
            ended: true,
          },
        );
      }
      if (message.kind !== "needs") {
        throw new PeerError(`expected a need list, got ${message.kind}`);
      }
      for (const raw of message.paths) {
        const path = normalizeRelative(raw);
        const offer = message.offers.get(raw);
        const basis = message.bases.get(raw);
        const problem = basis && basisProblem(basis);
        if (problem) {
          throw new PeerError(
            `the description of ${
              JSON.stringify(raw)
            }'s old copy is malformed: ${problem}`,
          );
        }
        // A file named again (with its old copy's full description) was
        // told when first named.
        if (!sender.askedAgain(path)) options.onNeed?.(path);
        if (!sender.need(path, offer, basis)) {
          throw new PeerError(
            `Need list names ${
              JSON.stringify(raw)
            }, which is not in the manifest (or not in its order, or twice)`,
          );
        }
        // Each needed path is held until it is sent, with the block hashes
        // of a resume offer (up to 1 MiB each).
        options.charge?.(
          NEED_COST + (offer?.hashes.length ?? 0) + basisCost(basis),
        );
      }
      sender.forget(message.decided);
      options.onNeeds?.(sender.needed, sender.neededBytes);
      if (message.last) {
        options.onPlanned?.();
        return;
      }
    }
  } finally {
    sender.endNeeds();
  }
}

/**
 * Reads the receiver's messages while bytes go out: acknowledgements open
 * the window; the first other message (or the end) is returned, and the
 * window is failed so a sender still waiting wakes up.
 */
async function acknowledgements(
  peer: ReceiverPeer,
  window: SendWindow,
): ReturnType<ReceiverPeer["next"]> {
  const stopped = () =>
    new PeerError("the receiver stopped acknowledging data", { ended: true });
  try {
    for (;;) {
      const message = await peer.next();
      if (message?.kind === "ack") {
        window.ack(message.bytes);
        continue;
      }
      window.fail(stopped());
      return message;
    }
  } catch (error) {
    window.fail(error instanceof Error ? error : stopped());
    throw error;
  }
}

/**
 * What a description costs the sender to hold while its file waits (the
 * arrays) and to look up in (its table, built when the file is sent).
 */
function basisCost(basis: { lengths: Uint32Array } | undefined): number {
  return basis ? basis.lengths.length * 44 : 0;
}

/** How long a failed data connection waits for the receiver's reason. */
const REASON_WAIT_MS = 2000;

/**
 * Why the data connections broke: a receiver that failed (a full disk, a
 * refused write) drops them and says why in the conversation, which ends
 * with its error; that error, when it comes within
 * {@linkcode REASON_WAIT_MS}, else `broken` (the connection's own error).
 */
async function receiverReason(
  peer: ReceiverPeer,
  broken: unknown,
): Promise<unknown> {
  let timer: Timer | undefined;
  try {
    await Promise.race([
      (async () => {
        // Acknowledgements may come first; the conversation either fails
        // (the reason) or goes on (then the broken pipe is the error).
        for (let i = 0; i < 1000; i++) {
          if ((await peer.next())?.kind !== "ack") break;
        }
      })(),
      new Promise<void>((resolve) => timer = after(REASON_WAIT_MS, resolve)),
    ]);
  } catch (reason) {
    return reason;
  } finally {
    timer?.cancel();
  }
  return broken;
}

async function expectDone(peer: ReceiverPeer): Promise<ReceivedSummary> {
  for (;;) {
    const message = await peer.next();
    // Acknowledgements of the last bytes may still be on their way.
    if (message?.kind !== "ack") return doneOf(message);
  }
}

function doneOf(
  message: Awaited<ReturnType<ReceiverPeer["next"]>>,
): ReceivedSummary {
  if (!message) {
    throw new PeerError("the receiver ended the transfer before it was done", {
      ended: true,
    });
  }
  if (message.kind !== "done") {
    throw new PeerError(`expected done, got ${message.kind}`);
  }
  return message.summary;
}
