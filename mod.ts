// blit as a library: the transfer pipeline's stages, codecs and clients.
//
// A transfer is a pipeline of Web Streams, the same ones blit runs:
//
//   enumerate(root)                 ReadableStream<FileEntry>
//     .pipeThrough(NeedListStream)  keep what the destination lacks
//     .pipeTo(new FrameSink(conn, root))   frames out, big reads and writes
//
//   frameSource(conn)               frame events in, a batch per read
//     .pipeTo(new ReceiveSink(root, expected))   atomic files
//
// @module

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
  applyDir,
  applySymlink,
  AtomicFile,
  cleanupTemps,
  copyFileAtomic,
  EntryConflictError,
  findPartialCopy,
  type FoundPartial,
  isTempName,
  PARTIAL_KEEP_MS,
  partialNameFor,
  RESUME_MIN_BYTES,
  ResumeError,
  setDirTimes,
  SizeMismatchError,
  type SweepOptions,
  sweepTemps,
  type TreeRoot,
  writeFileAtomic,
} from "./lib/fs/atomic_write.ts";
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
  FrameDecoder,
  type FrameEvent,
  FrameProtocolError,
  TruncatedStreamError,
} from "./lib/wire/frame_codec.ts";
export {
  decodeFrames,
  encodeFrames,
  type EncodeFramesOptions,
  SourceChangedError,
} from "./lib/wire/frame_stream.ts";
export {
  ReceiveSink,
  type ReceiveSinkOptions,
  type ReceiveStats,
} from "./lib/wire/receive_sink.ts";
export {
  connReadable,
  type ConnReadableOptions,
  connWritable,
} from "./lib/wire/socket.ts";
export {
  FrameSink,
  frameSource,
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
  loadZeroCopy,
  type MoveOptions,
  type RawFile,
  type RawSocket,
  ZeroCopy,
  ZeroCopyError,
} from "./lib/wire/zero_copy.ts";
export type { ProgressSink } from "./lib/ui/progress.ts";
export {
  GrpcReceiver,
  Receiver,
  type ReceiverOptions,
  type ReceiverResult,
} from "./lib/transfer/receiver.ts";

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
  type FileDataChunk,
  fileDataChunks,
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
  pullRemote,
  purgeRemote,
  pushRemote,
  type RemoteTransferOptions,
} from "./lib/client/remote.ts";
export type { TransferResult, TransportKind } from "./lib/client/summary.ts";
export { copy, type CopyOptions } from "./lib/client/copy.ts";
