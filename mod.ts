/**
 * blit as a library: copy trees, talk to `blit-daemon`s, run one in your
 * program, or compose the transfer's stages yourself.
 *
 * Install it with `deno add jsr:@blit/cli`; the examples below then run
 * as they are (each is also run by blit's own tests).
 *
 * **Copy a tree**, locally or to and from a daemon, as `blit copy` does:
 * {@linkcode copy} (a local copy when both ends are paths, a push to a
 * `blit://` destination, a pull from a `blit://` source; `mirror: true`
 * for `blit mirror`). What moved comes back as a {@linkcode TransferResult}.
 *
 * ```ts
 * import { copy } from "@blit/cli/mod";
 * const src = Deno.makeTempDirSync();
 * const dst = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${src}/docs`);
 * Deno.writeTextFileSync(`${src}/docs/a.txt`, "alpha");
 * const first = await copy(src, dst);
 * const again = await copy(src, dst); // unchanged: nothing moves
 * if (first.filesTransferred !== 1 || again.filesTransferred !== 0) throw new Error("example failed");
 * Deno.removeSync(src, { recursive: true });
 * Deno.removeSync(dst, { recursive: true });
 * ```
 *
 * **Push to a daemon** and list what it holds: {@linkcode copy} (or
 * {@linkcode pushRemote} / {@linkcode pullRemote} with a parsed
 * {@linkcode RemoteAddress}), {@linkcode listRemote},
 * {@linkcode listModules}, {@linkcode purgeRemote}. {@linkcode serve}
 * starts a daemon in your program (here, the one being pushed to).
 *
 * ```ts
 * import { copy, listRemote, parseRemote, serve } from "@blit/cli/mod";
 * const exported = Deno.makeTempDirSync();
 * const daemon = await serve({ modules: { photos: exported }, log: () => {} });
 * const src = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${src}/cat.jpg`, "meow");
 * await copy(src, `${daemon.url}/photos/2026`);
 * const listing = await listRemote(parseRemote(`${daemon.url}/photos/2026`));
 * if (listing.entries.map((e) => e.name).join() !== "cat.jpg") throw new Error("example failed");
 * await daemon.stop();
 * Deno.removeSync(exported, { recursive: true });
 * Deno.removeSync(src, { recursive: true });
 * ```
 *
 * **Compose the stages**: the pieces a transfer is made of are Web
 * Streams. {@linkcode enumerate} lists a tree, {@linkcode NeedListStream}
 * keeps what a destination lacks, {@linkcode encodeFrames} /
 * {@linkcode decodeFrames} are the data plane's wire format, and
 * {@linkcode ReceiveSink} writes each file atomically (temporary name,
 * verified, renamed). Put a stage of your own between them:
 *
 * ```ts
 * import { decodeFrames, encodeFrames, enumerate, type FileEntry, NeedListStream, ReceiveSink } from "@blit/cli/mod";
 * const src = Deno.realPathSync(Deno.makeTempDirSync());
 * const dst = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${src}/keep.txt`, "kept");
 * Deno.writeTextFileSync(`${src}/skip.log`, "left out");
 * const wanted = new Map<string, FileEntry>();
 * await enumerate(src)
 *   .pipeThrough(new TransformStream<FileEntry, FileEntry>({
 *     transform(entry, out) {
 *       if (entry.kind === "file" && entry.path.endsWith(".txt")) {
 *         wanted.set(entry.path, entry);
 *         out.enqueue(entry);
 *       }
 *     },
 *   }))
 *   .pipeThrough(new NeedListStream(dst))
 *   .pipeThrough(encodeFrames(src))
 *   .pipeThrough(decodeFrames())
 *   .pipeTo(new ReceiveSink(dst, wanted));
 * if ([...Deno.readDirSync(dst)].map((e) => e.name).join() !== "keep.txt") throw new Error("example failed");
 * Deno.removeSync(src, { recursive: true });
 * Deno.removeSync(dst, { recursive: true });
 * ```
 *
 * **The two roles**: every push and pull is one conversation between a
 * {@linkcode Sender} ({@linkcode sendTree}) and a {@linkcode Receiver}
 * ({@linkcode receiveTree}), written once; the CLI joins them across the
 * network, {@linkcode peerPair} joins them in one process (links, empty
 * directories, modes and times included). Options of each role turn on
 * delta transfer (`delta`) and compression (`compress`).
 *
 * ```ts
 * import { enumerate, peerPair, Receiver, receiveTree, Sender, sendTree } from "@blit/cli/mod";
 * const from = Deno.realPathSync(Deno.makeTempDirSync());
 * const to = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${from}/empty`);
 * Deno.writeTextFileSync(`${from}/a.txt`, "hello");
 * Deno.symlinkSync("a.txt", `${from}/link`);
 * const [toReceiver, toSender] = peerPair();
 * const [sent] = await Promise.all([
 *   sendTree(toReceiver, new Sender(from), enumerate(from)),
 *   receiveTree(toSender, new Receiver(to)),
 * ]);
 * if (sent.summary.files !== 2 || Deno.readLinkSync(`${to}/link`) !== "a.txt") throw new Error("example failed");
 * Deno.removeSync(from, { recursive: true });
 * Deno.removeSync(to, { recursive: true });
 * ```
 *
 * Everything else the CLI and daemon are built from (frame codecs, the
 * contained file layer, tokens, the data plane, delta internals) is
 * `jsr:@blit/cli/internals`: usable, but not a stable interface.
 *
 * @module
 */

