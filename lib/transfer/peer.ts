// What the two roles of a transfer say to each other, whoever hosts them:
// the sender (push: the client; pull: the daemon) and the receiver. The
// conversation is written once, in send_tree.ts and receive_tree.ts; a
// host only connects, checks access, and adapts its wire (the gRPC calls,
// see lib/rpc/role_wire.ts; memory, see `peerPair`) to a `Peer`.
import type { DirTime } from "../fs/apply_tree.ts";
import type { FileEntry } from "../fs/entry.ts";
import type { ResumeOffer } from "../fs/resume.ts";
import type { BasisOffer } from "../delta/basis.ts";
import type { FileDataChunk } from "../wire/grpc_data.ts";
import { closeQuietly } from "../wire/socket.ts";

/**
 * The manifest as the sender sends it: batches of entries (in order,
 * each file at most once), then its end with the number of entries.
 */
export type ManifestMessage =
  | {
    kind: "manifest";
    entries: FileEntry[];
    /** What it cost on the wire, where a carrier compressed it. */
    wireBytes?: number;
  }
  | {
    kind: "manifestEnd";
    count: number;
    /**
     * The transfer root directory's mtime, when the root is a directory:
     * the receiving directory takes it once the transfer is done.
     */
    root?: DirTime;
  };

/** What the sending role says. */
export type SenderMessage =
  | ManifestMessage
  /** File bytes carried in messages (no data plane). */
  | { kind: "data"; chunk: FileDataChunk }
  /**
   * The end of file data, whichever way it went; `fallback`: the sender
   * dialled no data plane and sent what there was in messages.
   */
  | { kind: "dataEnd"; fallback: boolean };

/** What the receiver's `done` reports. */
export interface ReceivedSummary {
  /** Files and links received (in a dry run: that would be). */
  files: number;
  /** Body bytes received (in a dry run: that would be). */
  bytes: number;
  /** Files and links a mirror deleted. */
  deleted: number;
  /** Files and links already up to date. */
  skipped: number;
  /** Of `bytes`, those copied from the receiver's old copies (delta). */
  matched: number;
  /**
   * Of `files`, those whose old copy held the same content (settled by a
   * hash hint); absent from receivers that don't say.
   */
  same?: number;
  /** How the bytes came: `tcp`, or `grpc` for messages. */
  transport: "tcp" | "grpc";
}

/** What the receiving role says. */
export type ReceiverMessage =
  /**
   * Paths it needs (in manifest order), resume offers for some, old
   * copies' descriptions for others (`bases`: send those as deltas), and
   * how many manifest entries it has decided; `last`: the need list is
   * done.
   */
  | {
    kind: "needs";
    paths: string[];
    offers: Map<string, ResumeOffer>;
    bases: Map<string, BasisOffer>;
    decided: number;
    last: boolean;
    /** What it cost on the wire, where a carrier compressed it. */
    wireBytes?: number;
  }
  /** File bytes written so far (flow control for data in messages). */
  | { kind: "ack"; bytes: number }
  /** Every needed file is in and the tree is final. */
  | { kind: "done"; summary: ReceivedSummary };

/**
 * One side's view of the other role: `next()` its next message (undefined
 * when it has ended the conversation), `write()` one of ours (resolves when
 * the wire has room again).
 */
export interface Peer<In, Out> {
  /** The other role's next message, or undefined when it has ended. */
  next(): Promise<In | undefined>;
  /** Sends one message. */
  write(message: Out): Promise<void>;
}

/**
 * About what a role message costs on the control connection: its
 * payload (paths, hashes, descriptions) plus a little framing. File data
 * in messages is left out: the roles count it where it is sent.
 *
 * @example
 * ```ts
 * import { messageBytes } from "@blit/cli/internals";
 * if (messageBytes({ kind: "manifestEnd", count: 3 }) !== 8) throw new Error("example failed");
 * ```
 */
export function messageBytes(message: SenderMessage | ReceiverMessage): number {
  if ("wireBytes" in message && message.wireBytes !== undefined) {
    return message.wireBytes;
  }
  switch (message.kind) {
    case "manifest":
      return message.entries.reduce(
        (n, e) => n + e.path.length + 24 + (e.linkTarget?.length ?? 0),
        8,
      );
    case "needs": {
      let n = 16;
      for (const path of message.paths) n += path.length + 2;
      for (const offer of message.offers.values()) n += offer.hashes.length + 8;
      for (const basis of message.bases.values()) {
        n += basis.lengths.length * 3 + basis.digests.length + 24 +
          (basis.whole?.length ?? 0) + (basis.weak?.length ?? 0) +
          (basis.runs?.length ?? 0);
      }
      return n;
    }
    case "data":
      return 0;
    case "done":
      return 40;
    default:
      return 8;
  }
}

/** What a role's messages cost on the wire, each way (see {@linkcode messageBytes}). */
export interface MessageTally {
  /** Bytes of the messages it wrote. */
  sent: number;
  /** Bytes of the messages it read. */
  received: number;
}

/**
 * `peer`, with what crosses it added to `tally` (see
 * {@linkcode messageBytes}).
 *
 * @example
 * ```ts
 * import { countingPeer, peerPair } from "@blit/cli/internals";
 * const [a, b] = peerPair();
 * const tally = { sent: 0, received: 0 };
 * await countingPeer(a, tally).write({ kind: "manifestEnd", count: 0 });
 * await b.next();
 * if (tally.sent !== 8 || tally.received !== 0) throw new Error("example failed");
 * ```
 */
export function countingPeer<
  In extends SenderMessage | ReceiverMessage,
  Out extends SenderMessage | ReceiverMessage,
