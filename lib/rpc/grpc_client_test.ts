import { assertEquals } from "../../tests/_assert.ts";
import { create, toBinary } from "./codec.ts";
import { encodeHeaders, HpackDecoder } from "./hpack.ts";
import { GrpcConnection, GrpcError, Status, unaryCall } from "./grpc_client.ts";
import { PurgeRequestSchema, PurgeResponseSchema } from "./service.ts";

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Uint8Array;
}

/** The server's side of one scripted HTTP/2 connection. */
class ServerIo {
  readonly conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  readonly decoder = new HpackDecoder();

  constructor(conn: Deno.Conn) {
    this.conn = conn;
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buffer.length < n) {
      const chunk = new Uint8Array(64 * 1024);
      const got = await this.conn.read(chunk).catch(() => null);
      if (got === null) return false;
      const joined = new Uint8Array(this.#buffer.length + got);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, got), this.#buffer.length);
      this.#buffer = joined;
    }
    return true;
  }

  async preface(): Promise<void> {
    if (!await this.#fill(24)) throw new Error("no preface");
    assertEquals(
      new TextDecoder().decode(this.#buffer.subarray(0, 24)),
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    );
    this.#buffer = this.#buffer.subarray(24);
  }

  /** The client's next frame, or undefined when it closed. */
  async frame(): Promise<Frame | undefined> {
    if (!await this.#fill(9)) return undefined;
    const b = this.#buffer;
    const length = (b[0] << 16) | (b[1] << 8) | b[2];
    if (!await this.#fill(9 + length)) return undefined;
    const c = this.#buffer;
    const frame = {
      type: c[3],
      flags: c[4],
      stream: ((c[5] & 127) << 24) | (c[6] << 16) | (c[7] << 8) | c[8],
      payload: c.slice(9, 9 + length),
    };
    this.#buffer = c.subarray(9 + length);
    return frame;
  }

  /** Frames until one matches `until` (returned last). */
  async frames(until: (f: Frame) => boolean): Promise<Frame[]> {
    const seen: Frame[] = [];
    for (let i = 0; i < 10_000; i++) {
      const f = await this.frame();
      if (!f) throw new Error("the client closed");
      seen.push(f);
      if (until(f)) return seen;
    }
    throw new Error("too many frames");
  }

  async send(
    type: number,
    flags: number,
    stream: number,
    payload: Uint8Array,
    lengthField = payload.length,
  ): Promise<void> {
    const head = new Uint8Array([
      (lengthField >>> 16) & 255,
      (lengthField >>> 8) & 255,
      lengthField & 255,
      type,
      flags,
      (stream >>> 24) & 127,
      (stream >>> 16) & 255,
      (stream >>> 8) & 255,
      stream & 255,
    ]);
    const all = new Uint8Array(9 + payload.length);
    all.set(head);
    all.set(payload, 9);
    for (let at = 0; at < all.length;) {
      at += await this.conn.write(all.subarray(at));
    }
  }

  settings(pairs: [number, number][] = []): Promise<void> {
    const payload = new Uint8Array(6 * pairs.length);
    const view = new DataView(payload.buffer);
    pairs.forEach(([id, value], i) => {
      view.setUint16(6 * i, id);
      view.setUint32(6 * i + 2, value);
    });
    return this.send(4, 0, 0, payload);
  }

  headers(
    stream: number,
    headers: [string, string][],
    end: boolean,
  ): Promise<void> {
    return this.send(1, 4 | (end ? 1 : 0), stream, encodeHeaders(headers));
  }

  message(stream: number, body: Uint8Array): Promise<void> {
    const framed = new Uint8Array(5 + body.length);
    new DataView(framed.buffer).setUint32(1, body.length);
    framed.set(body, 5);
    return this.send(0, 0, stream, framed);
  }
}

const OK_HEADERS: [string, string][] = [
  [":status", "200"],
  ["content-type", "application/grpc"],
];

/** A listener whose first connection is handed to `script`. */
function scripted(
  script: (io: ServerIo) => Promise<void>,
): { port: number; done: Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    // A script waiting on a client that never sends ends, not hangs.
    const watchdog = setTimeout(() => conn.close(), 30_000);
    try {
      await script(new ServerIo(conn));
    } finally {
      clearTimeout(watchdog);
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
  })();
  return { port, done };
}

async function failure(promise: Promise<unknown>): Promise<GrpcError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof GrpcError) return error;
    throw error;
  }
  throw new Error("the call did not fail");
}

