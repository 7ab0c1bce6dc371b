// An accept loop a flood can't stop: caps, back-off, quiet logs.
import { closeQuietly } from "./socket.ts";
import { RateLimitedLog } from "./rate_log.ts";

/** Options for {@linkcode acceptLoop}. */
export interface AcceptLoopOptions {
  /** What the log lines call this listener, e.g. "data plane". */
  name: string;
  /** Connections held at once; more are closed on arrival. Default: 256. */
  maxConnections?: number;
  /** Connections held at once from one address. Default: 32. */
  maxPerAddress?: number;
  /** Where refusals and accept failures are reported (rate-limited). */
  log?: RateLimitedLog;
  /**
   * Connections over a cap, up to `grace` of them at once, go here instead
   * of being closed unanswered: the caller can tell the client why (and
   * must close them soon). Default: closed at once.
   */
  onExcess?: (conn: Deno.Conn, release: Release) => void;
  /** Excess connections handed to `onExcess` at once. Default: 16. */
  grace?: number;
  /**
   * Connections at once from one address that have not spoken yet (see
   * `handle`'s `spoke`); a new one past this evicts that address's oldest
   * silent one. Default: 8 (at most `maxPerAddress`).
   */
  maxSilentPerAddress?: number;
}

/** Gives a connection's slot back; call it once the connection is closed. */
export type Release = () => void;

const MIN_BACKOFF_MS = 10;
const MAX_BACKOFF_MS = 1000;

/** The remote host of a TCP connection. */
export function remoteHost(conn: Deno.Conn): string {
  const address = conn.remoteAddr as Deno.NetAddr;
  return address.hostname ?? "unknown";
}

/**
 * Accepts connections from `listener` until it closes, handing each to
 * `handle` with a release function and `spoke`, which the handler calls
 * once the peer has said enough to be a real client (a connection that
 * never does is evictable). Over the total or per-address cap the oldest
 * connection that has not spoken (of that address, or of anyone for the
 * total) is closed to make room; when there is none, the new connection
 * is closed at once (our descriptors stay bounded, so the process never
 * runs out of them because of one client). Silent connections are capped
 * per address on their own, so idle sockets can never lock an address's
 * real clients out. When accept itself fails (out of descriptors, say),
 * the loop backs off and tries again instead of going deaf; it logs once
 * per cause per 10 s.
 *
 * Resolves when the listener is closed.
 *
 * Permissions: net (the listener's).
 *
 * @example
 * ```ts
 * import { acceptLoop } from "./accept_loop.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const done = acceptLoop(listener, (conn, release) => { conn.close(); release(); }, { name: "test" });
 * listener.close();
 * await done;
 * ```
 */
export async function acceptLoop(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn, release: Release, spoke: () => void) => void,
  options: AcceptLoopOptions,
): Promise<void> {
  const maxConnections = options.maxConnections ?? 256;
  const maxPerAddress = options.maxPerAddress ?? 32;
  for (
    const [key, value] of [["maxConnections", maxConnections], [
      "maxPerAddress",
      maxPerAddress,
    ]] as const
  ) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${key} must be a positive integer, got ${value}`);
    }
  }
  const log = options.log ?? new RateLimitedLog((line) => console.error(line));
  const grace = options.grace ?? 16;
  const perAddress = new Map<string, number>();
  const maxSilent = Math.min(maxPerAddress, options.maxSilentPerAddress ?? 8);
  // Connections that have not spoken, oldest first, and how many per host.
  const silent = new Map<Deno.Conn, { host: string; evict: () => void }>();
  const silentPer = new Map<string, number>();
  const unsilence = (conn: Deno.Conn) => {
    const entry = silent.get(conn);
    if (!entry) return;
    silent.delete(conn);
    const left = (silentPer.get(entry.host) ?? 1) - 1;
    if (left <= 0) silentPer.delete(entry.host);
    else silentPer.set(entry.host, left);
  };
  /** Closes the oldest silent connection (of `host`, or anyone's). */
  const evictOldest = (host?: string): boolean => {
    for (const [conn, entry] of silent) {
      if (host !== undefined && entry.host !== host) continue;
      unsilence(conn);
      entry.evict();
      return true;
    }
    return false;
  };
  let open = 0;
  let excess = 0;
  let backoff = MIN_BACKOFF_MS;
  for (;;) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
      backoff = MIN_BACKOFF_MS;
      // No Nagle (small frames must not wait on delayed ACKs); a TLS
      // connection has no such switch in Deno.
      if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    } catch (error) {
      if (
        error instanceof Deno.errors.BadResource ||
        error instanceof Deno.errors.Interrupted
      ) return; // closed
      log.write(
        `${options.name}:accept`,
        `blit-daemon: ${options.name}: accept failed (${
          error instanceof Error ? error.message : error
        }); retrying`,
      );
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      continue;
    }
    const host = remoteHost(conn);
    // Room first: an address's silent sockets make way for its new ones.
    if ((silentPer.get(host) ?? 0) >= maxSilent) evictOldest(host);
    if ((perAddress.get(host) ?? 0) >= maxPerAddress) evictOldest(host);
    if (open >= maxConnections) evictOldest();
    const mine = perAddress.get(host) ?? 0;
    if (open >= maxConnections || mine >= maxPerAddress) {
      if (options.onExcess && excess < grace) {
        excess++;
        let done = false;
        const release = () => {
          if (!done) excess--;
          done = true;
        };
        try {
          options.onExcess(conn, release);
        } catch {
          release();
          closeQuietly(conn);
        }
      } else closeQuietly(conn);
      log.write(
        `${options.name}:cap:${open >= maxConnections ? "*" : host}`,
        open >= maxConnections
          ? `blit-daemon: ${options.name}: refusing connections: ${open} open (limits.maxConnections)`
          : `blit-daemon: ${options.name}: refusing connections from ${host}: ${mine} open (limits.maxConnectionsPerClient)`,
      );
      continue;
    }
    open++;
    perAddress.set(host, mine + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      unsilence(conn);
      open--;
      const left = (perAddress.get(host) ?? 1) - 1;
      if (left <= 0) perAddress.delete(host);
      else perAddress.set(host, left);
    };
    silent.set(conn, {
      host,
      evict: () => {
        closeQuietly(conn);
        release();
      },
    });
    silentPer.set(host, (silentPer.get(host) ?? 0) + 1);
    try {
      handle(conn, release, () => unsilence(conn));
    } catch {
      release();
      closeQuietly(conn);
    }
  }
}
