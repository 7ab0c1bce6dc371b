// Web Streams over a Deno.Conn, with big reads and full writes.

/** Options for {@linkcode connReadable}. */
export interface ConnReadableOptions {
  /** Size of each read buffer, >= 1024. Default: 1 MiB. */
  bufferSize?: number;
}

/**
 * A byte stream read from `conn` in big reads (default 1 MiB buffers).
 * Each chunk is a view of a buffer that is never written again once
 * handed out; a fresh buffer is allocated when the current one is nearly
 * used up. Cancelling the stream closes `conn` (Deno has no read-only
 * shutdown), so cancel only when the whole connection is done with.
 *
 * Permissions: net (an open connection).
 *
 * @example
 * ```ts
 * import { connReadable, connWritable } from "@blit/cli/internals";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = await accepted;
 * await ReadableStream.from([new Uint8Array([1, 2])]).pipeTo(connWritable(client));
 * const chunks = await Array.fromAsync(connReadable(server));
 * if (!(chunks.length === 1 && chunks[0][1] === 2)) throw new Error("example failed");
 * client.close();
 * server.close();
 * listener.close();
 * ```
 * @throws {RangeError} when `bufferSize` is not an integer >= 1024.
 */
export function connReadable(
  conn: Deno.Conn,
  options: ConnReadableOptions = {},
): ReadableStream<Uint8Array> {
  const size = options.bufferSize ?? 1 << 20;
  if (!Number.isInteger(size) || size < 1024) {
    throw new RangeError(`bufferSize must be an integer >= 1024, got ${size}`);
  }
  // Reading into a small leftover would turn one big read into many
  // small chunks; past this point a fresh buffer is cheaper.
  const minRoom = Math.min(64 * 1024, size >> 2);
  let buffer = new Uint8Array(size);
  let used = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (size - used < minRoom) {
        buffer = new Uint8Array(size);
        used = 0;
      }
      const n = await conn.read(buffer.subarray(used));
      if (n === null) {
        controller.close();
        return;
      }
      controller.enqueue(buffer.subarray(used, used + n));
      used += n;
    },
    cancel() {
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  }, { highWaterMark: 2 });
}

/**
 * Writes every chunk fully to `conn`; a write error errors the stream so
 * the source upstream stops. Closing half-closes the connection (the peer
 * reads EOF); aborting closes it outright so the peer sees a cut, not a
 * clean end.
 *
 * Permissions: net (an open connection).
 *
 * @example
 * ```ts
 * import { connWritable, readExact } from "./socket.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = await accepted;
 * await ReadableStream.from([new Uint8Array([7])]).pipeTo(connWritable(client));
 * if (!((await readExact(server, 1))[0] === 7)) throw new Error("example failed");
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export function connWritable(conn: Deno.Conn): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await writeAll(conn, chunk);
    },
    async close() {
      await conn.closeWrite();
    },
    abort() {
      try {
        conn.close();
      } catch {
        // already closed
      }
    },
  });
}

/**
 * Reads exactly `n` bytes from `conn`.
 *
 * @example
 * ```ts
 * import { readExact, writeAll } from "./socket.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = await accepted;
 * await writeAll(client, new Uint8Array([1, 2, 3]));
 * if (!((await readExact(server, 3)).length === 3)) throw new Error("example failed");
 * client.close();
 * server.close();
 * listener.close();
 * ```
 * @throws {Deno.errors.UnexpectedEof} when the peer closes first.
 */
export async function readExact(
  conn: Deno.Conn,
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) {
      throw new Deno.errors.UnexpectedEof(
        `Connection closed after ${got} of ${n} bytes`,
      );
    }
    got += r;
  }
  return out;
}

/**
 * Writes all of `data` to `conn` (one `write` may take only part of it).
 *
 * @example
 * ```ts
 * import { readExact, writeAll } from "./socket.ts";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const accepted = listener.accept();
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = await accepted;
 * const [, got] = await Promise.all([
 *   writeAll(client, new Uint8Array(100_000)),
 *   readExact(server, 100_000),
 * ]);
 * if (!(got.length === 100_000)) throw new Error("example failed");
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export async function writeAll(
  conn: { write(bytes: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await conn.write(data.subarray(offset));
  }
}

/**
 * Listens on `hostname:port`, over TLS when `tls` (PEM certificate chain
 * and key) is given; `alpn` names the protocols TLS offers.
 *
 * Permissions: net on `hostname`.
 *
 * @example
 * ```ts
 * import { listenMaybeTls } from "./socket.ts";
 * const l = listenMaybeTls("127.0.0.1", 0);
 * l.close();
 * ```
 * @throws {Deno.errors.AddrInUse} when the port is taken.
 */
export function listenMaybeTls(
  hostname: string,
  port: number,
  tls?: { cert: string; key: string },
  alpn?: string[],
): Deno.Listener {
  return tls
    ? Deno.listenTls({
      hostname,
      port,
      cert: tls.cert,
      key: tls.key,
      ...(alpn ? { alpnProtocols: alpn } : {}),
    })
    : Deno.listen({ hostname, port });
}

/** Closes `conn` (or nothing), ignoring one already closed. */
export function closeQuietly(conn: Deno.Conn | undefined): void {
  try {
    conn?.close();
  } catch {
    // already closed
  }
}
