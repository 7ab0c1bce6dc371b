// Sequential reads and backpressured writes on grpc-js streaming calls.

/** The writable half of a grpc-js call, as far as we use it. */
export interface MessageWritable<T> {
  write(message: T): boolean;
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
): Promise<void> {
  if (stream.write(message)) return;
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

/**
 * Reads messages one at a time from an async-iterable call.
 *
 * @example
 * ```ts
 * import { MessageReader } from "./call_io.ts";
 * const r = new MessageReader(ReadableStream.from([1, 2]));
 * console.assert(await r.next() === 1 && await r.next() === 2 && await r.next() === undefined);
 * ```
 */
export class MessageReader<T> {
  readonly #iterator: AsyncIterator<T>;
  constructor(source: AsyncIterable<T>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** The next message, or undefined when the peer finished sending. */
  async next(): Promise<T | undefined> {
    const result = await this.#iterator.next();
    return result.done ? undefined : result.value;
  }
}
