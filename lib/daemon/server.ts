// Starts the daemon's gRPC control plane and TCP data plane.
import { AuthGuard } from "./auth.ts";
import * as grpc from "../deps/grpc.ts";
import { MAX_MESSAGE_BYTES } from "../rpc/service.ts";
import { blitService } from "../rpc/grpc_service.ts";
import { DataPlaneServer } from "../wire/data_plane.ts";
import { bracketHost } from "../wire/host_port.ts";
import { TokenIssuer } from "../wire/token.ts";
import { loadZeroCopy } from "../wire/zero_copy.ts";
import { loadNativeStat } from "../fs/native_stat.ts";
import { RateLimitedLog } from "../wire/rate_log.ts";
import { abortAllOpen } from "../fs/atomic_file.ts";
import type { DaemonConfig } from "./config.ts";
import { Admission } from "./admission.ts";
import { serveControlPlane } from "./control_listener.ts";
import { TempJournal } from "./temp_journal.ts";
import type { SymlinkMaker } from "./link_broker.ts";
import {
  daemonHistory,
  perfSnapshotHandler,
  SelfCheck,
  uploadPerfHandler,
} from "./perf.ts";
import { toStatus } from "./errors.ts";
import { type CallLog, CallTracker, openCallLog } from "./call_log.ts";
import {
  checkConnection,
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
  /** Whether pulls send file bodies by sendfile (config `zeroCopy`, loaded). */
  zeroCopy: boolean;
  /** Stops both planes and removes in-flight temp files. */
  stop(): Promise<void>;
}

/** Bytes a client may send ahead of the daemon: per call, per connection. */
const STREAM_WINDOW = 4 << 20;
const CONNECTION_WINDOW = 8 << 20;

/**
 * Raises HTTP/2's 64 KiB receive windows, which grpc-js's server has no
 * option for: with them a client's manifest arrived in bursts of four
 * messages with 100-300 ms gaps (window updates came late), and a 100,000
 * file no-op push took 1.6 s instead of 1.2 s. Reaches into grpc-js 1.14
 * (pinned): if its internals change, the defaults simply stay.
 */
function widenFlowControl(server: grpc.Server): void {
  const internal = server as unknown as {
    commonServerOptions?: { settings?: Record<string, number> };
    createHttp2Server?: (credentials: unknown) => {
      on(
        event: "session",
        listener: (
          session: { setLocalWindowSize?(size: number): void },
        ) => void,
      ): void;
    };
  };
  const common = internal.commonServerOptions;
  const create = internal.createHttp2Server;
  if (!common || typeof create !== "function") return;
  common.settings = { ...common.settings, initialWindowSize: STREAM_WINDOW };
  internal.createHttp2Server = (credentials) => {
    const http2Server = create.call(server, credentials);
    http2Server.on("session", (session) => {
      try {
        session.setLocalWindowSize?.(CONNECTION_WINDOW);
      } catch {
        // the defaults stay
      }
    });
    return http2Server;
  };
}

