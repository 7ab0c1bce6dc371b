// Remote operations against a daemon, by idea: push.ts, pull.ts (the
// client's hosting of the roles), admin.ts (list, purge, modules),
// perf_rpc.ts (the daemon's history), transfer_call.ts (what push and
// pull share). This module gathers them for existing importers.
export { pushRemote } from "./push.ts";
export { pullRemote, pullWriters } from "./pull.ts";
export {
  type ListEntry,
  type Listing,
  listModules,
  listRemote,
  purgeRemote,
} from "./admin.ts";
export {
  fetchPerfSnapshot,
  type RemoteSnapshot,
  uploadPerf,
} from "./perf_rpc.ts";
export type { RemoteTransferOptions } from "./transfer_call.ts";