const PATH = "/blit.v2.Blit/Purge";

Deno.test("grpc client: a unary call's request, response and trailers; then a trailers-only error, its message percent-decoded", async () => {
  const seen: [string, string][][] = [];
  const server = scripted(async (io) => {
    await io.preface();
    await io.settings();
    for (const stream of [1, 3]) {
      const frames = await io.frames((f) =>
        f.stream === stream && f.type === 0 && (f.flags & 1) !== 0
      );
      const head = frames.find((f) => f.type === 1 && f.stream === stream)!;
      seen.push(io.decoder.decode(head.payload));
      if (stream === 1) {
        await io.headers(1, OK_HEADERS, false);
        await io.message(
          1,
          toBinary(
            PurgeResponseSchema,
            create(PurgeResponseSchema, { filesDeleted: 7n }),
          ),
        );
        await io.headers(1, [["grpc-status", "0"]], true);
      } else {
        await io.headers(3, [
          ...OK_HEADERS,
          ["grpc-status", "5"],
          ["grpc-message", "no%20such%20module%20%C3%A9"],
        ], true);
      }
    }
    await io.frame(); // until the client closes
  });
  const connection = await GrpcConnection.dial({
    host: "127.0.0.1",
    port: server.port,
  });
  const request = create(PurgeRequestSchema, { module: "m", path: "p" });
  const response = await unaryCall(
    connection,
    PATH,
    PurgeRequestSchema,
    PurgeResponseSchema,
    request,
    { metadata: [["blit-secret", "s3"]] },
  );
  assertEquals(response.filesDeleted, 7n);
  const error = await failure(
    unaryCall(
      connection,
      PATH,
      PurgeRequestSchema,
      PurgeResponseSchema,
      request,
    ),
  );
  assertEquals([error.code, error.details], [5, "no such module é"]);
  connection.close();
  await server.done;
  const get = (h: [string, string][], n: string) =>
    h.find(([k]) => k === n)?.[1];
  assertEquals(
    [":method", ":scheme", ":path", "content-type", "te", "blit-secret"].map((
      n,
    ) => get(seen[0], n)),
    ["POST", "http", PATH, "application/grpc", "trailers", "s3"],
  );
  assertEquals(get(seen[1], "blit-secret"), undefined);
});

Deno.test("grpc client: sends no more than the window the server gives, and the rest after its WINDOW_UPDATE", async () => {
  let before = -1;
  let total = 0;
  const server = scripted(async (io) => {
    await io.preface();
    await io.settings([[4, 10]]); // INITIAL_WINDOW_SIZE 10
    // The first call may have gone out before our settings arrived: it is
    // answered at once. The second starts after them.
    await io.frames((f) =>
      f.type === 0 && f.stream === 1 && (f.flags & 1) !== 0
    );
    await io.headers(1, [...OK_HEADERS, ["grpc-status", "0"]], true);
    let data = 0;
    await io.frames((f) => {
      if (f.type === 0 && f.stream === 3) data += f.payload.length;
      return data >= 10;
    });
    // Whatever it sent before answering this ping has arrived by then.
    await io.send(6, 0, 0, new Uint8Array(8));
    await io.frames((f) => {
      if (f.type === 0 && f.stream === 3) data += f.payload.length;
      return f.type === 6 && (f.flags & 1) !== 0;
    });
    before = data;
    await io.send(8, 0, 3, new Uint8Array([0, 0, 16, 0]));
    await io.frames((f) => {
      if (f.type === 0 && f.stream === 3) data += f.payload.length;
      return f.type === 0 && f.stream === 3 && (f.flags & 1) !== 0;
    });
    total = data;
    await io.headers(3, [...OK_HEADERS, ["grpc-status", "0"]], true);
    await io.frame();
  });
  const connection = await GrpcConnection.dial({
    host: "127.0.0.1",
    port: server.port,
  });
  const request = create(PurgeRequestSchema, {
    module: "m",
    path: "x".repeat(200),
  });
  const size = 5 + toBinary(PurgeRequestSchema, request).length;
  for (let i = 0; i < 2; i++) {
    const error = await failure(
      unaryCall(
        connection,
        PATH,
        PurgeRequestSchema,
        PurgeResponseSchema,
        request,
      ),
    );
    // Trailers without a message: no response to give.
    assertEquals(
      [error.code, error.details],
      [Status.INTERNAL, "the daemon sent no response"],
    );
  }
  connection.close();
  await server.done;
  assertEquals([before, total], [10, size]);
});

