// What the daemon's call handlers are given (the service context), the
// calls' types, the limits they share, and their message helpers.
import type { DaemonHistory } from "./perf.ts";
import type { CallTracker } from "./call_log.ts";
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import {
  type ClientPullRequest,
  type ClientPushRequest,
  type ServerPullResponse,
  ServerPullResponseSchema,
  type ServerPushResponse,
  ServerPushResponseSchema,
} from "../rpc/service.ts";
import type { DataPlaneServer } from "../wire/data_plane.ts";
import type { ZeroCopy } from "../wire/zero_copy.ts";
import type { NativeStat } from "../fs/native_stat.ts";
import type { DaemonConfig, ModuleConfig } from "./config.ts";
import type { SymlinkMaker } from "./link_broker.ts";
import type { Admission } from "./admission.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";
import type { AuthGuard } from "./auth.ts";
import { ServiceError } from "./errors.ts";

/** Most manifest entries one transfer may declare. */
export const MAX_MANIFEST_ENTRIES = 10_000_000;

/** Paths per FileList / ListResponse message. */
export const BATCH = 1000;

/** Budget bytes per path a pull's need list names (the string and a slot). */
export const NEED_COST = 64;

/** What the handlers need from the daemon. */
export type { CallTracker };

export interface ServiceContext {
  config: DaemonConfig;
  /** Module secrets and the brake on guessing them (one per daemon). */
  auth?: AuthGuard;
  /** Null when the daemon forces gRPC data. */
  dataPlane: DataPlaneServer | null;
  /** sendfile for pulls, when the config allows FFI and it loaded. */
  zeroCopy?: ZeroCopy;
  /** libc lstat for need lists, likewise (see native_stat.ts). */
  nativeStat?: NativeStat;
  log: (line: string) => void;
  /** Makes symlinks (through the link broker when sandboxed). */
  makeSymlink?: SymlinkMaker;
  /**
   * "walk" forces the fallback tree (tests of it); default: the kernel
   * tree wherever openat2 works.
   */
  containment?: "kernel" | "walk";
  /** Appends a line to the daemon's performance history. */
  record?: (record: PerfRecord) => void;
  /** Told when a transfer call starts (the self-check's idle clock). */
  onCall?: () => void;
  /** The daemon's performance history; none when it keeps none. */
  history?: DaemonHistory;
  /** Session slots and memory budgets. */
  admission: Admission;
  /** Peers ("HOST:PORT") whose connection arrived over a connection cap. */
  refusedPeers?: ReadonlySet<string>;
  /**
   * Journals a module directory that may get temp files (see
   * `ContainedRootOptions.onTempDir`), so a crash's are swept at start.
   */
  onTempDir?: (module: ModuleConfig, dirRel: string) => void;
  /** The call log (a line per client call); none in unit tests. */
  calls?: CallTracker;
}

export type PushCall = grpc.ServerDuplexStream<
  ClientPushRequest,
  ServerPushResponse
>;

export type PullCall = grpc.ServerDuplexStream<
  ClientPullRequest,
  ServerPullResponse
>;

export function protocolError(message: string): ServiceError {
  return new ServiceError(grpc.status.INVALID_ARGUMENT, message);
}

export { baseName, parentOf } from "../fs/paths.ts";

export function pushMessage(
  payload: ServerPushResponse["payload"],
): ServerPushResponse {
  return create(ServerPushResponseSchema, { payload });
}

export function pullMessage(
  payload: ServerPullResponse["payload"],
): ServerPullResponse {
  return create(ServerPullResponseSchema, { payload });
}
