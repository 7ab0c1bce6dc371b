// The receiving role's conversation, once for push (the daemon) and pull
// (the client): the manifest comes in through the need list, needed paths
// go back in batches (small ones first, so bytes start moving early), the
// files arrive on the data connections meanwhile, or in messages after
// the need list (acknowledged every few MiB); then directory times and a
// mirror's deletions, and `done`.
import type { DirTime } from "../fs/apply_tree.ts";
import { ioTurn } from "../timer.ts";
import { ACK_EVERY_BYTES } from "../rpc/call_io.ts";
import { ManifestTooLargeError } from "../rpc/convert.ts";
import type { FileEntry } from "../fs/entry.ts";
import type { ResumeOffer } from "../fs/resume.ts";
import type { BasisOffer } from "../delta/basis.ts";
import type { Bandwidth } from "../wire/bandwidth.ts";
import type { ReceiveSinkOptions } from "../wire/receive_sink.ts";
import {
  PLAN_AHEAD_FILES,
  type Receiver,
  type ReceiverResult,
} from "./receiver.ts";
import { chunkWireBytes, GrpcReceiver } from "../wire/grpc_data.ts";
import {
  countingPeer,
  type DataLink,
  type MessageTally,
  PeerError,
  type SenderPeer,
} from "./peer.ts";

/** Options for {@linkcode receiveTree}. */
export interface ReceiveTreeOptions {
  /**
   * The data connections, when the daemon offered them (see `DataLink`).
   * Default: none (the bytes come in messages).
   */
  link?: DataLink;
  /** Decide and count only: no data phase. Default: false. */
  dryRun?: boolean;
  /** Delete what the manifest lacks (default: the receiver's own option). */
  mirror?: boolean;
  /** For the sinks (writers, `onFile`, `onBytes`). */
  sink?: ReceiveSinkOptions;
  /** Limits file bytes per second, all routes together. */
  bandwidth?: Bandwidth;
  /** Refuses a manifest longer than this. Default: no limit. */
  maxEntries?: number;
  /** Runs before each need batch goes out (the daemon's item lists). */
  beforeNeeds?: () => Promise<void>;
  /** Told after each named file (needed files, bytes so far). */
  onNeeds?: (files: number, bytes: number) => void;
  /** Told once the need list is complete. */
  onPlanned?: () => void;
  /** Runs after the data, before directory times and deletions. */
  beforeFinish?: () => void;
  /** Runs after the tree is final, before `done` goes out. */
  beforeDone?: (result: ReceiverResult) => Promise<void>;
}

/** How a receive went. */
export interface ReceivedTree {
  /** What the receiver did. */
  result: ReceiverResult;
  /** How the bytes came: `tcp` on the data connections, `grpc` in messages. */
  transport: "tcp" | "grpc";
  /** Data connections used (1 for messages). */
  streams: number;
  /** The data plane was offered and the bytes came in messages instead. */
  fallback: boolean;
  /** From the start to the end of the need list, ms. */
  manifestMs: number;
  /** About what the conversation's messages cost on the wire (not file data). */
  control: MessageTally;
}

/** Paths in a need batch once the first 1,000 files are named. */
const NEED_BATCH = 1000;
/** Paths in a need batch before that (bytes start moving early). */
const FIRST_BATCH = 64;
/**
 * A need batch with old copies' descriptions also leaves once it has
 * waited this long (ms) since the last one: describing costs the receiver
 * ~100 us a file, and a sender waiting for a full batch of them would sit
 * idle (a tree of 736 changed files: 64 named at once, the other 672 only
 * after all were described). Long enough for a batch to compress well.
 */
const NEED_WAIT_MS = 20;

/**
 * Runs the receiving role against `peer`: plans with `receiver`, names
 * what it needs, takes the bytes whichever way they come, and finishes
 * the tree. Resolves once `done` went out.
 *
 * @throws {PeerError} when the sender breaks the conversation.
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
 * const [toReceiver, toSender] = peerPair();
 * const entries = [{ path: "d", kind: "dir" as const, size: 0, mtimeMs: 0, mode: 0o755 }];
 * const [, got] = await Promise.all([
 *   sendTree(toReceiver, new Sender(from), entries),
 *   receiveTree(toSender, new Receiver(to)),
 * ]);
 * if (got.result.files !== 0 || !Deno.statSync(`${to}/d`).isDirectory) throw new Error("example failed");
 * Deno.removeSync(from, { recursive: true });
 * Deno.removeSync(to, { recursive: true });
 * ```
 */
export async function receiveTree(
  peer: SenderPeer,
  receiver: Receiver,
  options: ReceiveTreeOptions = {},
): Promise<ReceivedTree> {
  const tally = { sent: 0, received: 0 };
  const got = await receiveOn(countingPeer(peer, tally), receiver, options);
  return { ...got, control: tally };
}

