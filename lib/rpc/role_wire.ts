// The roles' messages (lib/transfer/peer.ts) on the gRPC calls: each of
// the four ends of a push or pull call, adapted to a `Peer`. Only the
// mapping lives here; what is said, and when, is the roles' business.
import { create } from "./codec.ts";
import {
  type ClientPullRequest,
  ClientPullRequestSchema,
  type ClientPushRequest,
  ClientPushRequestSchema,
  DataAckSchema,
  type FileList,
  FileListSchema,
  NeedCompleteSchema,
  PullDoneSchema,
  type PushSummary,
  PushSummarySchema,
  ResumeOfferSchema,
  type ServerPullResponse,
  ServerPullResponseSchema,
  type ServerPushResponse,
  ServerPushResponseSchema,
  Transport,
  UploadCompleteSchema,
} from "./service.ts";
import {
  basisMessages,
  chunkToFileData,
  entriesOfBatch,
  fileDataToChunk,
  headerToEntry,
  manifestBatchOf,
  manifestCompleteOf,
  needEntriesOf,
  packedNeeds,
  rootTimeOf,
} from "./convert.ts";
import { type MessageWritable, writeMessage } from "./call_io.ts";
import { loadZstd } from "../wire/zstd.ts";
import {
  type DataLink,
  PeerError,
  type ReceivedSummary,
  type ReceiverMessage,
  type ReceiverPeer,
  type SenderMessage,
  type SenderPeer,
} from "../transfer/peer.ts";

/** Reads one message at a time (a `MessageReader`). */
interface Reader<T> {
  next(): Promise<T | undefined>;
}

type Payload<T> = T extends { payload: infer P } ? P : never;

/** A need batch as the FileList message (compressed when `compress`). */
function fileListOf(
  message: Extract<ReceiverMessage, { kind: "needs" }>,
  compress = false,
): FileList {
  if (compress) {
    const packed = packedNeeds(
      message.paths,
      message.offers,
      message.bases,
      message.last,
      BigInt(message.decided),
    );
    // What it costs on the wire, for the tally (see `countingPeer`).
    if (packed) {
      message.wireBytes = packed.packedZstd.length + 16;
      return packed;
    }
  }
  return create(FileListSchema, {
    paths: message.paths,
    last: message.last,
    decided: BigInt(message.decided),
    resumes: [...message.offers].map(([path, offer]) =>
      create(ResumeOfferSchema, {
        path,
        blockSize: offer.blockSize,
        hashes: offer.hashes,
      })
    ),
    bases: basisMessages(message.bases),
  });
}

/** A FileList message (compressed or not) as a need batch. */
function needsOf(wire: FileList, last: boolean): ReceiverMessage {
  const { paths, offers, bases } = needEntriesOf(wire);
  const packed = wire.packedZstd.length;
  return {
    ...(packed > 0 ? { wireBytes: packed + 16 } : {}),
    kind: "needs",
    paths,
    offers,
    bases,
    decided: Number(wire.decided),
    last,
  };
}

function summaryOf(summary: PushSummary): ReceivedSummary {
  return {
    files: Number(summary.filesTransferred),
    bytes: Number(summary.bytesTransferred),
    deleted: Number(summary.filesDeleted),
    skipped: Number(summary.filesSkipped),
    matched: Number(summary.bytesMatched),
    same: Number(summary.filesSame),
    transport: summary.transport === Transport.TCP ? "tcp" : "grpc",
  };
}

/** The PushSummary message for a receiver's `done`. */
export function pushSummaryOf(summary: ReceivedSummary): PushSummary {
  return create(PushSummarySchema, {
    filesTransferred: BigInt(summary.files),
    bytesTransferred: BigInt(summary.bytes),
    filesDeleted: BigInt(summary.deleted),
    filesSkipped: BigInt(summary.skipped),
    bytesMatched: BigInt(summary.matched),
    filesSame: BigInt(summary.same ?? 0),
    transport: summary.transport === "tcp" ? Transport.TCP : Transport.GRPC,
  });
}

/** Whether `payload` is a zstd-compressed manifest batch. */
function packedBatch(
  payload: Payload<ClientPushRequest> | Payload<ServerPullResponse>,
): boolean {
  return payload.case === "manifestBatch" &&
    payload.value.packedZstd.length > 0;
}

