// The TCP data plane: token-guarded listener (daemon) and dialer (client).
import {
  encodeHello,
  FrameProtocolError,
  helloTokenLength,
} from "./frame_codec.ts";
import { closeQuietly, listenMaybeTls, readExact, writeAll } from "./socket.ts";
import { TokenError, type TokenIssuer, type TokenScope } from "./token.ts";
import { acceptLoop, type Release } from "./accept_loop.ts";
import { hostPort } from "./host_port.ts";
import { RateLimitedLog } from "./rate_log.ts";
import { after, type Timer } from "../timer.ts";

/** The client could not reach the data plane; it falls back to gRPC. */
export class DataPlaneUnreachableError extends Error {
  /** The address dialled, `HOST:PORT`. */
  readonly address: string;
  /** Why it could not be reached. */
  readonly reason: string;
  /** The data plane at `address` could not be reached for `reason`. */
  constructor(address: string, reason: string) {
    super(`Data plane ${address} unreachable (${reason})`);
    this.name = "DataPlaneUnreachableError";
    this.address = address;
    this.reason = reason;
  }
}

/** The data plane refused the connection or a session got none. */
export class DataPlaneRejectedError extends Error {
  /** Why the connection was refused. */
  constructor(message: string) {
    super(message);
    this.name = "DataPlaneRejectedError";
  }
}

/** A transfer waiting for its one data connection. */
export interface DataSession {
  /** The session id the token names. */
  readonly id: string;
  /** The signed one-time token the client presents. */
  readonly token: string;
  /** Resolves with the authenticated connection. */
  readonly connection: Promise<Deno.Conn>;
  /** Drops the session (a later connection with its token is refused). */
  cancel(): void;
}

interface Pending {
  module: string;
  scope: TokenScope;
  resolve: (conn: Deno.Conn) => void;
  reject: (error: Error) => void;
  timer: Timer;
}

/** Options for {@linkcode DataPlaneServer.listen}. */
export interface DataPlaneOptions {
  /** Address to listen on. */
  hostname: string;
  /** 0 = ephemeral. */
  port: number;
  /** Signs and checks the one-time tokens. */
  issuer: TokenIssuer;
  /** Time a new connection has to present its token. Default: 5000 ms. */
  handshakeTimeoutMs?: number;
  /**
   * Where rejected connections are reported: one line per kind of
   * rejection per 10 s. Default: console.error.
   */
  log?: (line: string) => void;
  /** Connections presenting tokens at once. Default: 256. */
  maxConnections?: number;
  /** The same, from one address. Default: 32. */
  maxPerAddress?: number;
  /** PEM certificate chain and key: serve over TLS. Default: plain TCP. */
  tls?: { cert: string; key: string };
}

const ACCEPTED = new Uint8Array([0]);

function remote(conn: Deno.Conn): string {
  const a = conn.remoteAddr as Deno.NetAddr;
  return `${a.hostname}:${a.port}`;
}

/**
 * The daemon's data-plane listener. A connection must present a valid,
 * unused token for a pending session within the handshake timeout; only
 * then is it handed to that session. Anything else is closed without
 * effect and logged once.
 *
 * Permissions: net on `hostname`.
 *
 * @example
 * ```ts
 * import { DataPlaneServer } from "@blit/cli/internals";
 * import { TokenIssuer } from "@blit/cli/internals";
 * const server = DataPlaneServer.listen({ hostname: "127.0.0.1", port: 0, issuer: new TokenIssuer() });
 * if (!(server.port > 0)) throw new Error("example failed");
 * server.close();
 * ```
 */
export class DataPlaneServer {
  readonly #listener: Deno.Listener;
  readonly #issuer: TokenIssuer;
  readonly #timeout: number;
  readonly #log: RateLimitedLog;
  readonly #pending = new Map<string, Pending>();
  readonly #handshakes = new Map<Deno.Conn, Release>();
  #closed = false;