Deno.test("grpc client: hostile servers fail the call with a status, never a big allocation or a hang", async () => {
  const cases: {
    what: string;
    script: (io: ServerIo) => Promise<void>;
    code: number;
    details: RegExp;
  }[] = [
    {
      what: "a frame of 16 MiB announced",
      script: async (io) => {
        await io.preface();
        await io.settings();
        await io.send(0, 0, 1, new Uint8Array(0), 0xffffff);
        await io.frame();
      },
      code: Status.INTERNAL,
      details: /broke HTTP\/2: a 16777215-byte frame/,
    },
    {
      what: "a message of 9 MiB announced",
      script: async (io) => {
        await io.preface();
        await io.settings();
        await io.headers(1, OK_HEADERS, false);
        const prefix = new Uint8Array(5);
        new DataView(prefix.buffer).setUint32(1, 9 << 20);
        await io.send(0, 0, 1, prefix);
        // The client resets the call.
        await io.frames((f) => f.type === 3 && f.stream === 1);
      },
      code: Status.RESOURCE_EXHAUSTED,
      details: /larger than max \(9437184 vs\. 8388608\)/,
    },
    {
      what: "the connection closed mid-call",
      script: async (io) => {
        await io.preface();
        await io.settings();
        await io.headers(1, OK_HEADERS, false);
      },
      code: Status.UNAVAILABLE,
      details: /closed the connection|connection lost/,
    },
    {
      what: "not HTTP/2 at all (a TLS alert)",
      script: async (io) => {
        await io.conn.write(new Uint8Array([21, 3, 3, 0, 2, 2, 70]));
      },
      code: Status.UNAVAILABLE,
      details: /does not speak HTTP\/2|closed the connection|connection lost/,
    },
    {
      what: "an HTTP error",
      script: async (io) => {
        await io.preface();
        await io.settings();
        await io.headers(1, [[":status", "503"]], true);
        await io.frame();
      },
      code: Status.UNAVAILABLE,
      details: /HTTP 503/,
    },
    {
      what: "a reset",
      script: async (io) => {
        await io.preface();
        await io.settings();
        await io.send(3, 0, 1, new Uint8Array([0, 0, 0, 2]));
        await io.frame();
      },
      code: Status.INTERNAL,
      details: /RST_STREAM with code 2/,
    },
  ];
  for (const c of cases) {
    const server = scripted(c.script);
    const connection = await GrpcConnection.dial({
      host: "127.0.0.1",
      port: server.port,
    });
    const error = await failure(
      unaryCall(
        connection,
        PATH,
        PurgeRequestSchema,
        PurgeResponseSchema,
        create(PurgeRequestSchema, { module: "m" }),
      ),
    );
    connection.close();
    await server.done;
    assertEquals(error.code, c.code, c.what);
    assertEquals(
      c.details.test(error.details),
      true,
      `${c.what}: ${error.details}`,
    );
  }
});
