/**
 * blit's building blocks, everything the CLI and the daemon are made of:
 * frame codecs and their socket I/O, the contained file layer (kernel
 * trees, atomic files, resume), data-plane tokens and sessions, delta
 * and compression internals, the predictor's pieces. Usable, but not a
 * stable interface: `jsr:@blit/cli/mod` is the library (its overview
 * shows each use); it re-exports what most programs need.
 *
 * @module
 */

export type { EntryKind, FileEntry, TransferStats } from "./lib/fs/entry.ts";
export {
  entryFromPath,
  enumerate,
  type EnumerateOptions,
} from "./lib/fs/enumerate.ts";
export { type ExcludeMatcher, excludeMatcher } from "./lib/fs/exclude.ts";
export {
  type ContentHasher,
  contentHasher,
  hashBytes,
  hashFile,
  sameHash,
} from "./lib/fs/hash.ts";
export {
  type NeedListOptions,
  NeedListStream,
  needsTransfer,
} from "./lib/fs/need_list.ts";
export {
  abortAllOpen,
  AtomicFile,
  ResumeError,
  SizeMismatchError,
  writeFileAtomic,
} from "./lib/fs/atomic_file.ts";
export { applyDir, applySymlink, setDirTimes } from "./lib/fs/apply_tree.ts";
export {
  cleanupTemps,
  PARTIAL_KEEP_MS,
  type SweepOptions,
  sweepTemps,
} from "./lib/fs/sweep.ts";
export { copyFileAtomic } from "./lib/fs/copy_file.ts";
export { EntryConflictError } from "./lib/fs/_replace.ts";
export {
  findPartialCopy,
  type FoundPartial,
  RESUME_MIN_BYTES,
} from "./lib/fs/partial_copies.ts";
export { isTempName, partialNameFor } from "./lib/fs/temp_names.ts";
export { type TreeRoot } from "./lib/fs/tree.ts";
export {
  blockRuns,
  findResume,
  type KeptBlocks,
  keptBlocks,
  MAX_RESUME_BLOCKS,
  type PartialCopy,
  RESUME_BLOCK_BYTES,
  resumeBlockSize,
  type ResumeOffer,
  validOffer,
} from "./lib/fs/resume.ts";
export {
  type ContainedOptions,
  ContainedRoot,
  type ContainedRootOptions,
  openForRead,
} from "./lib/fs/contained_root.ts";
export {
  ContainmentError,
  fileIdentity,
  type PinOptions,
  type ReadHandle,
  type Tree,
  type WriteHandle,
} from "./lib/fs/tree.ts";
export { KernelTree, type KernelTreeOptions } from "./lib/fs/kernel_tree.ts";
export { PathTree, treeOf } from "./lib/fs/path_tree.ts";
export {
  type RemovedCounts,
  removeTree,
  type RemoveTreeOptions,
} from "./lib/fs/remove_tree.ts";
export { loadNativeStat, type NativeStat } from "./lib/fs/native_stat.ts";
export type { NativeHasher } from "./lib/fs/native_hash.ts";
export { FileTable, PathSet } from "./lib/fs/path_table.ts";
export {
  applyDeletions,
  countDeletions,
  type DeletionCounts,
  type MirrorPlanOptions,
  planDeletions,
} from "./lib/fs/mirror_plan.ts";
export {
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  normalizeRelative,
  PathEscapeError,
  resolveInside,
  type ResolveOptions,
} from "./lib/fs/safe_path.ts";
export {
  encodeEnd,
  encodeFileHeader,
  encodeHello,
  encodeResume,
  type FileRange,
  type FrameEvent,
  FrameProtocolError,
  TruncatedStreamError,
} from "./lib/wire/frame_codec.ts";
export { FrameDecoder } from "./lib/wire/frame_decoder.ts";
export {
  decodeFrames,
  encodeFrames,
  type EncodeFramesOptions,
} from "./lib/wire/frame_stream.ts";
export {
  readEvents,
  type ReadItem,
  type ReadOptions,
  SourceChangedError,
} from "./lib/wire/file_reader.ts";
export {
  ReceiveSink,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./lib/wire/receive_sink.ts";
export {
  BasisChangedError,
  type DeltaTarget,
  FileAssembly,
  type Partial,
} from "./lib/wire/file_assembly.ts";
export {
  connReadable,
  type ConnReadableOptions,
  connWritable,
} from "./lib/wire/socket.ts";
export {
  type DeltaItem,
  FrameSink,
  frameSource,
  type FrameSourceOptions,
  type FrameWriter,
  type NeededFile,
  type RangeItem,
  receiveFrames,
  type ResumeItem,
  sendFrames,
  type SendFramesOptions,
  type SendItem,
  sendItems,
  SPLIT_MIN,
} from "./lib/wire/frame_io.ts";
export { Bandwidth, parseRate } from "./lib/wire/bandwidth.ts";
export {
  type ByteReader,
  CompressingWriter,
  type CompressOptions,
  type CompressStats,
  decompressingReader,
} from "./lib/wire/compressed_stream.ts";
export {
  type BasisCopy,
  type BasisOffer,
  basisProblem,
  BasisTable,
  ChunkDigest,
  DELTA_MIN_BYTES,
  describeBasis,
  describeHandle,
} from "./lib/delta/basis.ts";
export { avgBitsFor, Chunker } from "./lib/delta/chunker.ts";
export { type DeltaOp, deltaOps, ShrankError } from "./lib/delta/matcher.ts";
export { DeltaRangeError, DeltaRebuild } from "./lib/delta/rebuild.ts";
export {
  type Choice,
  compressionFor,
  isLoopback,
  useDelta,
} from "./lib/transfer/link_policy.ts";
export {
  loadZeroCopy,
  type MoveOptions,
  type RawFile,
  type RawSocket,
  ZeroCopy,
  ZeroCopyError,
} from "./lib/wire/zero_copy.ts";
export type { ProgressSink } from "./lib/ui/progress.ts";
export {
  type NeedOffers,
  Receiver,
  type ReceiverOptions,
  type ReceiverResult,
} from "./lib/transfer/receiver.ts";
export { Sender, type SenderOptions } from "./lib/transfer/sender.ts";
export { SendWindow } from "./lib/rpc/call_io.ts";
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
  countingPeer,
  DataLink,
  type ManifestMessage,
  messageBytes,
  type MessageTally,
  type Peer,
  PeerError,
  peerPair,
  type ReceivedSummary,
  type ReceiverMessage,
  type ReceiverPeer,
  type SenderMessage,
  type SenderPeer,
  type WireStats,
} from "./lib/transfer/peer.ts";

export {
  type TokenClaims,
  TokenError,
  TokenIssuer,
  type TokenIssuerOptions,
  type TokenScope,
} from "./lib/wire/token.ts";
export {
  type DataPlaneOptions,
  DataPlaneRejectedError,
  DataPlaneServer,
  DataPlaneUnreachableError,
  type DataSession,
  dialDataPlane,
} from "./lib/wire/data_plane.ts";
export {
  chunksToFrames,
  chunkWireBytes,
  type FileDataChunk,
  fileDataChunks,
  GrpcReceiver,
} from "./lib/wire/grpc_data.ts";
export {
  localCopy,
  type LocalCopyOptions,
  SourceNotFoundError,
} from "./lib/client/local_copy.ts";
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
export { pushRemote } from "./lib/client/push.ts";
export { pullRemote } from "./lib/client/pull.ts";
export type { RemoteTransferOptions } from "./lib/client/transfer_call.ts";
export type { TransferResult, TransportKind } from "./lib/client/summary.ts";
export { copy, type CopyOptions } from "./lib/client/copy.ts";
