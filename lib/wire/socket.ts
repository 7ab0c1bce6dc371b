// Web Streams over a Deno.Conn, with big reads and full writes.

/**
 * A byte stream read from `conn` in big reads (default 1 MiB buffers).
 * Each chunk is a view of a buffer that is never written again once
 * handed out; a fresh buffer is allocated when the current one is nearly
 * used up.
 *
 * @example
 * ```ts
 * import { connReadable } from "./socket.ts";
 * console.assert(typeof connReadable === "function");
 * ```
 */
export function connReadable(
  conn: Deno.Conn,
  options: { bufferSize?: number } = {},
): ReadableStream<Uint8Array> {
  const size = options.bufferSize ?? 1 << 20;
  if (!Number.isInteger(size) || size < 1024) {
    throw new RangeError(`bufferSize must be an integer >= 1024, got ${size}`);
  }
  let buffer = new Uint8Array(size);
  let used = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (size - used < 64 * 1024) {
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
 * the source upstream stops. Closing half-closes the connection.
 *
 * @example
 * ```ts
 * import { connWritable } from "./socket.ts";
 * console.assert(typeof connWritable === "function");
 * ```
 */
export function connWritable(conn: Deno.Conn): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) {
        offset += await conn.write(chunk.subarray(offset));
      }
    },
    async close() {
      await conn.closeWrite();
    },
  });
}

/**
 * Reads exactly `n` bytes (or throws on EOF / timeout).
 *
 * @example
 * ```ts
 * import { readExact } from "./socket.ts";
 * console.assert(typeof readExact === "function");
 * ```
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

/** Writes all of `data`. */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < data.length) {
    offset += await conn.write(data.subarray(offset));
  }
}