/** The gRPC server with the blit service wired to the handlers. */
function grpcServer(ctx: ServiceContext): grpc.Server {
  const limits = ctx.config.limits;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    // Connections with no call in flight are closed after the idle time;
    // a peer that stops answering pings is dropped; one connection can't
    // open unbounded streams.
    "grpc.max_connection_idle_ms": limits.idleTimeout * 1000,
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.max_concurrent_streams": 16,
    "grpc.max_connection_age_ms": 24 * 3600 * 1000,
  });
  widenFlowControl(server);
  // Each call is logged once it ends (see call_log.ts).
  const logged = (call: { getPeer(): string }, op: string) =>
    ctx.calls?.begin(call, op, call.getPeer());
  const ended = (call: object) => () => ctx.calls?.end(call);
  server.addService(blitService, {
    push: (call: Parameters<typeof handlePush>[0]) => {
      ctx.onCall?.();
      logged(call, "push");
      void handlePush(call, ctx).finally(ended(call));
    },
    pull: (call: Parameters<typeof handlePull>[0]) => {
      ctx.onCall?.();
      logged(call, "pull");
      void handlePull(call, ctx).finally(ended(call));
    },
    list: (call: Parameters<typeof handleList>[0]) => {
      logged(call, "list");
      void handleList(call, ctx).finally(ended(call));
    },
    purge: (
      call: Parameters<typeof handlePurge>[0],
      callback: Parameters<typeof handlePurge>[1],
    ) => {
      logged(call, "purge");
      handlePurge(call, (error, value) => {
        ctx.calls?.end(call);
        callback(error, value);
      }, ctx);
    },
    listModules: (
      call: { getPeer(): string },
      callback: grpc.sendUnaryData<ReturnType<typeof handleListModules>>,
    ) => {
      logged(call, "modules");
      try {
        checkConnection(call, ctx);
        const modules = handleListModules(ctx);
        ctx.calls?.note(call, { files: modules.modules.length });
        callback(null, modules);
      } catch (error) {
        const status = toStatus(error);
        ctx.calls?.fail(call, status);
        callback(status);
      } finally {
        ctx.calls?.end(call);
      }
    },
    // The performance calls every transfer makes (op=perf, op=upload).
    perfSnapshot: loggedUnary(ctx, "perf", perfSnapshotHandler(ctx)),
    uploadPerf: loggedUnary(ctx, "upload", uploadPerfHandler(ctx)),
  });
  return server;
}

/** A unary handler whose calls are logged when they end. */
function loggedUnary<Req, Res>(
  ctx: ServiceContext,
  op: string,
  handler: (
    call: grpc.ServerUnaryCall<Req, Res>,
    callback: grpc.sendUnaryData<Res>,
  ) => void,
) {
  return (
    call: grpc.ServerUnaryCall<Req, Res>,
    callback: grpc.sendUnaryData<Res>,
  ) => {
    ctx.calls?.begin(call, op, call.getPeer());
    handler(call, (error, value) => {
      if (error) {
        ctx.calls?.fail(call, {
          code: (error as { code?: number }).code ?? 2,
          details: (error as { details?: string }).details,
        });
      }
      ctx.calls?.end(call);
      callback(error, value);
    });
  };
}

/**
 * Starts the control and data planes for `config`.
 *
 * Permissions: net on `config.bind`; read/write on the modules.
 *
 * @example
 * ```ts ignore
 * import { startDaemon } from "./server.ts";
 * import { loadConfig } from "./config_load.ts";
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
    /**
     * The call log. Default: config `log` (a file) or stderr, in config
     * `logFormat`.
     */
    callLog?: CallLog;
  } = {},
): Promise<RunningDaemon> {
  const log = options.log ?? ((line: string) => console.error(line));
  const callLog = options.callLog ??
    openCallLog(config.log, config.logFormat ?? "text");
  const limits = config.limits;
  const stateDir = options.stateDir;
  // A crash's temp files go before anyone can see them.
  const journal = stateDir ? new TempJournal(stateDir) : undefined;
  // (From here on the daemon's working directory belongs to its
  // contained roots: nothing in it may use a relative path.)
  const swept = journal?.sweep(config.modules) ?? 0;
  if (swept > 0) {
    log(`blit-daemon: removed ${swept} temporary files left by an earlier run`);
  }
  const dataPlane = listenData(config, log);
  const history = stateDir && Deno.env.get("BLIT_DISABLE_PERF_HISTORY") !== "1"
    ? daemonHistory(stateDir)
    : undefined;
  const refusedPeers = new Set<string>();
  // Made once the control port is known; calls touch its idle clock.
  const idle: { check?: SelfCheck } = {};
  const ctx: ServiceContext = {
    record: history?.append,
    history,
    onCall: () => idle.check?.touch(),
    config,
    dataPlane,
    zeroCopy: config.zeroCopy ? loadZeroCopy() : undefined,
    nativeStat: config.zeroCopy ? loadNativeStat() : undefined,
    log,
    makeSymlink: options.makeSymlink,
    admission: new Admission(limits),
    auth: new AuthGuard(),
    refusedPeers,
    onTempDir: journal && ((module, dir) => journal.record(module, dir)),
    containment: walkForced() ? "walk" : undefined,
    calls: new CallTracker(callLog),
  };
  // Summaries of repeated refusals come out when their window ends.
  const flushing = setInterval(() => callLog.flush(), 5_000);
  Deno.unrefTimer(flushing);
  const server = grpcServer(ctx);
  let control: ReturnType<typeof serveControlPlane>;
  try {
    control = listenControl(server, config, log, refusedPeers);
  } catch (error) {
    dataPlane?.close();
    throw error;
  }
  await Promise.resolve();
  // When idle: partial copies older than a day (and any other leftover
  // temp files) go, and with a history the daemon checks itself.
  idle.check = idleCheck(config, control.port, ctx, journal);
  let stopped = false;
  return {
    address: config.bind,
    port: control.port,
    dataPort: dataPlane?.port ?? null,
    zeroCopy: ctx.zeroCopy !== undefined,
    stop() {
      if (stopped) return Promise.resolve();
      stopped = true;
      clearInterval(flushing);
      callLog.flush(true);
      idle.check?.stop();
      control.close();
      dataPlane?.close();
      // In-flight transfers are cut, not awaited: their temp files go,
      // but big files' partial copies stay for a rerun to resume (the
      // journal keeps their directories for the next start's sweep).
      server.forceShutdown();
      const { kept } = abortAllOpen({ keepPartials: true });
      if (kept === 0) journal?.clear();
      else journal?.close();
      return Promise.resolve();
    },
  };
}

