// Opens the control-plane channel and turns gRPC failures into messages.
import { connectionCut, PeerError } from "../transfer/peer.ts";
import { IntegrityError, TruncatedStreamError } from "../wire/frame_codec.ts";
import type { DescMessage, MessageShape } from "../rpc/codec.ts";
import { Blit, SECRET_METADATA } from "../rpc/service.ts";
import {
  type GrpcCall,
  GrpcConnection,
  Status,
  TlsHandshakeError,
  unaryCall,
} from "../rpc/grpc_client.ts";
import { hostPort, type RemoteAddress } from "./address.ts";
import { after, type Timer, within } from "../timer.ts";

/** gRPC status codes, by name. */
const grpc = { status: Status };

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

/** The daemon's TLS failed: a clear reason, never retried. */
export class TlsError extends RemoteError {
  constructor(message: string) {
    super(message, grpc.status.UNAVAILABLE, false);
    this.name = "TlsError";
  }
}

/** A TLS handshake with the daemon; its failure said in one line. */
async function checkTls(
  address: RemoteAddress,
  where: string,
  timeoutMs: number,
): Promise<void> {
  let conn: Deno.TlsConn | undefined;
  try {
    conn = await Deno.connectTls({
      hostname: address.host,
      port: address.port,
      caCerts: address.tlsCa === undefined ? undefined : [address.tlsCa],
      alpnProtocols: ["h2"],
    });
    await within(
      conn.handshake(),
      timeoutMs,
      () => new Deno.errors.TimedOut(),
    );
  } catch (error) {
    throw tlsFailure(error, address, where);
  } finally {
    try {
      conn?.close();
    } catch {
      // closed already
    }
  }
}

function tlsFailure(
  error: unknown,
  address: RemoteAddress,
  where: string,
): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (/not valid for name|altnames/i.test(message)) {
    return new TlsError(
      `the TLS certificate of the daemon at ${where} is not for ${address.host}; connect by a name the certificate lists`,
    );
  }
  if (/certificate|UnknownIssuer|verify|self.signed|issuer/i.test(message)) {
    const reason = message.replace(/^.*invalid peer certificate:\s*/i, "");
    return new TlsError(
      `the TLS certificate of the daemon at ${where} does not verify (${reason}); trust its CA with --tls-ca FILE or BLIT_TLS_CA`,
    );
  }
  if (error instanceof Deno.errors.TimedOut) {
    return new TlsError(`the daemon at ${where} did not complete TLS in time`);
  }
  // rustls's wording ("received corrupt message of type ...") says
  // nothing a user can act on: the daemon answered in plain text.
  return new TlsError(
    `the daemon at ${where} does not speak TLS; use blit:// for it`,
  );
}

/** The HTTP/2 client preface, then an empty SETTINGS frame. */
const H2_HELLO = new Uint8Array([
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  0,
  0,
  0,
  4,
  0,
  0,
  0,
  0,
  0,
]);

/**
 * Opens a connection to `address`, sends the HTTP/2 hello and returns up
 * to `want` bytes of what comes back within 2 s (fewer when the peer
 * closes or is silent); undefined when nothing can be reached.
 */
async function firstBytes(
  address: RemoteAddress,
  want: number,
): Promise<Uint8Array | undefined> {
  let conn: Deno.Conn | undefined;
  let timer: Timer | undefined;
  try {
    conn = await Deno.connect({ hostname: address.host, port: address.port });
    await conn.write(H2_HELLO);
    const head = new Uint8Array(want);
    let filled = 0;
    const reading = (async () => {
      while (filled < head.length) {
        const n = await conn!.read(head.subarray(filled));
        if (n === null) break;
        filled += n;
      }
    })().catch(() => {});
    await Promise.race([
      reading,
      new Promise<void>((resolve) => timer = after(2000, resolve)),
    ]);
    return head.slice(0, filled);
  } catch {
    return undefined;
  } finally {
    timer?.cancel();
    try {
      conn?.close();
    } catch {
      // closed already
    }
  }
}

/**
 * After a failed call to a plain (`blit://`) address: whether the daemon
 * there speaks TLS. Sends the HTTP/2 preface and looks at the first byte
 * back: a TLS record (alert 0x15, handshake 0x16) says so.
 */
