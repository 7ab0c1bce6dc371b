// Opens the control-plane channel and turns gRPC failures into messages.
import * as grpc from "../deps/grpc.ts";
import { TruncatedStreamError } from "../wire/frame_codec.ts";
import {
  BlitClient,
  MAX_MESSAGE_BYTES,
  SECRET_METADATA,
} from "../rpc/service.ts";
import { hostPort, type RemoteAddress } from "./address.ts";

/** A remote failure; `transient` ones are worth a retry. */
export class RemoteError extends Error {
  readonly code: number;
  readonly transient: boolean;
  constructor(message: string, code: number, transient: boolean) {
    super(message);
    this.name = "RemoteError";
    this.code = code;
    this.transient = transient;
  }
}

/** The daemon can't be reached at all. */
export class DaemonUnreachableError extends RemoteError {
  constructor(address: string, reason: string) {
    super(
      `cannot reach daemon at ${address} (${reason}); is blit-daemon running?`,
      grpc.status.UNAVAILABLE,
      false,
    );
    this.name = "DaemonUnreachableError";
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.TimedOut) return "timed out";
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Error) {
    return error.message.replace(/\s*\(os error \d+\)$/, "").toLowerCase();
  }
  return String(error);
}

/**
 * Checks that something listens at the address (for a clear error), then
 * opens a grpc-js client.
 *
 * Permissions: net to the daemon.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connect.ts";
 * const client = await connect({ host: "127.0.0.1", port: 50051, module: "m", path: "", trailingSlash: false });
 * client.close();
 * ```
 * @throws {DaemonUnreachableError} when nothing answers within `timeoutMs`.
 */
export async function connect(
  address: RemoteAddress,
  options: { timeoutMs?: number } = {},
): Promise<grpc.Client & Record<string, CallableFunction>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const where = hostPort(address.host, address.port);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connecting = Deno.connect({
    hostname: address.host,
    port: address.port,
  });
  try {
    const conn = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Deno.errors.TimedOut()), timeoutMs);
      }),
    ]);
    conn.close();
  } catch (error) {
    connecting.then((c) => c.close(), () => {});
    throw new DaemonUnreachableError(where, reasonOf(error));
  } finally {
    clearTimeout(timer);
  }
  const secret = address.secret;
  // Every call carries the module secret, when there is one, as metadata
  // (never in a path, so never in a daemon log or error).
  const interceptors = secret === undefined ? [] : [
    (options: grpc.InterceptorOptions, nextCall: grpc.NextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(metadata, listener, next) {
          metadata.set(SECRET_METADATA, secret);
          next(metadata, listener);
        },
      }),
  ];
  return new BlitClient(where, grpc.credentials.createInsecure(), {
    interceptors,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    // HTTP/2's 64 KiB receive window stalls a daemon's manifest between
    // window updates: take up to 8 MiB ahead.
    "grpc-node.flow_control_window": 8 << 20,
  }) as grpc.Client & Record<string, CallableFunction>;
}

/**
 * Turns a grpc-js failure into a RemoteError with the daemon's message.
 *
 * @example
 * ```ts
 * import { remoteError, RemoteError } from "./connect.ts";
 * const e = remoteError({ code: 5, details: "Module \"x\" not found" }, "127.0.0.1:1") as RemoteError;
 * if (!(e.message === "Module \"x\" not found" && !e.transient)) throw new Error("example failed");
 * ```
 */
export function remoteError(error: unknown, where: string): Error {
  if (error instanceof RemoteError) return error;
  if (
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.UnexpectedEof
  ) {
    return new RemoteError(
      `lost the data connection to the daemon at ${where} (${
        error.message.replace(/\s*\(os error \d+\)$/, "")
      }); run the same command again to finish`,
      grpc.status.UNAVAILABLE,
      true,
    );
  }
  if (error instanceof TruncatedStreamError) {
    return new RemoteError(
      `lost the data connection to the daemon at ${where} (it closed in the middle of the transfer); run the same command again to finish`,
      grpc.status.UNAVAILABLE,
      true,
    );
  }
  const e = error as { code?: number; details?: string };
  if (typeof e?.code !== "number") {
    return error instanceof Error ? error : new Error(String(error));
  }
  const details = e.details ?? "";
  switch (e.code) {
    case grpc.status.UNAVAILABLE:
      return new RemoteError(
        `lost connection to the daemon at ${where} (${
          details || "unavailable"
        }); run the same command again to finish`,
        e.code,
        true,
      );
    case grpc.status.CANCELLED:
      return new RemoteError(
        `the daemon at ${where} ended the transfer (${details.toLowerCase()}); run the same command again to finish`,
        e.code,
        true,
      );
    case grpc.status.DEADLINE_EXCEEDED:
      return new RemoteError(
        `the daemon at ${where} did not answer in time`,
        e.code,
        true,
      );
    case grpc.status.RESOURCE_EXHAUSTED:
      return new RemoteError(details, e.code, false);
    case grpc.status.INTERNAL:
    case grpc.status.UNKNOWN:
      return new RemoteError(
        details || "the daemon failed",
        e.code,
        details.includes("Stream removed") || details.includes("RST_STREAM"),
      );
    default:
      return new RemoteError(details, e.code, false);
  }
}
