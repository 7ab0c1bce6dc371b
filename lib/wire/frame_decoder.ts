// The data plane's frames read back: bytes in any split, frame events
// out, every length checked before anything is allocated (the frames are
// written by frame_codec.ts).
import {
  COPY_FRAME_BYTES,
  FRAME_COPY,
  FRAME_DELTA,
  FRAME_DESCRIBE,
  FRAME_END,
  FRAME_FILE,
  FRAME_HASH,
  FRAME_LITERAL,
  FRAME_RANGE,
  FRAME_RESUME,
  type FrameEvent,
  FrameProtocolError,
  HASH_BYTES,
  HEADER_TAIL,
  LITERAL_HEADER_BYTES,
  MAX_FRAME_PATH_BYTES,
  MAX_LITERAL_BYTES,
  RANGE_TAIL,
  RESUME_TAIL,
  TruncatedStreamError,
} from "./frame_codec.ts";
import type { FileEntry } from "../fs/entry.ts";
import { MAX_RESUME_BLOCKS } from "../fs/resume.ts";
import { normalizeRelative, PathEscapeError } from "../fs/safe_path.ts";

const decoder = new TextDecoder("utf-8", { fatal: true });
/** Nothing pending: one empty array, never written (a typed array costs ~1 us to make). */
const NOTHING = new Uint8Array(0);

/**
 * Incremental frame decoder: feed chunks, get events. Lengths are checked
 * before allocation, paths are normalised (hostile ones refused), body
 * bytes and hash digests are handed out as views of the chunk (good while
 * it is not written to); only a header split across chunks is copied.
 *
 * @example
 * ```ts
 * import { encodeEnd, encodeFileHeader } from "@blit/cli/internals";
 * import { FrameDecoder } from "@blit/cli/internals";
 * const d = new FrameDecoder();
 * const ev = d.push(encodeFileHeader({ path: "a", kind: "file", size: 0, mtimeMs: 0, mode: 0o644 }));
 * ev.push(...d.push(encodeEnd()));
 * d.finish();
 * if (!(ev.length === 2 && ev[1].type === "end")) throw new Error("example failed");
 * ```
 */
export class FrameDecoder {
  #pending: Uint8Array = NOTHING;
  #bodyLeft = 0;
  #ended = false;

  /** Body bytes still to come for the file (or range) being decoded. */
  get bodyLeft(): number {
    return this.#bodyLeft;
  }