/**
 * What the daemon does when idle: partial copies older than a day (and
 * any other leftover temp files) go, and with a history it checks itself.
 */
function idleCheck(
  config: DaemonConfig,
  port: number,
  ctx: ServiceContext,
  journal: TempJournal | undefined,
): SelfCheck {
  return new SelfCheck({
    intervalSeconds: config.selfCheckInterval,
    history: ctx.history,
    hostname: config.bind,
    port,
    busy: () => ctx.admission.sessions > 0,
    onIdle: () => {
      const removed = journal?.sweep(config.modules) ?? 0;
      if (removed > 0) {
        ctx.log(`blit-daemon: removed ${removed} stale temporary files`);
      }
    },
  });
}

/** The data plane's listener, or null when the daemon sends over gRPC only. */
function listenData(
  config: DaemonConfig,
  log: (line: string) => void,
): DataPlaneServer | null {
  if (config.forceGrpcData) return null;
  const limits = config.limits;
  try {
    return DataPlaneServer.listen({
      hostname: config.bind,
      port: config.dataPort,
      issuer: new TokenIssuer({ ttlSeconds: 30 }),
      log,
      handshakeTimeoutMs: Math.min(limits.handshakeTimeout * 1000, 30_000),
      maxConnections: limits.maxConnections,
      maxPerAddress: limits.maxConnectionsPerClient,
      tls: config.tls,
    });
  } catch (error) {
    // Which port could not be had: the data plane's, not the control one.
    if (error instanceof Error) {
      Object.assign(error, {
        where: `${bracketHost(config.bind)}:${config.dataPort}`,
      });
    }
    throw error;
  }
}

/** The control plane's listener, serving `server`. */
function listenControl(
  server: grpc.Server,
  config: DaemonConfig,
  log: (line: string) => void,
  refusedPeers: Set<string>,
): ReturnType<typeof serveControlPlane> {
  const limits = config.limits;
  return serveControlPlane(server, {
    hostname: config.bind,
    port: config.port,
    maxConnections: limits.maxConnections,
    maxPerAddress: limits.maxConnectionsPerClient,
    handshakeTimeoutMs: limits.handshakeTimeout * 1000,
    log: new RateLimitedLog(log),
    onRefusedPeer: (peer, refused) =>
      refused ? refusedPeers.add(peer) : refusedPeers.delete(peer),
    tls: config.tls,
  });
}

/**
 * Whether `BLIT_DAEMON_CONTAINMENT=walk` forces the fallback tree (for
 * testing it where openat2 exists; weaker, see the README).
 */
export function walkForced(): boolean {
  try {
    return Deno.env.get("BLIT_DAEMON_CONTAINMENT") === "walk";
  } catch {
    return false;
  }
}