export async function speaksTls(address: RemoteAddress): Promise<boolean> {
  const first = await firstBytes(address, 1);
  return first?.length === 1 && (first[0] === 0x15 || first[0] === 0x16);
}

/**
 * Whether something at `address` answers, but not in HTTP/2 (a gRPC server
 * answers the connection preface with a SETTINGS frame; an HTTP/1 server,
 * a database or an SSH server with something else). False when it speaks
 * HTTP/2, or when that can't be told (nothing listening, no answer in
 * 2 s, a connection closed without a byte): then it may be a daemon that
 * is restarting, and retrying is right.
 */
async function answersOtherThanHttp2(
  address: RemoteAddress,
): Promise<boolean> {
  const head = await firstBytes(address, 9);
  if (!head || head.length === 0) return false;
  const isSettings = head.length === 9 && head[3] === 4 && head[5] === 0 &&
    head[6] === 0 && head[7] === 0 && head[8] === 0;
  return !isSettings;
}

/**
 * Turns a failed call into the error to show: like {@linkcode remoteError},
 * but a TLS mismatch or certificate problem is told as such (and not
 * retried).
 */
export async function remoteFailure(
  error: unknown,
  address: RemoteAddress,
): Promise<Error> {
  const where = hostPort(address.host, address.port);
  const mapped = remoteError(error, where);
  // A TLS problem shows in grpc-js as a connection that never came up:
  // Deno's own handshake then says which (an untrusted or wrong-name
  // certificate, or a daemon that does not speak TLS), in one line.
  if (
    address.tls && mapped instanceof RemoteError &&
    mapped.code === grpc.status.UNAVAILABLE
  ) {
    await checkTls(address, where, 5000);
    return mapped;
  }
  if (
    !address.tls && mapped instanceof RemoteError &&
    mapped.code === grpc.status.UNAVAILABLE && await speaksTls(address)
  ) {
    return new TlsError(
      `the daemon at ${where} speaks TLS; use blits://${where}/... (and --tls-ca FILE for a private CA)`,
    );
  }
  // Something else answers there: say so, and don't suggest a retry.
  if (
    !address.tls && mapped instanceof RemoteError &&
    (mapped.code === grpc.status.UNAVAILABLE ||
      mapped.code === grpc.status.INTERNAL) &&
    await answersOtherThanHttp2(address)
  ) {
    return new RemoteError(
      `${where} is not a blit daemon (it does not speak gRPC)`,
      grpc.status.UNAVAILABLE,
      false,
    );
  }
  if (
    mapped instanceof RemoteError && mapped.code === grpc.status.UNIMPLEMENTED
  ) {
    return new RemoteError(
      `${where} is not a blit daemon (or a much older one): it does not know this call`,
      mapped.code,
      false,
    );
  }
  return mapped;
}

type Methods = typeof Blit.method;
type In<M extends keyof Methods> = Methods[M]["input"];
type Out<M extends keyof Methods> = Methods[M]["output"];

/**
 * The daemon's calls, on one connection: the transfers (push, pull), the
 * listing, and the unary calls. Every call carries the module secret,
 * when there is one, as metadata (never in a path, so never in a daemon
 * log or error).
 */
export class BlitRpc {
  readonly #connection: GrpcConnection;
  readonly #metadata: [string, string][];

  /** Use {@linkcode connect}. */
  constructor(connection: GrpcConnection, secret: string | undefined) {
    this.#connection = connection;
    this.#metadata = secret === undefined ? [] : [[SECRET_METADATA, secret]];
  }

  #call<M extends keyof Methods>(
    method: M,
    deadline?: Date,
  ): GrpcCall<In<M>, Out<M>> {
    const m = Blit.method[method];
    return this.#connection.call(
      `/${Blit.typeName}/${m.name}`,
      m.input as In<M>,
      m.output as Out<M>,
      { metadata: this.#metadata, deadline },
    );
  }

  /** A push call (bidirectional). */
  push(): GrpcCall<In<"push">, Out<"push">> {
    return this.#call("push");
  }

  /** A pull call (bidirectional). */
  pull(): GrpcCall<In<"pull">, Out<"pull">> {
    return this.#call("pull");
  }

  /** A listing: `request` sent, the responses to read (`for await`). */
  list(
    request: MessageShape<In<"list">>,
  ): GrpcCall<In<"list">, Out<"list">> {
    const call = this.#call("list");
    call.write(request);
    call.end();
    return call;
  }

  /** A unary call's response (rejects with its `GrpcError`). */
  unary<M extends "purge" | "listModules" | "perfSnapshot" | "uploadPerf">(
    method: M,
    request: MessageShape<In<M>>,
    options: { deadline?: Date } = {},
  ): Promise<MessageShape<Out<M>>> {
    const m = Blit.method[method];
    return unaryCall(
      this.#connection,
      `/${Blit.typeName}/${m.name}`,
      m.input as DescMessage as In<M>,
      m.output as DescMessage as Out<M>,
      request,
      { metadata: this.#metadata, deadline: options.deadline },
    );
  }

  /** Closes the connection once its calls are done. */
  close(): void {
    this.#connection.close();
  }
}

