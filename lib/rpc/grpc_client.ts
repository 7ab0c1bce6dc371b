// blit's own gRPC client: HTTP/2 over one Deno connection (TCP or TLS),
// the calls blit makes (unary, server streaming, bidirectional), flow
// control both ways and gRPC's status in trailers. It replaces grpc-js on
// the client: loading grpc-js and Deno's node:http2/tls/net behind it
// cost every `blit` command ~80 ms before its first byte, and the daemon
// never needed more than this from a client.
import {
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "./codec.ts";
import { encodeHeaders, HpackDecoder } from "./hpack.ts";
import { after, type Timer } from "../timer.ts";

/** gRPC status codes. */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A call's failure: its gRPC status code and the peer's message. */
export class GrpcError extends Error {
  readonly code: number;
  readonly details: string;
  constructor(code: number, details: string) {
    super(`${code} ${details}`);
    this.name = "GrpcError";
    this.code = code;
    this.details = details;
  }
}

// HTTP/2 frame types and flags (RFC 9113).
const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PUSH_PROMISE = 5;
const PING = 6;
const GOAWAY = 7;
const WINDOW_UPDATE = 8;
const CONTINUATION = 9;
const END_STREAM = 1;
const ACK = 1;
const END_HEADERS = 4;
const PADDED = 8;
const PRIORITY_FLAG = 0x20;
const CANCEL = 8;

/** Our receive window, per stream and for the connection. */
const STREAM_WINDOW = 8 << 20;
const CONNECTION_WINDOW = 16 << 20;
/** The largest frame we accept (our SETTINGS_MAX_FRAME_SIZE). */
const MAX_FRAME = 1 << 20;
/** A call's unsent bytes above which `write` says to wait for "drain". */
const HIGH_WATER = 1 << 20;

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

type Listener = (...args: never[]) => void;

/** The few events a call has, Node-style (the shape the transfer code reads). */
class Events {
  readonly #listeners = new Map<string, { fn: Listener; once: boolean }[]>();

  on(event: string, fn: Listener): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once: false });
    this.#listeners.set(event, list);
    return this;
  }

  once(event: string, fn: Listener): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn, once: true });
    this.#listeners.set(event, list);
    return this;
  }

  off(event: string, fn: Listener): this {
    const list = this.#listeners.get(event);
    if (!list) return this;
    const i = list.findIndex((l) => l.fn === fn);
    if (i >= 0) list.splice(i, 1);
    return this;
  }

  protected emit(event: string, ...args: unknown[]): void {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) return;
    for (const l of [...list]) {
      if (l.once) this.off(event, l.fn);
      (l.fn as (...a: unknown[]) => void)(...args);
    }
  }
}

function frameHeader(
  length: number,
  type: number,
  flags: number,
  stream: number,
): Uint8Array {
  return new Uint8Array([
    (length >>> 16) & 255,
    (length >>> 8) & 255,
    length & 255,
    type,
    flags,
    (stream >>> 24) & 127,
    (stream >>> 16) & 255,
    (stream >>> 8) & 255,
    stream & 255,
  ]);
}

function u32(value: number): Uint8Array {
  return new Uint8Array([
    (value >>> 24) & 255,
    (value >>> 16) & 255,
    (value >>> 8) & 255,
    value & 255,
  ]);
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3]) >>> 0;
}

/** gRPC's code for a non-200 HTTP answer (the gRPC HTTP/2 spec's table). */
function httpStatusCode(status: number): number {
  switch (status) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

function percentDecoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** A connection the client dials: TCP, or TLS with h2 by ALPN. */
export interface DialOptions {
  host: string;
  port: number;
  /** TLS, trusting `caCerts` (PEM) besides the system's roots. */
  tls?: { caCerts?: string[] };
  /** Give up dialling (and the TLS handshake) after this long. */
  timeoutMs?: number;
}

/** The TLS handshake failed (`cause`: Deno's error). */
export class TlsHandshakeError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "TlsHandshakeError";
  }
}

/** An outgoing piece of a call's data, with what to do once it is written. */
interface Pending {
  bytes: Uint8Array;
  offset: number;
  written?: () => void;
}

/**
 * One HTTP/2 connection to a gRPC server, carrying any number of calls.
 *
 * @example
 * ```ts ignore
 * import { GrpcConnection } from "./grpc_client.ts";
 * const connection = await GrpcConnection.dial({ host: "127.0.0.1", port: 50051 });
 * connection.close();
 * ```
 */
