// Sequential reads and backpressured writes on grpc-js streaming calls.

/** The writable half of a grpc-js call, as far as we use it. */
export interface MessageWritable<T> {
  write(message: T, callback?: (error?: Error | null) => void): boolean;
  once(
    event: "drain" | "close" | "error" | "finish",
    listener: (...args: unknown[]) => void,
  ): unknown;
  off(
    event: "drain" | "close" | "error" | "finish",
    listener: (...args: unknown[]) => void,
  ): unknown;
}

/** The call went away while we waited to write. */
export class CallClosedError extends Error {
  constructor(message = "The connection closed during the transfer") {
    super(message);
    this.name = "CallClosedError";
  }
}

/**
 * Writes one message and, when the call's buffer is full, waits for it to
 * drain (or for the call to end) so memory stays bounded.
 *
 * @example
 * ```ts
 * import { writeMessage } from "./call_io.ts";
 * const sink = { write: () => true, once: () => {}, off: () => {} };
 * await writeMessage(sink, 1);
 * ```
 */
export async function writeMessage<T>(
  stream: MessageWritable<T>,
  message: T,
  options: { flushed?: boolean } = {},
): Promise<void> {
  // `flushed`: wait until the message reached the connection. A producer
  // that never waits on I/O (a manifest read from the page cache) would
  // otherwise build every message before the event loop sends the first,
  // and the peer would sit idle until then.
  let sent: Promise<void> | undefined;
  let ok: boolean;
  if (options.flushed) {
    let done!: (error?: unknown) => void;
    sent = new Promise<void>((resolve, reject) => {
      done = (error?: unknown) => {
        stream.off("close", gone);
        stream.off("error", gone);
        if (error) {
          reject(error instanceof Error ? error : new CallClosedError());
        } else resolve();
      };
    });
    // A call that goes away never calls back.
    const gone = () => done(new CallClosedError());
    stream.once("close", gone);
    stream.once("error", gone);
    ok = stream.write(message, (error) => done(error));
  } else ok = stream.write(message);
  if (!ok) {
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        cleanup();
        resolve();
      };
      const failed = (error?: unknown) => {
        cleanup();
        reject(error instanceof Error ? error : new CallClosedError());
      };
      const closed = () => failed();
      const cleanup = () => {
        stream.off("drain", done);
        stream.off("error", failed);
        stream.off("close", closed);
      };
      stream.once("drain", done);
      stream.once("error", failed);
      stream.once("close", closed);
    });
  }
  if (sent) await sent;
}

/** The readable half of a grpc-js call, as far as we use it. */
export interface MessageReadable<T> {
  on(event: "data", listener: (message: T) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * Reads messages one at a time from a grpc-js call, pausing the call while
 * unread messages pile up. Event-based on purpose: a Node async iterator
 * destroys the call when abandoned, which would swallow the status we
 * still want to send.
 *
 * @example
 * ```ts
 * import { EventEmitter } from "node:events";
 * import { MessageReader } from "./call_io.ts";
 * const source = Object.assign(new EventEmitter(), { pause() {}, resume() {} });
 * const r = new MessageReader<number>(source);
 * source.emit("data", 1);
 * source.emit("end");
 * if (!(await r.next() === 1 && await r.next() === undefined)) throw new Error("example failed");
 * ```
 */
export class MessageReader<T> {
  readonly #source: MessageReadable<T>;
  readonly #queue: T[] = [];
  #waiting:
    | { resolve: (m: T | undefined) => void; reject: (e: Error) => void }
    | undefined;
  #ended = false;
  #error: Error | undefined;
  #paused = false;
  readonly #lowWater: number;

  constructor(
    source: MessageReadable<T>,
    options: {
      highWaterMark?: number;
      /** Sees each message first; true: consumed there, never queued. */
      aside?: (message: T) => boolean;
    } = {},
  ) {
    const highWaterMark = options.highWaterMark ?? 16;
    this.#lowWater = Math.floor(highWaterMark / 2);
    this.#source = source;
    const aside = options.aside;
    source.on("data", (message: T) => {
      if (aside?.(message)) return;
      if (this.#waiting) {
        const waiter = this.#waiting;
        this.#waiting = undefined;
        waiter.resolve(message);
        return;
      }
      this.#queue.push(message);
      if (this.#queue.length >= highWaterMark && !this.#paused) {
        this.#paused = true;
        source.pause();
      }
    });
    const finish = () => {
      this.#ended = true;
      const waiter = this.#waiting;
      this.#waiting = undefined;
      waiter?.resolve(undefined);
    };
    source.on("end", finish);
    source.on("close", finish);
    source.on("error", (error: Error) => {
      this.#error = error;
      const waiter = this.#waiting;
      this.#waiting = undefined;
      waiter?.reject(error);
    });
  }

  /**
   * Fails the reader: a pending and every later `next()` rejects with
   * `error` (the caller gave up on the peer, e.g. it sat idle too long).
   */
  fail(error: Error): void {
    this.#error ??= error;
    this.#queue.length = 0;
    const waiter = this.#waiting;
    this.#waiting = undefined;
    waiter?.reject(error);
  }

  /** The next message, or undefined when the peer finished sending. */
  next(): Promise<T | undefined> {
    if (this.#queue.length > 0) {
      const message = this.#queue.shift()!;
      // Resume at half the high-water mark, not when empty: the peer then
      // refills the queue while this side works, instead of the two
      // taking turns (a manifest's batches flowed at half speed that way).
      if (this.#paused && this.#queue.length <= this.#lowWater) {
        this.#paused = false;
        this.#source.resume();
      }
      return Promise.resolve(message);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(undefined);
    if (this.#paused) {
      this.#paused = false;
      this.#source.resume();
    }
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }
}

/**
 * Sender-side flow control for file bytes over gRPC: at most `window`
 * bytes may be sent and not yet acknowledged by the receiver (grpc-js
 * accepts writes faster than HTTP/2 drains them, so without this a fast
 * disk fills memory).
 *
 * @example
 * ```ts
 * import { SendWindow } from "@blit/cli/internals";
 * const w = new SendWindow(10);
 * await w.reserve(8);
 * const waiting = w.reserve(8);
 * w.ack(8);
 * await waiting;
 * ```
 */
export class SendWindow {
  readonly #window: number;
  #sent = 0;
  #acked = 0;
  #wake: (() => void) | undefined;
  #error: Error | undefined;

  /** A window of `window` bytes (default 16 MiB). */
  constructor(window = 16 * 1024 * 1024) {
    if (!Number.isInteger(window) || window <= 0) {
      throw new RangeError(`window must be a positive integer, got ${window}`);
    }
    this.#window = window;
  }

  /** Waits until `n` more bytes fit in the window, then counts them as sent. */
  async reserve(n: number): Promise<void> {
    while (
      this.#sent > this.#acked && this.#sent - this.#acked + n > this.#window
    ) {
      if (this.#error) throw this.#error;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#error) throw this.#error;
    this.#sent += n;
  }

  /** The receiver has written `bytes` in total. */
  ack(bytes: number): void {
    if (bytes > this.#acked) this.#acked = bytes;
    this.#wakeUp();
  }

  /** Fails every waiting and future reservation. */
  fail(error: Error): void {
    this.#error ??= error;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Receivers acknowledge after this many new bytes. */
export const ACK_EVERY_BYTES = 2 * 1024 * 1024;