  /** Decodes what `chunk` completes. @throws {FrameProtocolError} */
  push(chunk: Uint8Array): FrameEvent[] {
    const events: FrameEvent[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#ended) {
        throw new FrameProtocolError(
          `${chunk.length - offset} bytes after the end frame`,
        );
      }
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.length - offset);
        events.push({
          type: "data",
          bytes: chunk.subarray(offset, offset + n),
        });
        this.#bodyLeft -= n;
        offset += n;
        continue;
      }
      // Header: parse in place when whole, else gather the pieces.
      let buf: Uint8Array;
      let start: number;
      if (this.#pending.length > 0) {
        const need = this.#headerNeed(this.#pending, 0);
        const take = Math.min(
          chunk.length - offset,
          Math.max(0, need - this.#pending.length),
        );
        const joined = new Uint8Array(this.#pending.length + take);
        joined.set(this.#pending);
        joined.set(chunk.subarray(offset, offset + take), this.#pending.length);
        offset += take;
        this.#pending = joined;
        if (joined.length < this.#headerNeed(joined, 0)) continue;
        buf = joined;
        start = 0;
      } else {
        const need = this.#headerNeed(chunk, offset);
        if (chunk.length - offset < need) {
          this.#pending = chunk.slice(offset);
          offset = chunk.length;
          continue;
        }
        buf = chunk;
        start = offset;
      }
      const type = buf[start];
      if (type === FRAME_HASH) {
        events.push({
          type: "hash",
          digest: buf.subarray(start + 1, start + 1 + HASH_BYTES),
        });
        if (buf === chunk) offset = start + 1 + HASH_BYTES;
        this.#pending = NOTHING;
        continue;
      }
      if (type === FRAME_COPY || type === FRAME_LITERAL) {
        const view = new DataView(buf.buffer, buf.byteOffset + start);
        if (type === FRAME_COPY) {
          events.push(this.#copy(view));
          if (buf === chunk) offset = start + COPY_FRAME_BYTES;
        } else {
          const length = view.getUint32(1);
          if (length === 0 || length > MAX_LITERAL_BYTES) {
            throw new FrameProtocolError(
              `Literal of ${length} bytes is out of range (1-${MAX_LITERAL_BYTES})`,
            );
          }
          this.#bodyLeft = length;
          if (buf === chunk) offset = start + LITERAL_HEADER_BYTES;
        }
        this.#pending = NOTHING;
        continue;
      }
      if (type === FRAME_END) {
        events.push({ type: "end" });
        this.#ended = true;
        if (buf === chunk) offset = start + 1;
        this.#pending = NOTHING;
        continue;
      }
      const size = this.#headerNeed(buf, start);
      events.push(this.#parseHeader(buf, start));
      if (buf === chunk) offset = start + size;
      this.#pending = NOTHING;
    }
    return events;
  }

  /** Bytes a header starting at `start` needs (as far as known so far). */
  #headerNeed(buf: Uint8Array, start: number): number {
    if (buf.length - start < 1) return 1;
    const type = buf[start];
    if (type === FRAME_END) return 1;
    if (type === FRAME_HASH) return 1 + HASH_BYTES;
    if (type === FRAME_COPY) return COPY_FRAME_BYTES;
    if (type === FRAME_LITERAL) return LITERAL_HEADER_BYTES;
    if (
      type !== FRAME_FILE && type !== FRAME_RANGE && type !== FRAME_RESUME &&
      type !== FRAME_DELTA && type !== FRAME_DESCRIBE
    ) {
      throw new FrameProtocolError(`Unknown frame type ${type}`);
    }
    if (buf.length - start < 3) return 3;
    const pathLength = (buf[start + 1] << 8) | buf[start + 2];
    if (pathLength === 0 || pathLength > MAX_FRAME_PATH_BYTES) {
      throw new FrameProtocolError(
        `Frame path length ${pathLength} is out of range`,
      );
    }
    const fixed = 3 + pathLength + HEADER_TAIL;
    if (type === FRAME_RANGE) return fixed + RANGE_TAIL;
    if (type !== FRAME_RESUME) return fixed;
    // The bitmap's length comes from its block count, checked first.
    if (buf.length - start < fixed + RESUME_TAIL) return fixed + RESUME_TAIL;
    const blocks = new DataView(buf.buffer, buf.byteOffset + start + fixed + 4)
      .getUint32(0);
    if (blocks === 0 || blocks > MAX_RESUME_BLOCKS) {
      throw new FrameProtocolError(
        `Resume frame offers ${blocks} blocks (1-${MAX_RESUME_BLOCKS})`,
      );
    }
    return fixed + RESUME_TAIL + Math.ceil(blocks / 8);
  }

  #copy(view: DataView): FrameEvent {
    const offset = view.getBigUint64(1);
    const length = view.getUint32(9);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER) || length === 0) {
      throw new FrameProtocolError(`Copy of ${length} at ${offset} is invalid`);
    }
    return { type: "copy", offset: Number(offset), length };
  }

  #parseHeader(
    buf: Uint8Array,
    start: number,
  ): FrameEvent & { type: "file" | "resume" | "delta" | "describe" } {
    const view = new DataView(buf.buffer, buf.byteOffset + start);
    const pathLength = view.getUint16(1);
    let path: string;
    try {
      path = normalizeRelative(
        decoder.decode(buf.subarray(start + 3, start + 3 + pathLength)),
      );
    } catch (error) {
      if (error instanceof PathEscapeError) {
        throw new FrameProtocolError(error.message);
      }
      throw new FrameProtocolError("Frame path is not valid UTF-8");
    }
    if (path === "") throw new FrameProtocolError("Frame path is empty");
    const tail = 3 + pathLength;
    const size = view.getBigUint64(tail);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new FrameProtocolError(`Frame size ${size} is out of range`);
    }
    const mtimeMs = view.getFloat64(tail + 8);
    if (!Number.isFinite(mtimeMs)) {
      throw new FrameProtocolError("Frame mtime is not finite");
    }
    const mode = view.getUint32(tail + 16);
    if (mode > 0o7777) {
      throw new FrameProtocolError(`Frame mode ${mode} is out of range`);
    }
    const entry: FileEntry = {
      path,
      kind: "file",
      size: Number(size),
      mtimeMs,
      mode,
    };
    if (buf[start] === FRAME_RESUME) {
      const blockSize = view.getUint32(tail + HEADER_TAIL);
      const blocks = view.getUint32(tail + HEADER_TAIL + 4);
      if (blockSize === 0 || (blocks - 1) * blockSize >= entry.size) {
        throw new FrameProtocolError(
          `Resume frame of ${path} has blocks outside its ${size} bytes`,
        );
      }
      const at = start + tail + HEADER_TAIL + RESUME_TAIL;
      const bitmap = buf.slice(at, at + Math.ceil(blocks / 8));
      return { type: "resume", entry, kept: { blockSize, blocks, bitmap } };
    }
    if (buf[start] === FRAME_DELTA) return { type: "delta", entry };
    if (buf[start] === FRAME_DESCRIBE) return { type: "describe", entry };
    if (buf[start] !== FRAME_RANGE) {
      this.#bodyLeft = entry.size;
      return { type: "file", entry };
    }
    const offset = view.getBigUint64(tail + HEADER_TAIL);
    const length = view.getBigUint64(tail + HEADER_TAIL + 8);
    if (length === 0n || offset + length > size) {
      throw new FrameProtocolError(
        `Range ${offset}+${length} of ${path} is outside its ${size} bytes`,
      );
    }
    this.#bodyLeft = Number(length);
    return {
      type: "file",
      entry,
      range: { offset: Number(offset), length: Number(length) },
    };
  }

  /** Whether the end frame was seen. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Checks the stream ended cleanly. @throws {FrameProtocolError} */
  finish(): void {
    if (this.#bodyLeft > 0) {
      throw new TruncatedStreamError(
        `Stream ended ${this.#bodyLeft} bytes short of a file body`,
      );
    }
    if (this.#pending.length > 0) {
      throw new TruncatedStreamError("Stream ended inside a frame header");
    }
    if (!this.#ended) {
      throw new TruncatedStreamError("Stream ended without an end frame");
    }
  }
}