async function receiveOn(
  peer: SenderPeer,
  receiver: Receiver,
  options: ReceiveTreeOptions,
): Promise<Omit<ReceivedTree, "control">> {
  const t0 = performance.now();
  const dryRun = options.dryRun ?? false;
  const link = dryRun ? undefined : options.link;
  // The sender sends as the need list names files: take them at once.
  const incoming = new Incoming(peer, receiver, link, options);
  // What the manifest's end says of the sender's root.
  const end: { root?: DirTime } = {};
  try {
    await plan(peer, receiver, options, end);
  } catch (error) {
    link?.cancel();
    throw error;
  }
  const manifestMs = performance.now() - t0;
  const streams = dryRun ? undefined : await incoming.take();
  options.beforeFinish?.();
  // Only now, every needed file in: directory times, mirror deletions.
  const result = await receiver.finish({
    ...(options.mirror === undefined ? {} : { mirror: options.mirror }),
    ...(end.root ? { root: end.root } : {}),
  });
  await options.beforeDone?.(result);
  const transport = streams ? "tcp" : "grpc";
  await peer.write({
    kind: "done",
    summary: {
      files: result.files,
      bytes: result.bytes,
      deleted: result.deleted,
      skipped: result.skipped,
      matched: result.matched,
      same: result.same,
      transport,
    },
  });
  return {
    result,
    transport,
    streams: streams ?? 1,
    fallback: link !== undefined && !streams,
    manifestMs,
  };
}

/** Reads the manifest through the receiver's need list, naming what it needs. */
async function plan(
  peer: SenderPeer,
  receiver: Receiver,
  options: ReceiveTreeOptions,
  end: { root?: DirTime },
): Promise<void> {
  let paths: string[] = [];
  let offers = new Map<string, ResumeOffer>();
  let bases = new Map<string, BasisOffer>();
  let told = 0;
  let flushedAt = performance.now();
  const flush = async (last: boolean) => {
    await options.beforeNeeds?.();
    // What is named goes with how far the plan has decided.
    const decided = receiver.decided;
    if (paths.length === 0 && !last && decided === told) return;
    told = decided;
    const message = {
      kind: "needs" as const,
      paths,
      offers,
      bases,
      decided,
      last,
    };
    paths = [];
    offers = new Map();
    bases = new Map();
    flushedAt = performance.now();
    await peer.write(message);
    if (!last) await ioTurn();
  };
  await receiver.planBatches(
    manifestOf(peer, options.maxEntries ?? Number.MAX_SAFE_INTEGER, end),
    // (A promise only when the list leaves: the plan names a new small
    // file without one.)
    (path, { resume, basis }) => {
      paths.push(path);
      if (resume) offers.set(path, resume);
      if (basis) bases.set(path, basis);
      options.onNeeds?.(receiver.needed, receiver.neededBytes);
      // A resume offer or a big description leaves at once; the rest
      // when the batch is full or, with descriptions, has waited long
      // enough.
      if (
        resume || (basis && basis.lengths.length > 4096) ||
        paths.length >=
          (receiver.needed <= NEED_BATCH ? FIRST_BATCH : NEED_BATCH) ||
        (bases.size > 0 && performance.now() - flushedAt >= NEED_WAIT_MS)
      ) return flush(false);
    },
    () => flush(false),
  );
  // Files whose old copies went by hash alone may still be named again:
  // what is named goes now, the end of the list once they are settled.
  if (receiver.unsettled) {
    await flush(false);
    await receiver.settled();
  }
  await flush(true);
  options.onPlanned?.();
}

/** The sender's manifest messages' entries, a message's batch at a time. */
async function* manifestOf(
  peer: SenderPeer,
  maxEntries: number,
  end: { root?: DirTime },
): AsyncGenerator<readonly FileEntry[]> {
  let count = 0;
  for (;;) {
    const message = await peer.next();
    if (!message) {
      throw new PeerError(
        "the sender ended the transfer inside the manifest",
        { ended: true },
      );
    }
    if (message.kind === "manifestEnd") {
      end.root = message.root;
      return;
    }
    if (message.kind !== "manifest") {
      throw new PeerError(`expected the manifest, got ${message.kind}`);
    }
    count += message.entries.length;
    if (count > maxEntries) {
      throw new ManifestTooLargeError(
        `Manifest has more than ${maxEntries} entries`,
      );
    }
    if (message.entries.length > 0) yield message.entries;
  }
}

/**
 * The needed files' bytes coming in, whichever way the sender sends them:
 * on the data connections from the start, or in messages after the need
 * list (then acknowledged), until the sender's end of data.
 */
