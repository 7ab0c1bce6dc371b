// The packed manifest codec: many entries in one `bytes` field, instead
// of one protobuf message per entry (whose objects, reflection and BigInts
// cost more than the lstat that found the entry). Pure bytes <-> entries.
//
// An entry: u8 kind (1 file, 2 dir, 3 symlink) | u16 path length | path |
// f64 size | f64 mtime_ms | u32 mode and mtime_ns | u16 link length |
// link | u8 hash length | hash. Little-endian. The u32 holds the mode bits
// (mode & 0o7777) in its low 12 bits and the mtime's nanoseconds past its
// millisecond (0-999,999) in its high 20. Every field is checked on
// decode (see `checkedEntry`), lengths before anything is read.
import type { FileEntry } from "../fs/entry.ts";
import { MAX_PATH_BYTES } from "../fs/safe_path.ts";
import { asciiInto, asciiText } from "../text.ts";

/** Longest content hash an entry may carry. */
export const MAX_HASH_BYTES = 64;
/** Longest link target, in bytes. */
const MAX_LINK_BYTES = 4096 * 3;
const FIXED = 1 + 2 + 8 + 8 + 4 + 2 + 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
/** An entry without a hash: one empty array, never written. */
const NO_HASH = new Uint8Array(0);

/** The fields of one decoded entry, before they are checked. */
export interface RawEntry {
  kind: number;
  path: string;
  size: number;
  mtimeMs: number;
  /** Nanoseconds past `mtimeMs` (0 when none). */
  mtimeNs: number;
  mode: number;
  linkTarget: string;
  hash: Uint8Array;
}

/** A packed manifest that does not decode. */
export class PackedManifestError extends RangeError {
  /** What was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "PackedManifestError";
  }
}

/**
 * Packs `entries` into one buffer.
 *
 * @example
 * ```ts
 * import { decodeEntries, encodeEntries } from "./packed_manifest.ts";
 * const bytes = encodeEntries([{ path: "a", kind: "file", size: 1, mtimeMs: 2000, mode: 0o644 }]);
 * const back: string[] = [];
 * decodeEntries(bytes, (raw) => back.push(raw.path));
 * if (back.join() !== "a") throw new Error("example failed");
 * ```
 * @throws {RangeError} for a path, link or hash longer than the format allows.
 */
export function encodeEntries(entries: readonly FileEntry[]): Uint8Array {
  // Generous first guess; grown when a long path doesn't fit.
  let out = new Uint8Array(entries.length * (FIXED + 48) + 64);
  let view = new DataView(out.buffer);
  let at = 0;
  const room = (n: number) => {
    if (at + n <= out.length) return;
    const bigger = new Uint8Array(Math.max(out.length * 2, at + n));
    bigger.set(out.subarray(0, at));
    out = bigger;
    view = new DataView(out.buffer);
  };
  // A u16 length, then the UTF-8 bytes (encoded in place).
  const text = (value: string, max: number, what: string) => {
    room(value.length * 3 + 2);
    let written = asciiInto(value, out, at + 2);
    if (written < 0) {
      written = encoder.encodeInto(
        value,
        out.subarray(at + 2, at + 2 + value.length * 3),
      ).written;
    }
    if (written > max) {
      throw new RangeError(`${what} is ${written} bytes; at most ${max}`);
    }
    view.setUint16(at, written, true);
    at += 2 + written;
  };
  for (const entry of entries) {
    room(FIXED);
    out[at++] = entry.kind === "file" ? 1 : entry.kind === "dir" ? 2 : 3;
    text(entry.path, MAX_PATH_BYTES, `Path ${entry.path}`);
    room(20);
    view.setFloat64(at, entry.size, true);
    view.setFloat64(at + 8, Math.trunc(entry.mtimeMs), true);
    const ns = entry.mtimeNs ?? 0;
    if (!Number.isInteger(ns) || ns < 0 || ns > 999_999) {
      throw new RangeError(`Mtime nanoseconds of ${entry.path} out of range`);
    }
    view.setUint32(at + 16, ((ns << 12) | (entry.mode & 0o7777)) >>> 0, true);
    at += 20;
    text(entry.linkTarget ?? "", MAX_LINK_BYTES, `Link ${entry.path}`);
    const hash = entry.hash ?? NO_HASH;
    if (hash.length > MAX_HASH_BYTES) {
      throw new RangeError(
        `Hash of ${entry.path} is over ${MAX_HASH_BYTES} bytes`,
      );
    }
    room(1 + hash.length);
    out[at++] = hash.length;
    out.set(hash, at);
    at += hash.length;
  }
  return out.subarray(0, at);
}

/**
 * Unpacks `bytes`, handing each entry's raw fields to `take` (which checks
 * them). Lengths are checked against what is left before anything is read.
 *
 * @example
 * ```ts
 * import { decodeEntries } from "./packed_manifest.ts";
 * let threw = false;
 * try { decodeEntries(new Uint8Array([1, 200, 0]), () => {}); } catch { threw = true; }
 * if (!threw) throw new Error("example failed");
 * ```
 * @throws {PackedManifestError} for truncated input or bad UTF-8.
 */
export function decodeEntries(
  bytes: Uint8Array,
  take: (raw: RawEntry) => void,
): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.length) {
      throw new PackedManifestError("Packed manifest is truncated");
    }
  };
  const text = (): string => {
    need(2);
    const length = view.getUint16(at, true);
    at += 2;
    need(length);
    if (length === 0) return ""; // most link targets: no decoder call
    let value = asciiText(bytes, at, at + length);
    if (value === undefined) {
      try {
        value = decoder.decode(bytes.subarray(at, at + length));
      } catch {
        throw new PackedManifestError("Packed manifest text is not UTF-8");
      }
    }
    at += length;
    return value;
  };
  while (at < bytes.length) {
    need(1);
    const kind = bytes[at++];
    const path = text();
    need(20);
    const size = view.getFloat64(at, true);
    const mtimeMs = view.getFloat64(at + 8, true);
    const modeAndNs = view.getUint32(at + 16, true);
    const mode = modeAndNs & 0o7777;
    const mtimeNs = modeAndNs >>> 12;
    at += 20;
    const linkTarget = text();
    need(1);
    const hashLength = bytes[at++];
    if (hashLength > MAX_HASH_BYTES) {
      throw new PackedManifestError(`Hash of ${hashLength} bytes is too long`);
    }
    need(hashLength);
    const hash = hashLength === 0 ? NO_HASH : bytes.slice(at, at + hashLength);
    at += hashLength;
    take({ kind, path, size, mtimeMs, mtimeNs, mode, linkTarget, hash });
  }
}
