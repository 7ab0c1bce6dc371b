// The daemon's performance history: its snapshot for a module (for the
// predictor) and the upload of a finished run.
import { create } from "../rpc/codec.ts";
import {
  type PerfRun,
  PerfSnapshotRequestSchema,
  UploadPerfRequestSchema,
} from "../rpc/service.ts";
import { recordToRun, runToRecord } from "../rpc/convert.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";
import type { RemoteAddress } from "./address.ts";
import { type BlitRpc, remoteFailure } from "./connect.ts";
import { sharedClient } from "./shared_client.ts";

type Client = BlitRpc;

/** The daemon's performance snapshot for a module (see `PerfSnapshot`). */
export interface RemoteSnapshot {
  /** Whether the daemon keeps a history. */
  enabled: boolean;
  /** Its recent runs for the module, oldest first. */
  runs: PerfRecord[];
  /** Its last self-check, if any. */
  lastSelfCheck?: PerfRecord;
}

/**
 * Runs `fn` on the daemon's connection (the transfer's, when one is held
 * open: see `holdConnection`), giving up after `timeoutMs`.
 */
async function quickCall<T>(
  address: RemoteAddress,
  timeoutMs: number,
  fn: (client: Client, deadline: Date) => Promise<T>,
): Promise<T> {
  const deadline = new Date(Date.now() + timeoutMs);
  const { client, release } = await sharedClient(address, { timeoutMs });
  try {
    return await fn(client, deadline);
  } catch (error) {
    release(true);
    throw error;
  } finally {
    release();
  }
}

/**
 * The daemon's performance snapshot for `address.module`, or undefined
 * when it can't be had within `timeoutMs` (an older daemon, a slow link):
 * the predictor then does without. The module's access check is the
 * transfer's: a missing or wrong secret, an address not allowed or an
 * unknown module throws the error the transfer would (so a run with a
 * wrong secret is one attempt, not two).
 *
 * @example
 * ```ts ignore
 * import { fetchPerfSnapshot } from "./perf_rpc.ts";
 * import { parseRemote } from "@blit/cli/mod";
 * console.log(await fetchPerfSnapshot(parseRemote("blit://127.0.0.1/default")));
 * ```
 */
export async function fetchPerfSnapshot(
  address: RemoteAddress,
  timeoutMs = 1500,
): Promise<RemoteSnapshot | undefined> {
  try {
    return await quickCall(address, timeoutMs, async (client, deadline) => {
      const response = await client.unary(
        "perfSnapshot",
        create(PerfSnapshotRequestSchema, { module: address.module }),
        { deadline },
      );
      const read = (run: PerfRun) =>
        runToRecord(run, { now: Date.parse(run.ts) });
      const check = response.lastSelfCheck && read(response.lastSelfCheck);
      return {
        enabled: response.enabled,
        runs: response.runs.map(read).filter((r) => r !== undefined),
        ...(check ? { lastSelfCheck: check } : {}),
      };
    });
  } catch (error) {
    const code = (error as { code?: number }).code;
    const details = String((error as { details?: string }).details ?? "");
    if (
      code === 16 || code === 7 || code === 5 ||
      (code === 8 && details.includes("wrong secrets"))
    ) throw await remoteFailure(error, address);
    return undefined;
  }
}

/**
 * Uploads a run summary to the daemon's history for `address.module`;
 * whether it was recorded. Never throws; gives up after `timeoutMs`.
 *
 * @example
 * ```ts ignore
 * import { uploadPerf } from "./perf_rpc.ts";
 * ```
 */
export async function uploadPerf(
  address: RemoteAddress,
  record: PerfRecord,
  timeoutMs = 1500,
): Promise<boolean> {
  try {
    return await quickCall(address, timeoutMs, async (client, deadline) => {
      const response = await client.unary(
        "uploadPerf",
        create(UploadPerfRequestSchema, {
          module: address.module,
          run: recordToRun(record),
        }),
        { deadline },
      );
      return response.recorded;
    });
  } catch {
    return false;
  }
}