  private constructor(listener: Deno.Listener, options: DataPlaneOptions) {
    this.#listener = listener;
    this.#issuer = options.issuer;
    this.#timeout = options.handshakeTimeoutMs ?? 5000;
    this.#log = new RateLimitedLog(
      options.log ?? ((line) => console.error(line)),
    );
    // Only connections still presenting a token count: an accepted one
    // belongs to a transfer, and transfers are capped by the daemon.
    acceptLoop(
      listener,
      (conn, release) => void this.#handshake(conn, release),
      {
        name: "data plane",
        maxConnections: options.maxConnections,
        maxPerAddress: options.maxPerAddress,
        // Every connection counted here is still presenting its token:
        // all are evictable (the oldest first) when a new one needs room,
        // and none is capped apart (a client opens up to 16 at once).
        maxSilentPerAddress: options.maxPerAddress ?? 32,
        log: this.#log,
      },
    ).catch(() => {});
  }

  /**
   * Starts listening on `hostname:port` (0 = ephemeral).
   *
   * @throws {Deno.errors.AddrInUse} when the port is taken.
   * @throws {RangeError} for a non-positive `handshakeTimeoutMs`.
   */
  static listen(options: DataPlaneOptions): DataPlaneServer {
    checkPositive("handshakeTimeoutMs", options.handshakeTimeoutMs ?? 5000);
    const listener = listenMaybeTls(
      options.hostname,
      options.port,
      options.tls,
    );
    return new DataPlaneServer(listener, options);
  }

  /** The port actually bound (useful after listening on port 0). */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** The address bound. */
  get hostname(): string {
    return (this.#listener.addr as Deno.NetAddr).hostname;
  }

  /**
   * Registers a session expecting exactly one connection and signs its
   * token. `timeoutMs` (default 30000) bounds the wait for that connection;
   * after it `connection` rejects with {@linkcode DataPlaneRejectedError}.
   *
   * @throws {DataPlaneRejectedError} when the server is closed.
   */
  async openSession(
    options: { module: string; scope: TokenScope; timeoutMs?: number },
  ): Promise<DataSession> {
    if (this.#closed) throw new DataPlaneRejectedError("Data plane is closed");
    const id = crypto.randomUUID();
    const token = await this.#issuer.issue({
      sessionId: id,
      module: options.module,
      scope: options.scope,
    });
    const timeoutMs = options.timeoutMs ?? 30_000;
    checkPositive("timeoutMs", timeoutMs);
    let resolve!: (conn: Deno.Conn) => void;
    let reject!: (error: Error) => void;
    const connection = new Promise<Deno.Conn>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    connection.catch(() => {});
    const timer = after(timeoutMs, () => {
      if (this.#pending.delete(id)) {
        reject(
          new DataPlaneRejectedError(
            `No data connection within ${timeoutMs} ms`,
          ),
        );
      }
    });
    this.#pending.set(id, {
      module: options.module,
      scope: options.scope,
      resolve,
      reject,
      timer,
    });
    return {
      id,
      token,
      connection,
      cancel: () => {
        const pending = this.#pending.get(id);
        if (!pending) return;
        this.#pending.delete(id);
        pending.timer.cancel();
        pending.reject(new DataPlaneRejectedError("Data session cancelled"));
      },
    };
  }

  async #handshake(conn: Deno.Conn, release: Release): Promise<void> {
    if (this.#closed) {
      release();
      conn.close();
      return;
    }
    this.#handshakes.set(conn, release);
    const peer = remote(conn);
    const timer = after(this.#timeout, () => {
      this.#reject(conn, peer, `no token within ${this.#timeout} ms`);
    });
    try {
      const prefix = await readExact(conn, 8);
      const length = helloTokenLength(prefix);
      const token = new TextDecoder().decode(await readExact(conn, length));
      const claims = await this.#issuer.verify(token);
      // The handshake timer may have fired while the token was checked;
      // the session must stay open for a retry then.
      if (!this.#handshakes.has(conn)) return;
      const pending = this.#pending.get(claims.sessionId);
      if (!pending) throw new TokenError("Token is for no pending session");
      if (pending.module !== claims.module || pending.scope !== claims.scope) {
        throw new TokenError("Token does not match its session");
      }
      timer.cancel();
      this.#pending.delete(claims.sessionId);
      pending.timer.cancel();
      this.#handshakes.delete(conn);
      release();
      await writeAll(conn, ACCEPTED);
      pending.resolve(conn);
    } catch (error) {
      timer.cancel();
      const reason =
        error instanceof TokenError || error instanceof FrameProtocolError
          ? error.message
          : error instanceof Deno.errors.UnexpectedEof
          ? "closed before presenting a token"
          : message(error);
      this.#reject(conn, peer, reason);
    }
  }

  #reject(conn: Deno.Conn, peer: string, reason: string): void {
    const release = this.#handshakes.get(conn);
    if (!release) return;
    this.#handshakes.delete(conn);
    release();
    try {
      conn.close();
    } catch {
      // already closed
    }
    this.#log.write(
      `rejected:${reason.replace(/[0-9]+/g, "#")}`,
      `blit-daemon: data plane: rejected ${peer} (${reason})`,
    );
  }

  /** Stops listening and fails every pending session. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#listener.close();
    } catch {
      // already closed
    }
    for (const [conn, release] of this.#handshakes) {
      release();
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    this.#handshakes.clear();
    for (const [id, pending] of this.#pending) {
      pending.timer.cancel();
      pending.reject(new DataPlaneRejectedError("Data plane closed"));
      this.#pending.delete(id);
    }
  }
}

function checkPositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${name} must be a positive number, got ${value}`);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function reasonOf(error: unknown, timeoutMs: number): string {
  if (error instanceof Deno.errors.ConnectionRefused) {
    return "connection refused";
  }
  if (error instanceof Deno.errors.TimedOut) {
    return `timed out after ${timeoutMs} ms`;
  }
  if (error instanceof Deno.errors.ConnectionReset) return "connection reset";
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Dials the data plane, presents the token and waits for acceptance.
 *
 * Permissions: net to `hostname:port`.
 *
 * @example
 * ```ts
 * import { dialDataPlane, DataPlaneUnreachableError } from "@blit/cli/internals";
 * try {
 *   await dialDataPlane("127.0.0.1", 1, "t", { timeoutMs: 500 });
 * } catch (e) {
 *   if (!(e instanceof DataPlaneUnreachableError)) throw new Error("example failed");
 * }
 * ```
 * @throws {DataPlaneUnreachableError} when it can't connect in time.
 * @throws {DataPlaneRejectedError} when the daemon closes without accepting.
 */
