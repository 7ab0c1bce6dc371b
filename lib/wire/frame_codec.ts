// The data-plane frame codec: frames written as bytes, no I/O (they are
// read back by frame_decoder.ts).
import type { FileEntry } from "../fs/entry.ts";
import type { KeptBlocks } from "../fs/resume.ts";

/** Client hello magic: "BLT1". */
export const HELLO_MAGIC: Uint8Array = new Uint8Array([0x42, 0x4c, 0x54, 0x31]);
/** Longest token a hello may carry. */
export const MAX_TOKEN_BYTES = 4096;
/** Longest path a file frame may carry. */
export const MAX_FRAME_PATH_BYTES = 4096;
/**
 * Ranges one file may arrive in (the overlap check is linear in them, so a
 * peer sending a huge file in tiny ranges is refused, not served slowly).
 * Senders cut at most this many (see `sendItems`).
 */
export const MAX_RANGES_PER_FILE = 16_384;
/** Frame type byte of the end frame. */
export const FRAME_END = 0x00;
/** Frame type byte of a file frame (header, then the body). */
export const FRAME_FILE = 0x01;
/**
 * Frame type byte of a range frame: a file header plus the offset and
 * length of the part of the body that follows (parallel streams carry a
 * big file's ranges side by side).
 */
export const FRAME_RANGE = 0x02;
/**
 * Frame type byte of a hash frame: the xxh3-128 of the body (or range)
 * just sent, 16 bytes. Every file and range is followed by one; the
 * receiver writes nothing under a final name until it matches.
 */
export const FRAME_HASH = 0x03;
/**
 * Frame type byte of a resume frame: a file header plus the block size,
 * the number of blocks the receiver offered and a bitmap of those it
 * keeps from its partial copy (see resume.ts). No body follows; the rest
 * of the file comes in range frames.
 */
export const FRAME_RESUME = 0x04;
/**
 * Frame type byte of a delta frame: a file header; the new body follows
 * as copy and literal frames, in order, then its hash frame (of the whole
 * new body). Only for a file the receiver described its old copy of.
 */
export const FRAME_DELTA = 0x05;
/**
 * Frame type byte of a copy frame (inside a delta): offset (8 bytes) and
 * length (4) of a range of the receiver's old copy to append.
 */
export const FRAME_COPY = 0x06;
/**
 * Frame type byte of a literal frame (inside a delta): a length (4
 * bytes), then that many bytes to append.
 */
export const FRAME_LITERAL = 0x07;
/**
 * Frame type byte of a describe-again frame: a file header and nothing
 * else. The receiver offered the old copy by its content hash alone (see
 * `BasisOffer`), and the file is not that content: the receiver names the
 * file again in its need list with a full description of the old copy,
 * and the file comes as a delta then. Only for a file offered that way,
 * once.
 */
export const FRAME_DESCRIBE = 0x08;
/** Most bytes one literal frame carries. */
export const MAX_LITERAL_BYTES = 16 << 20;
/** Size of a copy frame. */
export const COPY_FRAME_BYTES = 1 + 8 + 4;
/**
 * A copy instruction of at least this many bytes is sent at once rather
 * than held for more frames: the receiver has that much copying to do
 * while the sender goes on matching. Shorter ones are held until they
 * stand for {@linkcode COPIES_SOON} together (literal bytes between them
 * then leave in bigger pieces, which compress better).
 */
export const COPY_SOON = 4 << 20;
/** Copies held that stand for this many bytes together are sent at once. */
export const COPIES_SOON = 16 << 20;

/**
 * Whether the copies held should leave now: the last one covers
 * `length` bytes, all held (it included) `held` bytes.
 *
 * @example
 * ```ts
 * import { copiesDue } from "./frame_codec.ts";
 * if (!copiesDue(8 << 20, 8 << 20) || copiesDue(1 << 20, 2 << 20)) throw new Error("example failed");
 * ```
 */