class Incoming {
  readonly #peer: SenderPeer;
  readonly #receiver: Receiver;
  readonly #link: DataLink | undefined;
  readonly #bandwidth: Bandwidth | undefined;
  readonly #acks: Acks;
  readonly #sinkOptions: ReceiveSinkOptions;
  #tcp: Promise<number | undefined> | undefined;
  #tcpIn = false;
  #grpc: GrpcReceiver | undefined;
  /** A sink's failure, once one failed: the wait for the sender ends. */
  #failure: { error: unknown } | undefined;
  /** Rejects the read of the sender's next message now waiting. */
  #interrupt: ((error: unknown) => void) | undefined;
  readonly #failed = (error: unknown) => {
    this.#failure ??= { error };
    this.#interrupt?.(error);
  };

  constructor(
    peer: SenderPeer,
    receiver: Receiver,
    link: DataLink | undefined,
    options: ReceiveTreeOptions,
  ) {
    this.#peer = peer;
    this.#receiver = receiver;
    this.#link = link;
    this.#bandwidth = options.bandwidth;
    const acks = this.#acks = new Acks(peer);
    this.#sinkOptions = {
      ...options.sink,
      onBytes(n) {
        options.sink?.onBytes?.(n);
        acks.count(n);
      },
    };
    this.#tcp = link?.connections.then((conns) => {
      if (!conns) return undefined;
      this.#tcpIn = true;
      receiver.pace(PLAN_AHEAD_FILES);
      // The sender can ask for a full description on them while the need
      // list is still open: small old copies go by their hash first.
      receiver.hashFirst();
      return receiver.receiveTcp(
        conns,
        receiver.receivers(conns.length, this.#sinkOptions),
        { bandwidth: this.#bandwidth },
      ).finally(() => receiver.pace(Infinity)).then(() => conns.length);
    });
    this.#tcp?.catch(this.#failed);
  }

  /**
   * Takes the data until the sender's end of it; resolves with the data
   * connections used, or undefined when the bytes came in messages.
   */
  async take(): Promise<number | undefined> {
    try {
      for (;;) {
        const message = await this.#next();
        if (!message) {
          throw new PeerError(
            "the sender ended the transfer before its data was done",
            { ended: true },
          );
        }
        if (message.kind === "dataEnd") {
          if (message.fallback && !this.#tcpIn) this.#link?.fallBack();
          break;
        }
        if (message.kind !== "data") {
          throw new PeerError(`expected file data, got ${message.kind}`);
        }
        const grpc = this.#grpc ?? this.#overMessages();
        this.#receiver.wire.dataBytes += chunkWireBytes(message.chunk);
        await this.#bandwidth?.take(message.chunk.data.length);
        await grpc.write(message.chunk);
      }
      if (this.#grpc) {
        await this.#grpc.finish();
        return undefined;
      }
    } catch (error) {
      this.#grpc?.abort(error);
      this.#link?.cancel();
      throw error;
    }
    return await this.#tcp;
  }

  /**
   * The sender's next message, or a sink's failure, whichever comes first.
   * (Not Promise.race with a promise that never settles: each race would
   * leave a reaction on it holding the message, a chunk of file data.)
   */
  #next(): ReturnType<SenderPeer["next"]> {
    if (this.#failure) return Promise.reject(this.#failure.error);
    return new Promise((resolve, reject) => {
      this.#interrupt = reject;
      this.#peer.next().then(resolve, reject).finally(() => {
        if (this.#interrupt === reject) this.#interrupt = undefined;
      });
    });
  }

  /** The sender could not reach the data plane: the bytes come here. */
  #overMessages(): GrpcReceiver {
    if (this.#tcpIn) {
      throw new PeerError("file data in messages after the data streams");
    }
    this.#link?.fallBack();
    this.#tcp = undefined;
    this.#acks.start();
    const grpc = new GrpcReceiver(this.#receiver.sink(this.#sinkOptions));
    grpc.failed.catch(this.#failed);
    return this.#grpc = grpc;
  }
}

/** Acknowledges bytes in messages every few MiB (flow control). */
class Acks {
  readonly #peer: SenderPeer;
  #on = false;
  #received = 0;
  #acked = 0;

  constructor(peer: SenderPeer) {
    this.#peer = peer;
  }

  /** Bytes now come in messages: acknowledge them. */
  start(): void {
    this.#on = true;
  }

  count(n: number): void {
    this.#received += n;
    if (this.#on && this.#received - this.#acked >= ACK_EVERY_BYTES) {
      this.#acked = this.#received;
      // Not awaited: a sink must not wait on the sender's side of the wire.
      this.#peer.write({ kind: "ack", bytes: this.#received }).catch(() => {});
    }
  }
}