export async function dialDataPlane(
  hostname: string,
  port: number,
  token: string,
  options: {
    timeoutMs?: number;
    /** Dial over TLS, trusting `ca` (PEM) or else the system roots. */
    tls?: { ca?: string };
  } = {},
): Promise<Deno.Conn> {
  const timeoutMs = options.timeoutMs ?? 3000;
  checkPositive("timeoutMs", timeoutMs);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`port must be an integer 1-65535, got ${port}`);
  }
  const address = hostPort(hostname, port);
  let timer: Timer | undefined;
  const tls = options.tls;
  // No Nagle: a small frame (a delta's copy instructions) must not wait
  // ~40 ms for the peer's delayed ACK. TLS goes over the TCP connection
  // that was set so (a TlsConn can't be).
  const connecting: Promise<Deno.Conn> = Deno.connect({ hostname, port })
    .then(async (tcp) => {
      tcp.setNoDelay(true);
      if (!tls) return tcp;
      const conn = await Deno.startTls(tcp, {
        hostname,
        caCerts: tls.ca === undefined ? undefined : [tls.ca],
      }).catch((error) => {
        tcp.close();
        throw error;
      });
      await conn.handshake().catch((error) => {
        conn.close();
        throw error;
      });
      return conn;
    });
  const timeout = new Promise<never>((_, reject) => {
    timer = after(timeoutMs, () => reject(new Deno.errors.TimedOut()));
  });
  let conn: Deno.Conn;
  try {
    conn = await Promise.race([connecting, timeout]);
  } catch (error) {
    // A connect that completes after the timeout must not leak.
    connecting.then((c) => c.close(), () => {});
    throw new DataPlaneUnreachableError(address, reasonOf(error, timeoutMs));
  } finally {
    timer?.cancel();
  }
  // Something that accepts TCP but never answers (a wrong service, a
  // stuck middlebox) must not hang the transfer: bound the reply too.
  let silent = false;
  const replyTimer = after(timeoutMs, () => {
    silent = true;
    closeQuietly(conn);
  });
  try {
    await writeAll(conn, encodeHello(token));
    const status = await readExact(conn, 1);
    if (status[0] !== 0) {
      throw new DataPlaneRejectedError(
        `Data plane ${address} refused the token`,
      );
    }
    return conn;
  } catch (error) {
    closeQuietly(conn);
    if (silent) {
      throw new DataPlaneUnreachableError(
        address,
        `no reply within ${timeoutMs} ms`,
      );
    }
    if (error instanceof DataPlaneRejectedError) throw error;
    throw new DataPlaneRejectedError(
      `Data plane ${address} closed the connection without accepting the token`,
    );
  } finally {
    replyTimer.cancel();
  }
}