export function copiesDue(length: number, held: number): boolean {
  return length >= COPY_SOON || held >= COPIES_SOON;
}
/** Size of a literal frame's header. */
export const LITERAL_HEADER_BYTES = 1 + 4;
/** What a resume header adds before its bitmap: block size, blocks. */
export const RESUME_TAIL = 4 + 4;
/** Bytes of a content hash (xxh3-128). */
export const HASH_BYTES = 16;
/** Fixed part of a file header after its path: size, mtime, mode. */
export const HEADER_TAIL = 8 + 8 + 4;
/** What a range header adds: offset, length. */
export const RANGE_TAIL = 8 + 8;

const encoder = new TextEncoder();

/** Part of a file's body: `length` bytes from `offset`. */
export interface FileRange {
  /** Where the part starts in the file. */
  offset: number;
  /** Its length in bytes. */
  length: number;
}

/**
 * What the decoder produces. Body bytes are views into the input. A file
 * event with a `range` is followed by that part of the body only;
 * `entry.size` is still the whole file's size.
 */
export type FrameEvent =
  | { type: "file"; entry: FileEntry; range?: FileRange }
  | { type: "data"; bytes: Uint8Array }
  | { type: "hash"; digest: Uint8Array }
  | { type: "resume"; entry: FileEntry; kept: KeptBlocks }
  /** A file rebuilt from the receiver's old copy: copies and data follow. */
  | { type: "delta"; entry: FileEntry }
  /** Inside a delta: append `length` bytes of the old copy from `offset`. */
  | { type: "copy"; offset: number; length: number }
  /**
   * A file offered by its old copy's hash alone is not that content: the
   * receiver describes the old copy in full and names the file again.
   */
  | { type: "describe"; entry: FileEntry }
  | { type: "end" };

/** The peer broke the framing rules; the connection must be dropped. */
export class FrameProtocolError extends Error {
  /** What was wrong with the frames. */
  constructor(message: string) {
    super(message);
    this.name = "FrameProtocolError";
  }
}

/**
 * A file (or range) whose bytes do not match the content hash sent with
 * them: corrupted on the way. Nothing of it was written under a final
 * name; running the transfer again resends it.
 */
export class IntegrityError extends Error {
  /** Names the file. */
  constructor(path: string) {
    super(
      `${path} arrived corrupted (its content hash does not match); it was not written`,
    );
    this.name = "IntegrityError";
  }
}

/**
 * The stream ended before its end frame: the peer went away (or cut it
 * short). A transfer can be run again.
 */
export class TruncatedStreamError extends FrameProtocolError {
  /** How the stream was cut. */
  constructor(message: string) {
    super(message);
    this.name = "TruncatedStreamError";
  }
}

/**
 * Encodes the client hello: magic, token length, token.
 *
 * @example
 * ```ts
 * import { encodeHello } from "@blit/cli/internals";
 * if (!(encodeHello("t").length === 9)) throw new Error("example failed");
 * ```
 * @throws {RangeError} when the token is longer than MAX_TOKEN_BYTES.
 */
export function encodeHello(token: string): Uint8Array {
  const bytes = encoder.encode(token);
  if (bytes.length > MAX_TOKEN_BYTES) {
    throw new RangeError(
      `Token is ${bytes.length} bytes; at most ${MAX_TOKEN_BYTES}`,
    );
  }
  const out = new Uint8Array(8 + bytes.length);
  out.set(HELLO_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, bytes.length);
  out.set(bytes, 8);
  return out;
}

/**
 * Reads the token length out of the 8-byte hello prefix, checking the
 * magic and the bound before anything is allocated.
 *
 * @example
 * ```ts
 * import { encodeHello, helloTokenLength } from "./frame_codec.ts";
 * if (!(helloTokenLength(encodeHello("abc").subarray(0, 8)) === 3)) throw new Error("example failed");
 * ```
 * @throws {FrameProtocolError} for a wrong magic or an oversized token.
 */