/** A manifest, data or end-of-data payload the sender's side carries. */
function fromSender(
  payload: Payload<ClientPushRequest> | Payload<ServerPullResponse>,
  from: string,
): SenderMessage {
  switch (payload.case) {
    case "manifestBatch": {
      const packed = payload.value.packedZstd.length;
      return {
        kind: "manifest",
        entries: entriesOfBatch(payload.value),
        ...(packed > 0 ? { wireBytes: packed + 16 } : {}),
      };
    }
    case "file":
      // A single entry (older senders) is a batch of one.
      return { kind: "manifest", entries: [headerToEntry(payload.value)] };
    case "manifestComplete": {
      const root = rootTimeOf(payload.value);
      return {
        kind: "manifestEnd",
        count: Number(payload.value.entries),
        ...(root ? { root } : {}),
      };
    }
    case "fileData":
      return { kind: "data", chunk: fileDataToChunk(payload.value) };
    case "uploadComplete":
      return { kind: "dataEnd", fallback: payload.value.fallbackToGrpc };
    case "dataComplete":
      return { kind: "dataEnd", fallback: false };
    default:
      throw new PeerError(`unexpected ${payload.case} from the ${from}`);
  }
}

/**
 * A manifest message waits until it is on the wire: the receiver starts
 * comparing while the next batch is read.
 */
function flushedIfManifest(message: SenderMessage): { flushed: boolean } {
  return {
    flushed: message.kind === "manifest" || message.kind === "manifestEnd",
  };
}

/** How a sending end maps its messages. */
export interface SenderWireOptions {
  /** Compress manifest batches with zstd (slow links). Default: false. */
  compressManifest?: boolean;
}

/** How a receiving end maps its messages. */
export interface ReceiverWireOptions {
  /**
   * Compress need batches (paths, resumes, old copies' descriptions) with
   * zstd (slow links). Default: false.
   */
  compressNeeds?: boolean;
}

/** Writes a sending role's `message`, as `wire`, on its call. */
function writeSent<T>(
  call: MessageWritable<T>,
  wire: T,
  message: SenderMessage,
): Promise<void> {
  return writeMessage(call, wire, flushedIfManifest(message));
}

/** The sender's manifest, data and end of data as payloads of `T`. */
function senderPayload<E extends "uploadComplete" | "dataComplete">(
  message: SenderMessage,
  end: E,
  options: SenderWireOptions,
) {
  switch (message.kind) {
    case "manifest": {
      const batch = manifestBatchOf(
        message.entries,
        options.compressManifest ?? false,
      );
      if (batch.packedZstd.length > 0) {
        message.wireBytes = batch.packedZstd.length + 16;
      }
      return { case: "manifestBatch" as const, value: batch };
    }
    case "manifestEnd":
      return {
        case: "manifestComplete" as const,
        value: manifestCompleteOf(message.count, message.root),
      };
    case "data":
      return {
        case: "fileData" as const,
        value: chunkToFileData(message.chunk),
      };
    case "dataEnd":
      return {
        case: end as E,
        value: create(UploadCompleteSchema, {
          fallbackToGrpc: message.fallback,
        }),
      };
  }
}

/**
 * The client's end of a push call, as the sending role sees the daemon's
 * receiver: FileList batches are needs, DataAck acks, the summary `done`.
 *
 * @example
 * ```ts ignore
 * import { pushSenderPeer } from "./role_wire.ts";
 * ```
 */
export function pushSenderPeer(
  call: MessageWritable<ClientPushRequest>,
  reader: Reader<ServerPushResponse>,
  options: SenderWireOptions = {},
): ReceiverPeer {
  return {
    async next() {
      const message = await reader.next();
      if (!message) return undefined;
      const p = message.payload;
      switch (p.case) {
        case "fileList":
          if (p.value.packedZstd.length > 0) await loadZstd();
          return needsOf(p.value, p.value.last);
        case "dataAck":
          return { kind: "ack", bytes: Number(p.value.bytes) };
        case "summary":
          return { kind: "done", summary: summaryOf(p.value) };
        default:
          throw new PeerError(`unexpected ${p.case} from the daemon`);
      }
    },
    async write(message) {
      if (options.compressManifest && message.kind === "manifest") {
        await loadZstd();
      }
      const payload = senderPayload(message, "uploadComplete", options);
      return writeSent(
        call,
        create(ClientPushRequestSchema, { payload }),
        message,
      );
    },
  };
}

