// Starts the daemon's gRPC control plane and TCP data plane.
import * as grpc from "@grpc/grpc-js";
import { blitService, MAX_MESSAGE_BYTES } from "../rpc/service.ts";
import { DataPlaneServer } from "../wire/data_plane.ts";
import { TokenIssuer } from "../wire/token.ts";
import { abortAllOpen } from "../fs/atomic_write.ts";
import type { DaemonConfig } from "./config.ts";
import type { SymlinkMaker } from "./link_broker.ts";
import {
  appendPerfRecord,
  type PerfRecord,
} from "../telemetry/perf_history.ts";
import {
  handleList,
  handleListModules,
  handlePull,
  handlePurge,
  handlePush,
  type ServiceContext,
} from "./service.ts";

/** A running daemon. */
export interface RunningDaemon {
  /** Control-plane address as bound. */
  address: string;
  port: number;
  /** Data-plane port, or null when gRPC data is forced. */
  dataPort: number | null;
  /** Stops both planes and removes in-flight temp files. */
  stop(): Promise<void>;
}

function grpcAddress(bind: string, port: number): string {
  return bind.includes(":") && !bind.startsWith("[")
    ? `[${bind}]:${port}`
    : `${bind}:${port}`;
}

/**
 * Starts the control and data planes for `config`.
 *
 * Permissions: net on `config.bind`; read/write on the modules.
 *
 * @example
 * ```ts ignore
 * import { startDaemon } from "./server.ts";
 * import { loadConfig } from "./config.ts";
 * const daemon = await startDaemon(loadConfig({ root: Deno.makeTempDirSync(), port: 0 }));
 * await daemon.stop();
 * ```
 */
export async function startDaemon(
  config: DaemonConfig,
  options: {
    log?: (line: string) => void;
    makeSymlink?: SymlinkMaker;
    /** Where the daemon's perf_history.jsonl goes; none when unset. */
    stateDir?: string;
  } = {},
): Promise<RunningDaemon> {
  const log = options.log ?? ((line: string) => console.error(line));
  const dataPlane = config.forceGrpcData ? null : DataPlaneServer.listen({
    hostname: config.bind,
    port: config.dataPort,
    issuer: new TokenIssuer({ ttlSeconds: 30 }),
    log,
  });
  const stateDir = options.stateDir;
  const record = stateDir && Deno.env.get("BLIT_DISABLE_PERF_HISTORY") !== "1"
    ? (r: PerfRecord) => void appendPerfRecord(stateDir, r)
    : undefined;
  const ctx: ServiceContext = {
    record,
    config,
    dataPlane,
    log,
    makeSymlink: options.makeSymlink,
  };
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  server.addService(blitService, {
    push: (call: Parameters<typeof handlePush>[0]) =>
      void handlePush(call, ctx),
    pull: (call: Parameters<typeof handlePull>[0]) =>
      void handlePull(call, ctx),
    list: (call: Parameters<typeof handleList>[0]) =>
      void handleList(call, ctx),
    purge: (
      call: Parameters<typeof handlePurge>[0],
      callback: Parameters<typeof handlePurge>[1],
    ) => handlePurge(call, callback, ctx),
    listModules: (
      _call: unknown,
      callback: (e: null, r: ReturnType<typeof handleListModules>) => void,
    ) => callback(null, handleListModules(ctx)),
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(
        grpcAddress(config.bind, config.port),
        grpc.ServerCredentials.createInsecure(),
        (error, bound) => error ? reject(error) : resolve(bound),
      );
    });
  } catch (error) {
    dataPlane?.close();
    throw error;
  }
  let stopped = false;
  return {
    address: config.bind,
    port,
    dataPort: dataPlane?.port ?? null,
    stop() {
      if (stopped) return Promise.resolve();
      stopped = true;
      dataPlane?.close();
      // In-flight transfers are cut, not awaited: their temp files go.
      server.forceShutdown();
      abortAllOpen();
      return Promise.resolve();
    },
  };
}