export function helloTokenLength(prefix: Uint8Array): number {
  if (prefix.length < 8) {
    throw new FrameProtocolError("Hello is shorter than 8 bytes");
  }
  for (let i = 0; i < 4; i++) {
    if (prefix[i] !== HELLO_MAGIC[i]) {
      throw new FrameProtocolError("Not a blit data-plane hello");
    }
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getUint32(4);
  if (length === 0 || length > MAX_TOKEN_BYTES) {
    throw new FrameProtocolError(
      `Token length ${length} is out of range (1-${MAX_TOKEN_BYTES})`,
    );
  }
  return length;
}

/**
 * Encodes a file frame header; the body (exactly `entry.size` bytes)
 * follows it on the wire.
 *
 * @example
 * ```ts
 * import { encodeFileHeader } from "@blit/cli/internals";
 * const h = encodeFileHeader({ path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 });
 * if (!(h.length === 24 && h[0] === 1)) throw new Error("example failed");
 * ```
 * @throws {RangeError} for an empty or over-long path or a bad size.
 */
export function encodeFileHeader(entry: FileEntry): Uint8Array {
  const path = encoder.encode(entry.path);
  if (path.length === 0 || path.length > MAX_FRAME_PATH_BYTES) {
    throw new RangeError(
      `entry.path must be 1-${MAX_FRAME_PATH_BYTES} bytes, got ${path.length}`,
    );
  }
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) {
    throw new RangeError(
      `entry.size must be a non-negative integer, got ${entry.size}`,
    );
  }
  const out = new Uint8Array(1 + 2 + path.length + HEADER_TAIL);
  writeFileHeader(out, 0, path, entry);
  return out;
}

/**
 * Size of a file header for an already-encoded path, so a sender can
 * check it fits in its buffer before writing it there.
 *
 * @example
 * ```ts
 * import { fileHeaderSize } from "./frame_codec.ts";
 * if (!(fileHeaderSize(new TextEncoder().encode("a")) === 24)) throw new Error("example failed");
 * ```
 */
export function fileHeaderSize(
  pathBytes: Uint8Array,
  range?: FileRange,
): number {
  return 1 + 2 + pathBytes.length + HEADER_TAIL + (range ? RANGE_TAIL : 0);
}

/**
 * Writes a file header into `out` at `offset` and returns the bytes
 * written: senders pack headers and small bodies into one buffer without
 * an intermediate copy. The caller has checked the path (see
 * {@linkcode encodeFileHeader}) and the room (see {@linkcode fileHeaderSize}).
 *
 * @example
 * ```ts
 * import { fileHeaderSize, writeFileHeader } from "./frame_codec.ts";
 * const path = new TextEncoder().encode("a");
 * const out = new Uint8Array(fileHeaderSize(path));
 * const n = writeFileHeader(out, 0, path, { path: "a", kind: "file", size: 0, mtimeMs: 0, mode: 0o644 });
 * if (!(n === out.length)) throw new Error("example failed");
 * ```
 */
export function writeFileHeader(
  out: Uint8Array,
  offset: number,
  path: Uint8Array,
  entry: FileEntry,
  range?: FileRange,
): number {
  const view = new DataView(out.buffer, out.byteOffset + offset);
  out[offset] = range ? FRAME_RANGE : FRAME_FILE;
  view.setUint16(1, path.length);
  out.set(path, offset + 3);
  const tail = 3 + path.length;
  view.setBigUint64(tail, BigInt(entry.size));
  view.setFloat64(tail + 8, entry.mtimeMs);
  view.setUint32(tail + 16, entry.mode & 0o7777);
  if (!range) return tail + HEADER_TAIL;
  view.setBigUint64(tail + HEADER_TAIL, BigInt(range.offset));
  view.setBigUint64(tail + HEADER_TAIL + 8, BigInt(range.length));
  return tail + HEADER_TAIL + RANGE_TAIL;
}