/**
 * Dials the daemon's control plane (TLS for `blits://`) and opens HTTP/2
 * on it.
 *
 * Permissions: net to the daemon.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connect.ts";
 * const client = await connect({ host: "127.0.0.1", port: 50051, module: "m", path: "", trailingSlash: false });
 * client.close();
 * ```
 * @throws {DaemonUnreachableError} when nothing answers within `timeoutMs`;
 * {@linkcode TlsError} when the TLS handshake fails.
 */
export async function connect(
  address: RemoteAddress,
  options: { timeoutMs?: number } = {},
): Promise<BlitRpc> {
  const where = hostPort(address.host, address.port);
  let connection: GrpcConnection;
  try {
    connection = await GrpcConnection.dial({
      host: address.host,
      port: address.port,
      tls: address.tls
        ? {
          caCerts: address.tlsCa === undefined ? undefined : [address.tlsCa],
        }
        : undefined,
      timeoutMs: options.timeoutMs ?? 5000,
    });
  } catch (error) {
    if (error instanceof TlsHandshakeError) {
      throw tlsFailure(error.cause, address, where);
    }
    throw new DaemonUnreachableError(where, reasonOf(error));
  }
  return new BlitRpc(connection, address.secret);
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
  if (error instanceof PeerError) {
    // The daemon's side of the conversation went wrong: ended early (it
    // may be restarting), or broke the protocol (no point retrying).
    return new RemoteError(
      error.ended
        ? error.message.replace(/^the (sender|receiver)/, "the daemon")
        : `the daemon broke the protocol: ${error.message}`,
      error.ended ? grpc.status.UNAVAILABLE : grpc.status.INTERNAL,
      error.ended,
    );
  }
  if (connectionCut(error)) {
    return new RemoteError(
      `lost the data connection to the daemon at ${where} (${
        error.message.replace(/\s*\(os error \d+\)$/, "")
      }); run the same command again to finish`,
      grpc.status.UNAVAILABLE,
      true,
    );
  }
  if (error instanceof IntegrityError) {
    return new RemoteError(
      `${error.message}; run the same command again to resend it`,
      grpc.status.DATA_LOSS,
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
  return statusError(e.code, e.details ?? "", where);
}

/** A gRPC status from the daemon, in the CLI's words. */
function statusError(code: number, details: string, where: string): Error {
  const e = { code };
  switch (code) {
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
        details.startsWith("Transfer idle")
          ? `the daemon at ${where} ended a transfer that moved nothing for too long (${details.toLowerCase()}); run the same command again to finish`
          : `the daemon at ${where} did not answer in time`,
        e.code,
        true,
      );
    case grpc.status.RESOURCE_EXHAUSTED:
      return new RemoteError(details, e.code, false);
    case grpc.status.DATA_LOSS:
      // Corrupted on the way: nothing landed, and a rerun resends it.
      return new RemoteError(
        `${details}; run the same command again to resend it`,
        e.code,
        true,
      );
    case grpc.status.INTERNAL:
    case grpc.status.UNKNOWN:
      // HTTP/2's words for a connection cut mid-call (the daemon stopped
      // or was killed): a lost connection, in ours.
      if (
        details.includes("Stream removed") || details.includes("RST_STREAM")
      ) {
        return new RemoteError(
          `lost connection to the daemon at ${where} mid-transfer (it stopped or was restarted); run the same command again to finish`,
          e.code,
          true,
        );
      }
      return new RemoteError(details || "the daemon failed", e.code, false);
    default:
      return new RemoteError(details, e.code, false);
  }
}