>(peer: Peer<In, Out>, tally: MessageTally): Peer<In, Out> {
  return {
    async next() {
      const message = await peer.next();
      if (message) tally.received += messageBytes(message);
      return message;
    },
    write(message) {
      // Counted after the carrier's (synchronous) encoding, which says
      // what a compressed message cost.
      const written = peer.write(message);
      tally.sent += messageBytes(message);
      return written;
    },
  };
}

/** What went on the wire for a role (see `Sender.wire`, `Receiver.wire`). */
export interface WireStats {
  /** Bytes on the data connections (after compression), or file data in messages. */
  dataBytes: number;
  /** Blocks sent compressed. */
  compressedBlocks: number;
  /** Files sent (or described) as deltas. */
  deltas: number;
}

/** The receiver, as the sender sees it. */
export type ReceiverPeer = Peer<ReceiverMessage, SenderMessage>;
/** The sender, as the receiver sees it. */
export type SenderPeer = Peer<SenderMessage, ReceiverMessage>;

/**
 * The raw data connections of a transfer, when the daemon offered them:
 * the dialling host (the client) knows at once whether it reached them;
 * the listening one (the daemon) learns when they arrive or when its
 * peer's messages say the bytes come another way (its wire adapter then
 * calls {@linkcode DataLink.fallBack}).
 */
export class DataLink {
  readonly #connections: Promise<Deno.Conn[] | undefined>;
  #settle!: (conns: Deno.Conn[] | undefined) => void;
  readonly #cancel: () => void;
  #settled = false;

  /**
   * A link whose connections come from `connections` (undefined: none);
   * `cancel` drops what is still to come and closes what arrived.
   */
  constructor(
    connections: Promise<Deno.Conn[] | undefined>,
    cancel: () => void = () => {},
  ) {
    this.#cancel = cancel;
    this.#connections = new Promise((resolve, reject) => {
      this.#settle = (conns) => {
        if (this.#settled) return;
        this.#settled = true;
        resolve(conns);
      };
      connections.then((conns) => this.#settle(conns), (error) => {
        if (this.#settled) return;
        this.#settled = true;
        reject(error);
      });
    });
    this.#connections.catch(() => {});
  }

  /** A link already known to have these connections (or none). */
  static of(conns: Deno.Conn[] | undefined): DataLink {
    return new DataLink(Promise.resolve(conns), () => {
      for (const conn of conns ?? []) closeQuietly(conn);
    });
  }

  /** The connections, or undefined when the bytes go in messages. */
  get connections(): Promise<Deno.Conn[] | undefined> {
    return this.#connections;
  }

  /** Whether the way the bytes go is known. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * The bytes go in messages: connections not yet here are dropped (and
   * `connections` resolves undefined if it had not resolved).
   */
  fallBack(): void {
    if (!this.#settled) this.#settle(undefined);
    this.#cancel();
  }

  /** Gives up: drops the connections, whatever arrived. */
  cancel(): void {
    this.fallBack();
  }
}

/**
 * Whether `error` is a data connection cut by the other end (a broken
 * pipe, a reset, a stream ended early), not this side's own failure.
 *
 * @example
 * ```ts
 * import { connectionCut } from "./peer.ts";
 * if (!connectionCut(new Deno.errors.BrokenPipe()) || connectionCut(new RangeError())) throw new Error("example failed");
 * ```
 */
export function connectionCut(error: unknown): error is Error {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.UnexpectedEof;
}

/**
 * The other role broke the conversation: a message out of order, a need
 * for a file never offered, data where none may be. `ended`: it went away
 * in the middle (which may be worth a retry).
 */
export class PeerError extends Error {
  /** Whether the peer ended the conversation early (not a bad message). */
  readonly ended: boolean;

  /** A protocol error with a one-line `message`. */
  constructor(message: string, options: { ended?: boolean } = {}) {
    super(message);
    this.name = "PeerError";
    this.ended = options.ended ?? false;
  }
}

/** Unread messages, one direction of a {@linkcode peerPair}. */
class Channel<T> {
  readonly #items: T[] = [];
  #waiting: ((item: T | undefined) => void) | undefined;
  #ended = false;

  put(item: T): void {
    if (this.#ended) throw new PeerError("the conversation has ended");
    if (this.#waiting) {
      const wake = this.#waiting;
      this.#waiting = undefined;
      wake(item);
    } else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    const wake = this.#waiting;
    this.#waiting = undefined;
    wake?.(undefined);
  }

  take(): Promise<T | undefined> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift());
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiting = resolve);
  }
}

/**
 * Two peers joined in memory: what one writes the other reads (the
 * receiver's and sender's views of one conversation). `end()` on either
 * side ends what it sends. For running both roles in one process.
 *
 * @example
 * ```ts
 * import { peerPair } from "@blit/cli/mod";
 * const [toReceiver, toSender] = peerPair();
 * await toReceiver.write({ kind: "dataEnd", fallback: false });
 * const got = await toSender.next();
 * if (got?.kind !== "dataEnd") throw new Error("example failed");
 * ```
 */
export function peerPair(): [
  ReceiverPeer & { end(): void },
  SenderPeer & { end(): void },
] {
  const down = new Channel<SenderMessage>();
  const up = new Channel<ReceiverMessage>();
  return [
    {
      next: () => up.take(),
      // Entries are copied, as a wire would: each role owns its own.
      write: (message) =>
        Promise.resolve(
          down.put(
            message.kind === "manifest"
              ? { kind: "manifest", entries: structuredClone(message.entries) }
              : message,
          ),
        ),
      end: () => down.end(),
    },
    {
      next: () => down.take(),
      write: (message) => Promise.resolve(up.put(message)),
      end: () => up.end(),
    },
  ];
}