export class GrpcConnection {
  readonly #conn: Deno.Conn;
  readonly #authority: string;
  readonly #scheme: string;
  readonly #decoder = new HpackDecoder();
  readonly #calls = new Map<number, GrpcCall<DescMessage, DescMessage>>();
  #nextId = 1;
  #sendWindow = 65535;
  #peerInitialWindow = 65535;
  #peerMaxFrame = 16384;
  #receivedUncredited = 0;
  readonly #out: Uint8Array[] = [];
  #queued = 0;
  #written = 0;
  readonly #afterWrite: { at: number; fn: () => void }[] = [];
  #pumping = false;
  #failure: GrpcError | undefined;
  #closing = false;
  /** The highest call the server said it will process (GOAWAY). */
  #lastAccepted = Infinity;
  /** A header block split over CONTINUATION frames, being collected. */
  #continuing:
    | { stream: number; flags: number; parts: Uint8Array[]; size: number }
    | undefined;

  private constructor(conn: Deno.Conn, authority: string, scheme: string) {
    this.#conn = conn;
    this.#authority = authority;
    this.#scheme = scheme;
    this.#frame(
      SETTINGS,
      0,
      0,
      new Uint8Array([
        ...[0, 2, ...u32(0)], // ENABLE_PUSH off
        ...[0, 4, ...u32(STREAM_WINDOW)], // INITIAL_WINDOW_SIZE
        ...[0, 5, ...u32(MAX_FRAME)], // MAX_FRAME_SIZE
      ]),
      PREFACE,
    );
    this.#frame(WINDOW_UPDATE, 0, 0, u32(CONNECTION_WINDOW - 65535));
    this.#readLoop();
  }

  /**
   * Dials `options.host:port` and opens HTTP/2 on it (the preface and our
   * settings go out at once; calls need not wait for the server's).
   *
   * @throws whatever Deno's connect or TLS handshake throws, or
   * `Deno.errors.TimedOut` after `timeoutMs`.
   */
  static async dial(options: DialOptions): Promise<GrpcConnection> {
    const timeoutMs = options.timeoutMs ?? 5000;
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = after(
        timeoutMs,
        () => reject(new Deno.errors.TimedOut("timed out")),
      );
    });
    let conn: Deno.Conn | undefined;
    let abandoned = false;
    try {
      const connecting = Deno.connect({
        hostname: options.host,
        port: options.port,
      });
      // A connection that comes up after the timeout is closed.
      connecting.then((c) => {
        if (abandoned) c.close();
      }, () => {});
      const tcp = await Promise.race([connecting, timeout]);
      tcp.setNoDelay(true);
      conn = tcp;
      if (options.tls) {
        try {
          const tls = await Deno.startTls(tcp, {
            hostname: options.host,
            caCerts: options.tls.caCerts,
            alpnProtocols: ["h2"],
          });
          conn = tls;
          await Promise.race([tls.handshake(), timeout]);
        } catch (error) {
          throw new TlsHandshakeError(error);
        }
      }
    } catch (error) {
      abandoned = true;
      try {
        conn?.close();
      } catch {
        // closed already
      }
      throw error;
    } finally {
      timer?.cancel();
    }
    const host = options.host.includes(":")
      ? `[${options.host}]`
      : options.host;
    return new GrpcConnection(
      conn!,
      `${host}:${options.port}`,
      options.tls ? "https" : "http",
    );
  }

  /** The connection failed or was closed: why, else undefined. */
  get failure(): GrpcError | undefined {
    return this.#failure;
  }

  /**
   * Starts a call of `path` (`/package.Service/Method`); its requests are
   * `input` messages, its responses `output` ones.
   */
  call<I extends DescMessage, O extends DescMessage>(
    path: string,
    input: I,
    output: O,
    options: { metadata?: [string, string][]; deadline?: Date } = {},
  ): GrpcCall<I, O> {
    const id = this.#nextId;
    this.#nextId += 2;
    const call = new GrpcCall<I, O>(this, id, input, output);
    if (this.#failure || this.#closing || id > this.#lastAccepted) {
      const why = this.#failure ??
        new GrpcError(Status.UNAVAILABLE, "the connection is closing");
      queueMicrotask(() => call.abort(why, false));
      return call;
    }
    this.#calls.set(id, call as unknown as GrpcCall<DescMessage, DescMessage>);
    const headers: [string, string][] = [
      [":method", "POST"],
      [":scheme", this.#scheme],
      [":path", path],
      [":authority", this.#authority],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["user-agent", "blit"],
    ];
    if (options.deadline) {
      const ms = Math.max(
        1,
        Math.ceil(options.deadline.getTime() - Date.now()),
      );
      headers.push(["grpc-timeout", `${ms}m`]);
      call.deadline(ms);
    }
    for (const [name, value] of options.metadata ?? []) {
      headers.push([name.toLowerCase(), value]);
    }
    this.#headers(id, encodeHeaders(headers));
    return call;
  }

  /**
   * Closes the connection once its calls are done (at once when there are
   * none); new calls fail.
   */
  close(): void {
    this.#closing = true;
    if (this.#calls.size === 0) {
      this.#fail(new GrpcError(Status.CANCELLED, "the client closed"));
    }
  }

  // -- sending ------------------------------------------------------------

  #frame(
    type: number,
    flags: number,
    stream: number,
    payload: Uint8Array,
    before?: Uint8Array,
    written?: () => void,
  ): void {
    if (this.#failure) return;
    if (before) this.#push(before);
    this.#push(frameHeader(payload.length, type, flags, stream));
    if (payload.length > 0) this.#push(payload);
    if (written) this.#afterWrite.push({ at: this.#queued, fn: written });
    this.#pump();
  }

  #push(bytes: Uint8Array): void {
    this.#out.push(bytes);
    this.#queued += bytes.length;
  }

  #headers(stream: number, block: Uint8Array): void {
    let offset = 0;
    let type = HEADERS;
    do {
      const piece = block.subarray(offset, offset + this.#peerMaxFrame);
      offset += piece.length;
      const last = offset >= block.length;
      this.#frame(type, last ? END_HEADERS : 0, stream, piece);
      type = CONTINUATION;
    } while (offset < block.length);
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#out.length > 0 && !this.#failure) {
        let size = 0;
        let count = 0;
        while (
          count < this.#out.length &&
          (count === 0 || size + this.#out[count].length <= 1 << 20)
        ) size += this.#out[count++].length;
        let bytes: Uint8Array;
        if (count === 1) bytes = this.#out[0];
        else {
          bytes = new Uint8Array(size);
          let at = 0;
          for (let i = 0; i < count; i++) {
            bytes.set(this.#out[i], at);
            at += this.#out[i].length;
          }
        }
        this.#out.splice(0, count);
        for (let at = 0; at < bytes.length;) {
          at += await this.#conn.write(bytes.subarray(at));
        }
        this.#written += size;
        while (
          this.#afterWrite.length > 0 && this.#afterWrite[0].at <= this.#written
        ) this.#afterWrite.shift()!.fn();
      }
    } catch (error) {
      this.#fail(
        new GrpcError(Status.UNAVAILABLE, `connection lost (${reason(error)})`),
      );
    } finally {
      this.#pumping = false;
    }
  }

  /** Moves calls' pending data into DATA frames as far as windows allow. */
  flush(call: GrpcCall<DescMessage, DescMessage>): void {
    if (this.#failure) return;
    const pending = call.pending;
    while (pending.length > 0) {
      const head = pending[0];
      const left = head.bytes.length - head.offset;
      const n = Math.min(
        left,
        this.#peerMaxFrame,
        this.#sendWindow,
        call.sendWindow,
      );
      if (n <= 0 && left > 0) return;
      const piece = head.bytes.subarray(head.offset, head.offset + n);
      head.offset += n;
      this.#sendWindow -= n;
      call.sendWindow -= n;
      const done = head.offset >= head.bytes.length;
      if (done) pending.shift();
      const ending = done && pending.length === 0 && call.ending &&
        !call.endSent;
      if (ending) call.endSent = true;
      this.#frame(
        DATA,
        ending ? END_STREAM : 0,
        call.id,
        piece,
        undefined,
        done ? head.written : undefined,
      );
    }
    if (call.ending && !call.endSent) {
      call.endSent = true;
      this.#frame(DATA, END_STREAM, call.id, new Uint8Array(0));
    }
  }

  /** Gives back `n` bytes of receive window (the call consumed them). */
  credit(
    call: GrpcCall<DescMessage, DescMessage> | undefined,
    n: number,
  ): void {
    if (n <= 0 || this.#failure) return;
    this.#receivedUncredited += n;
    if (this.#receivedUncredited >= CONNECTION_WINDOW / 4) {
      this.#frame(WINDOW_UPDATE, 0, 0, u32(this.#receivedUncredited));
      this.#receivedUncredited = 0;
    }
    if (call && !call.remoteEnded) {
      call.uncredited += n;
      if (call.uncredited >= STREAM_WINDOW / 4) {
        this.#frame(WINDOW_UPDATE, 0, call.id, u32(call.uncredited));
        call.uncredited = 0;
      }
    }
  }

  /** Tells the server to drop call `id` (RST_STREAM CANCEL). */
  reset(id: number): void {
    this.#frame(RST_STREAM, 0, id, u32(CANCEL));
  }

  /** Call `id` is finished on both sides. */
  forget(id: number): void {
    this.#calls.delete(id);
    if (this.#closing && this.#calls.size === 0) {
      // Let what is queued (a last RST_STREAM) go out first.
      const at = this.#queued;
      if (this.#written >= at) {
        this.#fail(new GrpcError(Status.CANCELLED, "the client closed"));
      } else {
        this.#afterWrite.push({
          at,
          fn: () =>
            this.#fail(new GrpcError(Status.CANCELLED, "the client closed")),
        });
      }
    }
  }

  #fail(error: GrpcError): void {
    if (this.#failure) return;
    this.#failure = error;
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
    for (const call of [...this.#calls.values()]) call.abort(error, false);
    this.#calls.clear();
    this.#out.length = 0;
    this.#afterWrite.length = 0;
  }

  #protocolError(what: string): void {
    this.#fail(
      new GrpcError(Status.INTERNAL, `the daemon broke HTTP/2: ${what}`),
    );
  }

  // -- receiving ----------------------------------------------------------

  async #readLoop(): Promise<void> {
    let buffer = new Uint8Array(256 * 1024);
    let start = 0;
    let end = 0;
    try {
      let prefaceSeen = false;
      for (;;) {
        while (end - start >= 9 && !this.#failure) {
          const length = (buffer[start] << 16) | (buffer[start + 1] << 8) |
            buffer[start + 2];
          if (
            !prefaceSeen && (length > 4096 || buffer[start + 3] !== SETTINGS)
          ) {
            // Not an HTTP/2 server (a TLS one, say): nothing to retry here.
            return this.#fail(
              new GrpcError(
                Status.UNAVAILABLE,
                "the daemon does not speak HTTP/2",
              ),
            );
          }
          if (length > MAX_FRAME) {
            return this.#protocolError(`a ${length}-byte frame`);
          }
          if (end - start < 9 + length) {
            if (buffer.length < 9 + length) {
              const bigger = new Uint8Array(9 + length + 64 * 1024);
              bigger.set(buffer.subarray(start, end));
              buffer = bigger;
              end -= start;
              start = 0;
            }
            break;
          }
          const type = buffer[start + 3];
          prefaceSeen = true;
          const flags = buffer[start + 4];
          const stream = readU32(buffer, start + 5) & 0x7fffffff;
          this.#onFrame(
            type,
            flags,
            stream,
            buffer.subarray(start + 9, start + 9 + length),
          );
          start += 9 + length;
        }
        if (this.#failure) return;
        if (start === end) start = end = 0;
        else if (buffer.length - end < 16 * 1024) {
          buffer.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        const n = await this.#conn.read(buffer.subarray(end));
        if (n === null) {
          return this.#fail(
            new GrpcError(
              Status.UNAVAILABLE,
              "the daemon closed the connection",
            ),
          );
        }
        end += n;
      }
    } catch (error) {
      this.#fail(
        new GrpcError(Status.UNAVAILABLE, `connection lost (${reason(error)})`),
      );
    }
  }

  #onFrame(
    type: number,
    flags: number,
    stream: number,
    payload: Uint8Array,
  ): void {
    if (this.#continuing && type !== CONTINUATION) {
      return this.#protocolError("a header block interrupted");
    }
    switch (type) {
      case DATA: {
        const call = this.#calls.get(stream);
        const body = this.#unpad(flags, payload);
        if (body === undefined) return;
        if (!call) {
          // A call we already finished: its window goes back at once.
          this.credit(undefined, payload.length);
          return;
        }
        // Padding is consumed at once; the body when it is delivered.
        this.credit(call, payload.length - body.length);
        call.received(body, (flags & END_STREAM) !== 0);
        return;
      }
      case HEADERS: {
        let block = this.#unpad(flags, payload);
        if (block === undefined) return;
        if (flags & PRIORITY_FLAG) block = block.subarray(5);
        if (flags & END_HEADERS) {
          return this.#onHeaderBlock(stream, flags, block);
        }
        this.#continuing = {
          stream,
          flags,
          parts: [block.slice()],
          size: block.length,
        };
        return;
      }
      case CONTINUATION: {
        const c = this.#continuing;
        if (!c || c.stream !== stream) {
          return this.#protocolError("an unexpected CONTINUATION");
        }
        c.parts.push(payload.slice());
        c.size += payload.length;
        if (c.size > 256 * 1024) {
          return this.#protocolError("a header block over 256 KiB");
        }
        if ((flags & END_HEADERS) === 0) return;
        this.#continuing = undefined;
        const block = new Uint8Array(c.size);
        let at = 0;
        for (const part of c.parts) {
          block.set(part, at);
          at += part.length;
        }
        return this.#onHeaderBlock(stream, c.flags, block);
      }
      case RST_STREAM:
        if (payload.length !== 4) return this.#protocolError("RST_STREAM size");
        this.#calls.get(stream)?.resetByPeer(readU32(payload, 0));
        return;
      case SETTINGS:
        if (flags & ACK) return;
        if (payload.length % 6 !== 0) {
          return this.#protocolError("SETTINGS size");
        }
        for (let at = 0; at < payload.length; at += 6) {
          const id = (payload[at] << 8) | payload[at + 1];
          const value = readU32(payload, at + 2);
          if (id === 4) {
            if (value > 0x7fffffff) {
              return this.#protocolError("INITIAL_WINDOW_SIZE");
            }
            const delta = value - this.#peerInitialWindow;
            this.#peerInitialWindow = value;
            for (const call of this.#calls.values()) call.sendWindow += delta;
          } else if (id === 5) {
            if (value < 16384 || value > 16777215) {
              return this.#protocolError("MAX_FRAME_SIZE");
            }
            this.#peerMaxFrame = value;
          }
        }
        this.#frame(SETTINGS, ACK, 0, new Uint8Array(0));
        for (const call of this.#calls.values()) this.flush(call);
        return;
      case PUSH_PROMISE:
        return this.#protocolError("PUSH_PROMISE");
      case PING:
        if (payload.length !== 8) return this.#protocolError("PING size");
        if ((flags & ACK) === 0) this.#frame(PING, ACK, 0, payload.slice());
        return;
      case GOAWAY: {
        if (payload.length < 8) return this.#protocolError("GOAWAY size");
        this.#lastAccepted = readU32(payload, 0) & 0x7fffffff;
        const dropped = new GrpcError(
          Status.UNAVAILABLE,
          "the daemon is closing the connection",
        );
        for (const [id, call] of [...this.#calls]) {
          if (id > this.#lastAccepted) call.abort(dropped, false);
        }
        this.#closing = true;
        if (this.#calls.size === 0) this.#fail(dropped);
        return;
      }
      case WINDOW_UPDATE: {
        if (payload.length !== 4) {
          return this.#protocolError("WINDOW_UPDATE size");
        }
        const increment = readU32(payload, 0) & 0x7fffffff;
        if (stream === 0) {
          this.#sendWindow += increment;
          for (const call of this.#calls.values()) this.flush(call);
        } else {
          const call = this.#calls.get(stream);
          if (call) {
            call.sendWindow += increment;
            this.flush(call);
          }
        }
        return;
      }
      default:
        return; // PRIORITY, and types we don't know, are ignored
    }
  }

  #unpad(flags: number, payload: Uint8Array): Uint8Array | undefined {
    if ((flags & PADDED) === 0) return payload;
    const pad = payload[0] ?? 0;
    if (payload.length < 1 + pad) {
      this.#protocolError("padding longer than the frame");
      return undefined;
    }
    return payload.subarray(1, payload.length - pad);
  }

  #onHeaderBlock(stream: number, flags: number, block: Uint8Array): void {
    let headers: [string, string][];
    try {
      // Every block is decoded, a finished call's too: the table is shared.
      headers = this.#decoder.decode(block);
    } catch (error) {
      return this.#protocolError(reason(error));
    }
    this.#calls.get(stream)?.headers(headers, (flags & END_STREAM) !== 0);
  }

  /** The peer's window for a new call. */
  get initialWindow(): number {
    return this.#peerInitialWindow;
  }
}

function reason(error: unknown): string {
  if (error instanceof Error) {
    return error.message.replace(/\s*\(os error \d+\)$/, "").toLowerCase();
  }
  return String(error);
}

/**
 * One call: write requests, read responses ("data" events, or `for
 * await`), then "end" (status OK) or "error" (a {@linkcode GrpcError}),
 * then "close". `write` returns false when the caller should wait for
 * "drain"; its callback runs when the message reached the connection.
 */
export class GrpcCall<I extends DescMessage, O extends DescMessage>
  extends Events {
  readonly id: number;
  readonly #connection: GrpcConnection;
  readonly #input: I;
  readonly #output: O;
  /** Outgoing bytes waiting for the peer's window. */
  readonly pending: Pending[] = [];
  sendWindow: number;
  /** Received bytes not yet given back to the peer's window. */
  uncredited = 0;
  ending = false;
  endSent = false;
  remoteEnded = false;
  #buffered = 0;
  #responded = false;
  #done = false;
  #paused = false;
  /** Messages received while paused. */
  readonly #queue: MessageShape<O>[] = [];
  /** The message being assembled from DATA frames. */
  #head = new Uint8Array(5);
  #headFill = 0;
  #body: Uint8Array | undefined;
  #bodyFill = 0;
  #timer: Timer | undefined;

  /** Use {@linkcode GrpcConnection.call}. */
  constructor(connection: GrpcConnection, id: number, input: I, output: O) {
    super();
    this.#connection = connection;
    this.id = id;
    this.#input = input;
    this.#output = output;
    this.sendWindow = connection.initialWindow;
  }

  /** Sends one request message. */
  write(
    message: MessageShape<I>,
    callback?: (error?: Error | null) => void,
  ): boolean {
    if (this.#done || this.ending) {
      const error = new GrpcError(Status.CANCELLED, "the call has ended");
      if (callback) queueMicrotask(() => callback(error));
      return true;
    }
    const body = toBinary(this.#input, message);
    if (body.length > MAX_MESSAGE) {
      this.abort(
        new GrpcError(
          Status.RESOURCE_EXHAUSTED,
          `a request of ${body.length} bytes is over the ${MAX_MESSAGE}-byte limit`,
        ),
        true,
      );
      return true;
    }
    const framed = new Uint8Array(5 + body.length);
    framed[1] = (body.length >>> 24) & 255;
    framed[2] = (body.length >>> 16) & 255;
    framed[3] = (body.length >>> 8) & 255;
    framed[4] = body.length & 255;
    framed.set(body, 5);
    this.#buffered += framed.length;
    this.pending.push({
      bytes: framed,
      offset: 0,
      written: () => {
        const before = this.#buffered;
        this.#buffered -= framed.length;
        callback?.(null);
        if (before >= HIGH_WATER && this.#buffered < HIGH_WATER) {
          this.emit("drain");
        }
      },
    });
    this.#connection.flush(
      this as unknown as GrpcCall<DescMessage, DescMessage>,
    );
    return this.#buffered < HIGH_WATER;
  }

  /** No more requests (half-close). */
  end(): void {
    if (this.#done || this.ending) return;
    this.ending = true;
    this.#connection.flush(
      this as unknown as GrpcCall<DescMessage, DescMessage>,
    );
    this.#maybeFinished();
  }

  /** Abandons the call: the server is told, the call fails CANCELLED. */
  cancel(): void {
    this.abort(new GrpcError(Status.CANCELLED, "Cancelled on client"), true);
  }

  /** Stop delivering "data" until {@linkcode resume}. */
  pause(): void {
    this.#paused = true;
  }

  /** Deliver "data" again, the queued messages first. */
  resume(): void {
    this.#paused = false;
    while (!this.#paused && this.#queue.length > 0) {
      this.#deliver(this.#queue.shift()!);
    }
  }

  /** Fails the call after `ms` (DEADLINE_EXCEEDED). */
  deadline(ms: number): void {
    this.#timer?.cancel();
    this.#timer = after(
      ms,
      () =>
        this.abort(
          new GrpcError(Status.DEADLINE_EXCEEDED, "Deadline exceeded"),
          true,
        ),
    );
  }

  /** Responses, one at a time, until the call ends (throws its error). */
  async *[Symbol.asyncIterator](): AsyncGenerator<MessageShape<O>> {
    const queue: MessageShape<O>[] = [];
    let finished = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const poke = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    this.on("data", (m: MessageShape<O>) => {
      queue.push(m);
      if (queue.length >= 16) this.pause();
      poke();
    });
    this.on("end", () => {
      finished = true;
      poke();
    });
    this.on("error", (e: Error) => {
      failure = e;
      poke();
    });
    try {
      for (;;) {
        if (queue.length > 0) {
          const m = queue.shift()!;
          if (queue.length < 8) this.resume();
          yield m;
          continue;
        }
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((resolve) => wake = resolve);
      }
    } finally {
      if (!this.#done) this.cancel();
    }
  }

  // -- from the connection ------------------------------------------------

  /** The call's response headers, or its trailers. */
  headers(headers: [string, string][], endStream: boolean): void {
    if (this.#done) return;
    const get = (name: string) => headers.find(([n]) => n === name)?.[1];
    if (!this.#responded) {
      this.#responded = true;
      const status = Number(get(":status"));
      if (status !== 200) {
        return this.#fail(
          new GrpcError(
            httpStatusCode(status),
            `the daemon answered HTTP ${get(":status") ?? "without a status"}`,
          ),
        );
      }
      const type = get("content-type") ?? "";
      if (!type.startsWith("application/grpc")) {
        return this.#fail(
          new GrpcError(
            Status.UNKNOWN,
            `the daemon answered with content-type "${type}", not gRPC`,
          ),
        );
      }
      if (!endStream) return;
      // Trailers-only: the status is in these headers.
    } else if (!endStream) {
      return this.#fail(
        new GrpcError(Status.INTERNAL, "the daemon sent headers mid-call"),
      );
    }
    this.remoteEnded = true;
    if (this.#body !== undefined || this.#headFill > 0) {
      return this.#fail(
        new GrpcError(Status.INTERNAL, "the daemon ended mid-message"),
      );
    }
    const code = get("grpc-status");
    const details = percentDecoded(get("grpc-message") ?? "");
    if (code === undefined || !/^\d+$/.test(code)) {
      return this.#fail(
        new GrpcError(
          Status.UNKNOWN,
          "the daemon ended the call without a status",
        ),
      );
    }
    // Everything received is delivered before the status.
    this.#paused = false;
    this.resume();
    if (Number(code) === Status.OK) {
      this.#done = true;
      this.#timer?.cancel();
      this.emit("end");
      this.emit("status", { code: 0, details });
      this.#drop();
      this.#finishLocal();
    } else this.#fail(new GrpcError(Number(code), details));
  }

  /** A DATA frame's body for this call. */
  received(bytes: Uint8Array, endStream: boolean): void {
    let at = 0;
    while (at < bytes.length && !this.#done) {
      if (this.#body === undefined) {
        const take = Math.min(5 - this.#headFill, bytes.length - at);
        this.#head.set(bytes.subarray(at, at + take), this.#headFill);
        this.#headFill += take;
        at += take;
        if (this.#headFill < 5) break;
        if (this.#head[0] !== 0) {
          return this.#fail(
            new GrpcError(
              Status.INTERNAL,
              "the daemon sent a compressed message",
            ),
          );
        }
        const length = readU32(this.#head, 1);
        if (length > MAX_MESSAGE) {
          return this.#fail(
            new GrpcError(
              Status.RESOURCE_EXHAUSTED,
              `Received message larger than max (${length} vs. ${MAX_MESSAGE})`,
            ),
          );
        }
        this.#body = new Uint8Array(length);
        this.#bodyFill = 0;
      }
      const take = Math.min(
        this.#body.length - this.#bodyFill,
        bytes.length - at,
      );
      this.#body.set(bytes.subarray(at, at + take), this.#bodyFill);
      this.#bodyFill += take;
      at += take;
      if (this.#bodyFill === this.#body.length) {
        const body = this.#body;
        this.#body = undefined;
        this.#headFill = 0;
        let message: MessageShape<O>;
        try {
          message = fromBinary(this.#output, body);
        } catch (error) {
          return this.#fail(
            new GrpcError(
              Status.INTERNAL,
              `the daemon sent a message that does not parse (${
                reason(error)
              })`,
            ),
          );
        }
        const size = 5 + body.length;
        if (this.#paused) {
          this.#queue.push(message);
          (message as { [CREDIT]?: number })[CREDIT] = size;
        } else {
          this.#connection.credit(
            this as unknown as GrpcCall<DescMessage, DescMessage>,
            size,
          );
          this.emit("data", message);
        }
      }
    }
    if (endStream && !this.#done) {
      this.remoteEnded = true;
      this.#fail(
        new GrpcError(
          Status.UNKNOWN,
          "the daemon ended the call without a status",
        ),
      );
    }
  }

  /** The server reset the call. */
  resetByPeer(code: number): void {
    if (this.#done) {
      return;
    }
    const status = code === 7
      ? Status.UNAVAILABLE
      : code === CANCEL
      ? Status.CANCELLED
      : code === 11
      ? Status.RESOURCE_EXHAUSTED
      : code === 12
      ? Status.PERMISSION_DENIED
      : Status.INTERNAL;
    this.remoteEnded = true;
    this.endSent = true;
    this.#fail(
      new GrpcError(status, `Received RST_STREAM with code ${code}`),
      false,
    );
  }

  /**
   * Ends the call with `error`; `tellPeer`: reset the stream (the server
   * still thinks it open).
   */
  abort(error: GrpcError, tellPeer: boolean): void {
    if (this.#done) return;
    if (tellPeer && !(this.remoteEnded && this.endSent)) {
      this.#connection.reset(this.id);
      this.remoteEnded = this.endSent = true;
    }
    this.#fail(error, false);
  }

  #deliver(message: MessageShape<O>): void {
    const size = (message as { [CREDIT]?: number })[CREDIT] ?? 0;
    delete (message as { [CREDIT]?: number })[CREDIT];
    this.#connection.credit(
      this as unknown as GrpcCall<DescMessage, DescMessage>,
      size,
    );
    this.emit("data", message);
  }

  #fail(error: GrpcError, reset = true): void {
    if (this.#done) return;
    this.#done = true;
    this.#timer?.cancel();
    if (reset && !(this.remoteEnded && this.endSent)) {
      this.#connection.reset(this.id);
    }
    this.remoteEnded = this.endSent = true;
    this.#queue.length = 0;
    this.emit("error", error);
    this.emit("status", { code: error.code, details: error.details });
    this.#drop();
    this.#connection.forget(this.id);
    this.emit("close");
  }

  /** Unsent requests are dropped; writers waiting on them hear "close". */
  #drop(): void {
    this.pending.length = 0;
    this.#buffered = 0;
  }

  /** After an OK status: the call is over once our side is too. */
  #finishLocal(): void {
    if (!this.endSent) {
      // The server is done; it needs no more requests from us.
      this.#connection.reset(this.id);
      this.endSent = true;
    }
    this.#connection.forget(this.id);
    this.emit("finish");
    this.emit("close");
  }

  #maybeFinished(): void {
    if (this.endSent && !this.#done) {
      queueMicrotask(() => this.emit("finish"));
    }
  }
}

/** Where a paused message keeps the window it will give back. */
const CREDIT = Symbol("credit");

/** Largest message either way (the daemon's limit too). */
const MAX_MESSAGE = 8 * 1024 * 1024;

/**
 * One unary call: the response, or the call's {@linkcode GrpcError}.
 */
export function unaryCall<I extends DescMessage, O extends DescMessage>(
  connection: GrpcConnection,
  path: string,
  input: I,
  output: O,
  request: MessageShape<I>,
  options: { metadata?: [string, string][]; deadline?: Date } = {},
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    const call = connection.call(path, input, output, options);
    let response: MessageShape<O> | undefined;
    call.on("data", (m: MessageShape<O>) => response ??= m);
    call.on("error", (e: Error) => reject(e));
    call.on(
      "end",
      () =>
        response === undefined
          ? reject(
            new GrpcError(Status.INTERNAL, "the daemon sent no response"),
          )
          : resolve(response),
    );
    call.write(request);
    call.end();
  });
}
