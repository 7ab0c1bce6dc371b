// The gRPC port's own accept loop: connections are accepted here (capped,
// timed, surviving descriptor exhaustion) and handed to grpc-js.
//
// grpc-js's listener, on Deno's node:net, stops accepting for good after
// accept() fails once with EMFILE; a flood of idle connections then
// leaves the daemon deaf after the attacker is gone. Deno.listen's
// accept reports the error and can simply be called again.
import { listenMaybeTls } from "../wire/socket.ts";
import * as grpc from "../deps/grpc.ts";
import { Duplex } from "node:stream";
import { acceptLoop, type Release } from "../wire/accept_loop.ts";
import type { RateLimitedLog } from "../wire/rate_log.ts";

/** Options for {@linkcode serveControlPlane}. */
export interface ControlPlaneOptions {
  hostname: string;
  /** 0 = ephemeral. */
  port: number;
  /** Connections at once (all clients). */
  maxConnections: number;
  /** Connections at once from one address. */
  maxPerAddress: number;
  /** Milliseconds a new connection has to send its first bytes. */
  handshakeTimeoutMs: number;
  log: RateLimitedLog;
  /**
   * Called with a connection's peer ("HOST:PORT", as grpc-js reports it)
   * when it arrived over a cap and may only be told so; and again with
   * `false` when it has gone.
   */
  onRefusedPeer?: (peer: string, refused: boolean) => void;
  /** PEM certificate chain and key: serve over TLS (HTTP/2 by ALPN). */
  tls?: { cert: string; key: string };
}

/** How long a connection over a cap may stay to hear why. */
const REFUSAL_MS = 2000;

/** A listening control plane. */
export interface ControlPlane {
  /** The port bound. */
  readonly port: number;
  /** Stops accepting (open connections are left to grpc-js to close). */
  close(): void;
}

const READ_SIZE = 256 * 1024;

/**
 * Reads `conn` into `duplex` until it wants no more (then calls `paused`,
 * synchronously) or the connection ends.
 */
async function pump(
  conn: Deno.Conn,
  duplex: Duplex,
  gotBytes: (n: number) => void,
  paused: () => void,
): Promise<void> {
  const buffer = new Uint8Array(READ_SIZE);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) {
        duplex.push(null);
        return;
      }
      gotBytes(n);
      // A copy: the buffer is reused for the next read.
      if (!duplex.push(buffer.slice(0, n))) {
        paused();
        return;
      }
    }
  } catch (error) {
    duplex.destroy(error as Error);
  }
}

/** The chunks as one array. */
function join(chunks: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const chunk of chunks) size += chunk.length;
  const joined = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    joined.set(chunk, offset);
    offset += chunk.length;
  }
  return joined;
}

/**
 * A Node Duplex over a Deno connection, for grpc-js. Closed (and its
 * slot released) when either side ends; destroyed when the peer sends
 * nothing within `handshakeTimeoutMs`.
 */
function connDuplex(
  conn: Deno.Conn,
  release: Release,
  handshakeTimeoutMs: number,
  spoke?: () => void,
): Duplex {
  let reading = false;
  let gotBytes = false;
  // A client's first 24 bytes are HTTP/2's preface: a connection that
  // sent them is a client, one that did not may be evicted for another.
  let heard = 0;
  const got = (n: number) => {
    gotBytes = true;
    if (heard < 24 && (heard += n) >= 24) spoke?.();
  };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // already closed
    }
    release();
  };
  const writeAll = async (data: Uint8Array) => {
    let offset = 0;
    while (offset < data.length) {
      offset += await conn.write(data.subarray(offset));
    }
  };
  const duplex = new Duplex({
    // The peer's end ends us too, so the slot is given back.
    allowHalfOpen: false,
    read() {
      if (reading) return;
      reading = true;
      // `paused` runs synchronously as the pump stops for backpressure, so
      // a read request that follows at once starts a new pump.
      pump(conn, duplex, got, () => reading = false);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(chunk).then(() => callback(), (error) => callback(error));
    },
    writev(chunks, callback) {
      // HTTP/2 writes many small frames: one syscall for the lot.
      writeAll(join(chunks.map((c) => c.chunk as Uint8Array))).then(
        () => callback(),
        (error) => callback(error),
      );
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), () => callback());
    },
    destroy(error, callback) {
      close();
      callback(error);
    },
  });
  duplex.on("close", close);
  duplex.on("error", () => {});
  const address = conn.remoteAddr as Deno.NetAddr;
  // grpc-js reads these for call.getPeer().
  Object.assign(duplex, {
    remoteAddress: address.hostname,
    remotePort: address.port,
    // grpc-js asks for no Nagle delay: small HTTP/2 frames (window
    // updates, acks) must not wait for the peer's delayed ACK.
    setNoDelay(noDelay = true) {
      try {
        (conn as Deno.TcpConn).setNoDelay(noDelay);
      } catch {
        // closed already
      }
    },
    setKeepAlive() {},
    setTimeout() {},
  });
  const timer = setTimeout(() => {
    if (!gotBytes) duplex.destroy();
  }, handshakeTimeoutMs);
  return duplex;
}

/**
 * Listens on `hostname:port` and feeds accepted connections to `server`.
 *
 * Permissions: net on `hostname`.
 *
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 */
export function serveControlPlane(
  server: grpc.Server,
  options: ControlPlaneOptions,
): ControlPlane {
  // TLS ends here, in Deno; grpc-js sees the plain HTTP/2 inside.
  const listener = listenMaybeTls(
    options.hostname,
    options.port,
    options.tls,
    ["h2"],
  );
  const injector = server.createConnectionInjector(
    grpc.ServerCredentials.createInsecure(),
  );
  const inject = (
    conn: Deno.Conn,
    release: Release,
    timeoutMs: number,
    spoke?: () => void,
  ) => {
    try {
      (conn as Deno.TcpConn).setNoDelay(true);
    } catch {
      // not a TCP connection option here
    }
    const duplex = connDuplex(conn, release, timeoutMs, spoke);
    injector.injectConnection(duplex);
    return duplex;
  };
  acceptLoop(
    listener,
    (conn, release, spoke) =>
      void inject(conn, release, options.handshakeTimeoutMs, spoke),
    {
      name: "control plane",
      maxConnections: options.maxConnections,
      maxPerAddress: options.maxPerAddress,
      log: options.log,
      // Over a cap: served just long enough for every call on it to be
      // answered RESOURCE_EXHAUSTED, then closed.
      onExcess: options.onRefusedPeer && ((conn, release) => {
        const address = conn.remoteAddr as Deno.NetAddr;
        const peer = `${address.hostname}:${address.port}`;
        options.onRefusedPeer?.(peer, true);
        const duplex = inject(conn, () => {
          release();
          options.onRefusedPeer?.(peer, false);
        }, REFUSAL_MS);
        setTimeout(() => duplex.destroy(), REFUSAL_MS);
      }),
    },
  ).catch(() => {});
  let closed = false;
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch {
        // already closed
      }
      injector.destroy();
    },
  };
}
