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

// Everything the library exports, then the rest.
export * from "./mod.ts";
export { entryFromPath, walkEntries } from "./lib/fs/enumerate.ts";
export { type ExcludeMatcher, excludeMatcher } from "./lib/fs/exclude.ts";
export {
  type ContentHasher,
  contentHasher,
  hashBytes,
  hashFile,
  sameHash,
} from "./lib/fs/hash.ts";
export { NeedList, needsTransfer } from "./lib/fs/need_list.ts";
export {
  abortAllOpen,
  AtomicFile,
  ResumeError,
  SizeMismatchError,
  writeFileAtomic,
} from "./lib/fs/atomic_file.ts";
export {
  applyDir,
  applyFileMode,
  applySymlink,
  setDirTimes,
} from "./lib/fs/apply_tree.ts";
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
export {
  blockRuns,
  findResume,
  keptBlocks,
  MAX_RESUME_BLOCKS,
  RESUME_BLOCK_BYTES,
  resumeBlockSize,
  validOffer,
} from "./lib/fs/resume.ts";
export {
  type ContainedOptions,
  ContainedRoot,
  type ContainedRootOptions,
  openForRead,
} from "./lib/fs/contained_root.ts";
export { ContainmentError, contentStamp, fileIdentity } from "./lib/fs/tree.ts";
export { KernelTree, type KernelTreeOptions } from "./lib/fs/kernel_tree.ts";
export { PathTree, treeOf } from "./lib/fs/path_tree.ts";
export {
  type RemovedCounts,
  removeTree,
  type RemoveTreeOptions,
} from "./lib/fs/remove_tree.ts";
export {
  ifExists,
  loadNativeStat,
  type NativeStat,
  preciseLstat,
  setPathTimes,
} from "./lib/fs/native_stat.ts";
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
  FrameProtocolError,
  TruncatedStreamError,
} from "./lib/wire/frame_codec.ts";
export { FrameDecoder } from "./lib/wire/frame_decoder.ts";
export {
  readEvents,
  type ReadItem,
  type ReadOptions,
  SourceChangedError,
} from "./lib/wire/file_reader.ts";
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
  frameBatches,
  FrameSender,
  frameSource,
  type FrameSourceOptions,
  type FrameWriter,
  type RangeItem,
  receiveFrames,
  receiveInto,
  type ResumeItem,
  sendFrames,
  type SendFramesOptions,
  type SendItem,
  sendItems,
  SPLIT_MIN,
} from "./lib/wire/frame_io.ts";
export { FrameSink } from "./lib/wire/frame_sink.ts";
export { Bandwidth, parseRate } from "./lib/wire/bandwidth.ts";
export {
  type ByteReader,
  CompressingWriter,
  type CompressStats,
  decompressingReader,
  LinkMeter,
} from "./lib/wire/compressed_stream.ts";
export {
  basisProblem,
  BasisTable,
  BLOCKS_MIN_BYTES,
  BlockTable,
  ChunkDigest,
  DELTA_MIN_BYTES,
  describeBasis,
  describeBlocks,
  type DescribedRange,
  describeHandle,
  describeRange,
} from "./lib/delta/basis.ts";
export {
  avgBitsFor,
  blockSum,
  Chunker,
  dataArea,
  rollBlocks,
  rollSum,
} from "./lib/delta/chunker.ts";
export { type DeltaOp, deltaOps, ShrankError } from "./lib/delta/matcher.ts";
export { DeltaRangeError, DeltaRebuild } from "./lib/delta/rebuild.ts";
export {
  compressionFor,
  isLoopback,
  useDelta,
  useSendfile,
} from "./lib/transfer/link_policy.ts";
export { appendsMostly, GROWN_SEEN } from "./lib/transfer/grown_files.ts";
export {
  BOOT_ID_ENV,
  bootId,
  hostTag,
  isSameHost,
} from "./lib/transfer/same_host.ts";
export { loadZeroCopy, ZeroCopy, ZeroCopyError } from "./lib/wire/zero_copy.ts";
export { SendWindow } from "./lib/rpc/call_io.ts";
export {
  countingPeer,
  DataLink,
  messageBytes,
  PeerError,
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
  fileDataChunks,
  GrpcReceiver,
} from "./lib/wire/grpc_data.ts";