/**
 * Encodes a resume frame: `entry`'s header and which offered blocks the
 * receiver keeps; the bytes it still needs follow in range frames.
 *
 * @example
 * ```ts
 * import { encodeResume } from "@blit/cli/internals";
 * import { FrameDecoder } from "@blit/cli/internals";
 * const entry = { path: "a", kind: "file" as const, size: 1 << 30, mtimeMs: 0, mode: 0o644 };
 * const frame = encodeResume(entry, { blockSize: 4 << 20, blocks: 9, bitmap: new Uint8Array([255, 1]) });
 * const [event] = new FrameDecoder().push(frame);
 * if (event.type !== "resume" || event.kept.blocks !== 9) throw new Error("example failed");
 * ```
 * @throws {RangeError} for a bad path or a bitmap of the wrong length.
 */
export function encodeResume(entry: FileEntry, kept: KeptBlocks): Uint8Array {
  const path = encoder.encode(entry.path);
  if (path.length === 0 || path.length > MAX_FRAME_PATH_BYTES) {
    throw new RangeError(
      `entry.path must be 1-${MAX_FRAME_PATH_BYTES} bytes, got ${path.length}`,
    );
  }
  if (kept.bitmap.length !== Math.ceil(kept.blocks / 8)) {
    throw new RangeError(
      `A bitmap of ${kept.blocks} blocks has the wrong size`,
    );
  }
  const out = new Uint8Array(
    1 + 2 + path.length + HEADER_TAIL + RESUME_TAIL + kept.bitmap.length,
  );
  const tail = writeFileHeader(out, 0, path, entry);
  out[0] = FRAME_RESUME;
  const view = new DataView(out.buffer);
  view.setUint32(tail, kept.blockSize);
  view.setUint32(tail + 4, kept.blocks);
  out.set(kept.bitmap, tail + RESUME_TAIL);
  return out;
}

/**
 * Encodes the end-of-stream frame.
 *
 * @example
 * ```ts
 * import { encodeEnd } from "@blit/cli/internals";
 * if (!(encodeEnd()[0] === 0)) throw new Error("example failed");
 * ```
 */
export function encodeEnd(): Uint8Array {
  return new Uint8Array([FRAME_END]);
}

/**
 * Writes a hash frame for `digest` at `offset`; returns its size (17).
 *
 * @example
 * ```ts
 * import { writeHash } from "./frame_codec.ts";
 * const buf = new Uint8Array(17);
 * if (writeHash(buf, 0, new Uint8Array(16).fill(9)) !== 17 || buf[0] !== 3) throw new Error("example failed");
 * ```
 * @throws {RangeError} when `digest` is not 16 bytes.
 */
export function writeHash(
  buffer: Uint8Array,
  offset: number,
  digest: Uint8Array,
): number {
  if (digest.length !== HASH_BYTES) {
    throw new RangeError(`A content hash is ${HASH_BYTES} bytes`);
  }
  buffer[offset] = FRAME_HASH;
  buffer.set(digest, offset + 1);
  return 1 + HASH_BYTES;
}

/**
 * Encodes a hash frame.
 *
 * @example
 * ```ts
 * import { encodeHash } from "./frame_codec.ts";
 * if (encodeHash(new Uint8Array(16)).length !== 17) throw new Error("example failed");
 * ```
 */
export function encodeHash(digest: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + HASH_BYTES);
  writeHash(out, 0, digest);
  return out;
}

/**
 * Writes a delta frame's header at `offset` (see {@linkcode FRAME_DELTA});
 * returns its size. The caller checked the path and the room (see
 * {@linkcode fileHeaderSize}).
 *
 * @example
 * ```ts
 * import { FRAME_DELTA, fileHeaderSize, writeDeltaHeader } from "./frame_codec.ts";
 * const path = new TextEncoder().encode("a");
 * const out = new Uint8Array(fileHeaderSize(path));
 * writeDeltaHeader(out, 0, path, { path: "a", kind: "file", size: 9, mtimeMs: 0, mode: 0o644 });
 * if (out[0] !== FRAME_DELTA) throw new Error("example failed");
 * ```
 */