/**
 * The daemon's end of a push call, as the receiving role sees the
 * client's sender.
 *
 * @example
 * ```ts ignore
 * import { pushReceiverPeer } from "./role_wire.ts";
 * ```
 */
export function pushReceiverPeer(
  call: MessageWritable<ServerPushResponse>,
  reader: Reader<ClientPushRequest>,
  options: ReceiverWireOptions = {},
): SenderPeer {
  const compress = options.compressNeeds ?? false;
  return {
    async next() {
      const message = await reader.next();
      if (message && packedBatch(message.payload)) await loadZstd();
      return message && fromSender(message.payload, "client");
    },
    async write(message) {
      if (compress && message.kind === "needs") await loadZstd();
      const payload = message.kind === "needs"
        ? { case: "fileList" as const, value: fileListOf(message, compress) }
        : message.kind === "ack"
        ? {
          case: "dataAck" as const,
          value: create(DataAckSchema, { bytes: BigInt(message.bytes) }),
        }
        : { case: "summary" as const, value: pushSummaryOf(message.summary) };
      return writeMessage(call, create(ServerPushResponseSchema, { payload }));
    },
  };
}

/**
 * The client's end of a pull call, as the receiving role sees the
 * daemon's sender. `fallback`: the client could not reach the data plane
 * it was offered (the daemon hears so with the end of the need list).
 *
 * @example
 * ```ts ignore
 * import { pullReceiverPeer } from "./role_wire.ts";
 * ```
 */
export function pullReceiverPeer(
  call: MessageWritable<ClientPullRequest>,
  reader: Reader<ServerPullResponse>,
  fallback: boolean,
  options: ReceiverWireOptions = {},
): SenderPeer {
  const compress = options.compressNeeds ?? false;
  const send = (payload: Payload<ClientPullRequest>) =>
    writeMessage(call, create(ClientPullRequestSchema, { payload }));
  return {
    async next() {
      const message = await reader.next();
      if (message && packedBatch(message.payload)) await loadZstd();
      return message && fromSender(message.payload, "daemon");
    },
    async write(message) {
      if (compress && message.kind === "needs") await loadZstd();
      switch (message.kind) {
        case "needs":
          if (!message.last) {
            return send({
              case: "need",
              value: fileListOf(message, compress),
            });
          }
          if (message.paths.length > 0) {
            await send({
              case: "need",
              value: fileListOf({ ...message, last: false }, compress),
            });
          }
          return send({
            case: "needComplete",
            value: create(NeedCompleteSchema, { fallbackToGrpc: fallback }),
          });
        case "ack":
          return send({
            case: "dataAck",
            value: create(DataAckSchema, { bytes: BigInt(message.bytes) }),
          });
        case "done":
          return send({ case: "done", value: create(PullDoneSchema, {}) });
      }
    },
  };
}

/**
 * The daemon's end of a pull call, as the sending role sees the client's
 * receiver; a client that could not reach the data plane says so with
 * the end of its need list, and `link` then falls back to messages.
 *
 * @example
 * ```ts ignore
 * import { pullSenderPeer } from "./role_wire.ts";
 * ```
 */
export function pullSenderPeer(
  call: MessageWritable<ServerPullResponse>,
  reader: Reader<ClientPullRequest>,
  link?: DataLink,
  options: SenderWireOptions = {},
): ReceiverPeer {
  return {
    async next() {
      const message = await reader.next();
      if (!message) return undefined;
      const p = message.payload;
      switch (p.case) {
        case "need":
          if (p.value.packedZstd.length > 0) await loadZstd();
          return needsOf(p.value, false);
        case "needComplete":
          if (p.value.fallbackToGrpc) link?.fallBack();
          return {
            kind: "needs",
            paths: [],
            offers: new Map(),
            bases: new Map(),
            decided: 0,
            last: true,
          };
        case "dataAck":
          return { kind: "ack", bytes: Number(p.value.bytes) };
        case "done":
          return {
            kind: "done",
            summary: {
              files: 0,
              bytes: 0,
              deleted: 0,
              skipped: 0,
              matched: 0,
              transport: "grpc",
            },
          };
        default:
          throw new PeerError(`unexpected ${p.case} from the client`);
      }
    },
    async write(message) {
      if (options.compressManifest && message.kind === "manifest") {
        await loadZstd();
      }
      const payload = senderPayload(message, "dataComplete", options);
      return writeSent(
        call,
        create(ServerPullResponseSchema, { payload }),
        message,
      );
    },
  };
}