// Copying: the commands' own entry points.
export { copy, type CopyOptions } from "./lib/client/copy.ts";
export { pushRemote } from "./lib/client/push.ts";
export { pullRemote } from "./lib/client/pull.ts";
export {
  localCopy,
  type LocalCopyOptions,
  SourceNotFoundError,
} from "./lib/client/local_copy.ts";
export type { RemoteTransferOptions } from "./lib/client/transfer_call.ts";
export type { TransferResult, TransportKind } from "./lib/client/summary.ts";
export {
  isRemote,
  parseRemote,
  type RemoteAddress,
  UsageError,
} from "./lib/client/address.ts";
export {
  type ListEntry,
  type Listing,
  listModules,
  listRemote,
  purgeRemote,
} from "./lib/client/admin.ts";

// A daemon in this process.
export {
  serve,
  type ServedDaemon,
  type ServeOptions,
} from "./lib/daemon/serve.ts";

// The stages.
export type { EntryKind, FileEntry, TransferStats } from "./lib/fs/entry.ts";
export { enumerate, type EnumerateOptions } from "./lib/fs/enumerate.ts";
export type { NeedListOptions } from "./lib/fs/need_list.ts";
export { NeedListStream } from "./lib/fs/need_list_stream.ts";
export {
  decodeFrames,
  encodeFrames,
  type EncodeFramesOptions,
} from "./lib/wire/frame_stream.ts";
export {
  ReceiveSink,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./lib/wire/receive_sink.ts";
export { FrameReceiver } from "./lib/wire/frame_receiver.ts";

// The roles.
export { Sender, type SenderOptions } from "./lib/transfer/sender.ts";
export {
  type GrownFiles,
  Receiver,
  type ReceiverOptions,
  type ReceiverResult,
} from "./lib/transfer/receiver.ts";
export {
  sendTree,
  type SendTreeOptions,
  type SentTree,
} from "./lib/transfer/send_tree.ts";
export {
  type ReceivedTree,
  receiveTree,
  type ReceiveTreeOptions,
} from "./lib/transfer/receive_tree.ts";
export {
  peerPair,
  type ReceiverPeer,
  type SenderPeer,
} from "./lib/transfer/peer.ts";

/** blit's version. */
export { VERSION } from "./lib/version.ts";

// Types the API above refers to (documented where they are defined).
export type { Bandwidth } from "./lib/wire/bandwidth.ts";
export type { DirTime } from "./lib/fs/apply_tree.ts";
export type { BasisCopy, BasisOffer } from "./lib/delta/basis.ts";
export type { Choice } from "./lib/transfer/link_policy.ts";
export type { CompressOptions } from "./lib/wire/compressed_stream.ts";
export type {
  DataLink,
  ManifestMessage,
  MessageTally,
  Peer,
  ReceivedSummary,
  ReceiverMessage,
  SenderMessage,
  WireStats,
} from "./lib/transfer/peer.ts";
export type { FileDataChunk } from "./lib/wire/grpc_data.ts";
export type { FileRange, FrameEvent } from "./lib/wire/frame_codec.ts";
export type { NeedOffers } from "./lib/transfer/receiver.ts";
export type { NeededFile } from "./lib/wire/frame_io.ts";
export type { KeptBlocks, PartialCopy, ResumeOffer } from "./lib/fs/resume.ts";
export type { ProgressSink } from "./lib/ui/progress.ts";
export type { SendWindow } from "./lib/rpc/call_io.ts";
export type {
  DirHandle,
  PinOptions,
  ReadHandle,
  Tree,
  TreeRoot,
  WriteHandle,
} from "./lib/fs/tree.ts";
export type {
  MoveOptions,
  RawFile,
  RawSocket,
  ZeroCopy,
} from "./lib/wire/zero_copy.ts";