export function writeDeltaHeader(
  out: Uint8Array,
  offset: number,
  path: Uint8Array,
  entry: FileEntry,
): number {
  return writeHeaderAs(FRAME_DELTA, out, offset, path, entry);
}

/** A file header at `offset` under another frame type; returns its size. */
function writeHeaderAs(
  type: number,
  out: Uint8Array,
  offset: number,
  path: Uint8Array,
  entry: FileEntry,
): number {
  const n = writeFileHeader(out, offset, path, entry);
  out[offset] = type;
  return n;
}

/**
 * Writes a describe-again frame at `offset` (see
 * {@linkcode FRAME_DESCRIBE}); returns its size.
 *
 * @example
 * ```ts
 * import { FRAME_DESCRIBE, fileHeaderSize, writeDescribeAgain } from "./frame_codec.ts";
 * const path = new TextEncoder().encode("a");
 * const out = new Uint8Array(fileHeaderSize(path));
 * writeDescribeAgain(out, 0, path, { path: "a", kind: "file", size: 5000, mtimeMs: 0, mode: 0o644 });
 * if (out[0] !== FRAME_DESCRIBE) throw new Error("example failed");
 * ```
 */
export function writeDescribeAgain(
  out: Uint8Array,
  offset: number,
  path: Uint8Array,
  entry: FileEntry,
): number {
  return writeHeaderAs(FRAME_DESCRIBE, out, offset, path, entry);
}

/**
 * Writes a copy frame at `offset`; returns its size.
 *
 * @example
 * ```ts
 * import { COPY_FRAME_BYTES, writeCopy } from "./frame_codec.ts";
 * const out = new Uint8Array(COPY_FRAME_BYTES);
 * if (writeCopy(out, 0, 4096, 100) !== COPY_FRAME_BYTES || out[0] !== 6) throw new Error("example failed");
 * ```
 * @throws {RangeError} for a negative offset or a length out of 1-2^32-1.
 */
export function writeCopy(
  out: Uint8Array,
  offset: number,
  from: number,
  length: number,
): number {
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new RangeError(
      `copy offset must be a non-negative integer, got ${from}`,
    );
  }
  if (!Number.isInteger(length) || length < 1 || length > 0xffffffff) {
    throw new RangeError(`copy length must be 1-${0xffffffff}, got ${length}`);
  }
  const view = new DataView(out.buffer, out.byteOffset + offset);
  out[offset] = FRAME_COPY;
  view.setBigUint64(1, BigInt(from));
  view.setUint32(9, length);
  return COPY_FRAME_BYTES;
}

/**
 * Writes a literal frame's header at `offset` (its `length` bytes follow);
 * returns its size.
 *
 * @example
 * ```ts
 * import { LITERAL_HEADER_BYTES, writeLiteralHeader } from "./frame_codec.ts";
 * const out = new Uint8Array(LITERAL_HEADER_BYTES);
 * if (writeLiteralHeader(out, 0, 3) !== 5 || out[0] !== 7) throw new Error("example failed");
 * ```
 * @throws {RangeError} for a length out of 1-{@linkcode MAX_LITERAL_BYTES}.
 */
export function writeLiteralHeader(
  out: Uint8Array,
  offset: number,
  length: number,
): number {
  if (!Number.isInteger(length) || length < 1 || length > MAX_LITERAL_BYTES) {
    throw new RangeError(
      `literal length must be 1-${MAX_LITERAL_BYTES}, got ${length}`,
    );
  }
  out[offset] = FRAME_LITERAL;
  new DataView(out.buffer, out.byteOffset + offset).setUint32(1, length);
  return LITERAL_HEADER_BYTES;
}
