// How a transfer call ends: its summary, the daemon's history line, and
// a failure's status (with the daemon's own paths taken out).
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import { PushSummarySchema, type Transport } from "../rpc/service.ts";
import { type PerfRecord, sizeClass } from "../telemetry/perf_history.ts";
import { toStatus } from "./errors.ts";
import type { PullCall, PushCall, ServiceContext } from "./context.ts";

/** The summary message that ends a push or pull. */
export function summaryOf(
  result: { files: number; bytes: number; deleted?: number; skipped?: number },
  transport?: Transport,
) {
  return create(PushSummarySchema, {
    filesTransferred: BigInt(result.files),
    bytesTransferred: BigInt(result.bytes),
    filesDeleted: BigInt(result.deleted ?? 0),
    filesSkipped: BigInt(result.skipped ?? 0),
    transport,
  });
}

/** The daemon's history line for a finished push or pull. */
export function perfRecord(
  op: "push" | "pull",
  data: { transport: "tcp" | "grpc"; fallback: boolean; streams: number },
  result: { files: number; bytes: number },
  t0: number,
  tManifest: number,
  where: { module: string; peer: string },
): PerfRecord {
  return {
    ts: new Date().toISOString(),
    op,
    transport: data.transport,
    streams: data.streams,
    files: result.files,
    bytes: result.bytes,
    duration_ms: Math.round(performance.now() - t0),
    remote: where.peer,
    source: "daemon",
    module: where.module,
    size_class: sizeClass(result.files, result.bytes),
    handshake_ms: 0,
    manifest_ms: Math.round(tManifest - t0),
    transfer_ms: Math.round(performance.now() - tManifest),
    retries: 0,
    fallback: data.fallback,
  };
}

/**
 * The status for `error` with the daemon's own paths taken out: clients
 * see paths relative to the module, never where modules live.
 */
export function safeStatus(
  error: unknown,
  ctx: ServiceContext,
): { code: grpc.status; details: string } {
  const status = toStatus(error);
  let details = status.details;
  for (const module of ctx.config.modules) {
    details = details.replaceAll(`${module.path}/`, "")
      .replaceAll(module.path, `(module ${module.name})`);
  }
  return { code: status.code, details };
}

export function failCall(
  call: grpc.ServerWritableStream<unknown, unknown> | PushCall | PullCall,
  error: unknown,
  ctx: ServiceContext,
): void {
  const status = safeStatus(error, ctx);
  // The log line says it; INTERNAL errors keep their own line too.
  ctx.calls?.fail(call, status);
  if (status.code === grpc.status.INTERNAL && !ctx.calls) {
    ctx.log(`blit-daemon: ${status.details}`);
  }
  try {
    call.emit("error", status);
  } catch {
    // the call is already gone
  }
}
