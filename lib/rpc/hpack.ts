// HPACK (RFC 7541), the header compression of HTTP/2, as far as a gRPC
// client needs it: requests are encoded as literals (no Huffman, no
// dynamic table: nothing to get wrong, a few bytes more a call), and
// responses from any conforming server are decoded, with the dynamic
// table and Huffman strings. Bounded: a header list larger than the
// decoder's limit is an error, never a large allocation.

/** A header block that can't be decoded (a protocol error). */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}

/** RFC 7541 Appendix A: the 61 entries every peer knows. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ...[
    "accept-charset",
  ].map((n) => [n, ""] as const),
  ["accept-encoding", "gzip, deflate"],
  ...[
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
  ].map((n) => [n, ""] as const),
];

/** The static index of each name (its first entry). */
const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/**
 * The code length of each symbol (0-255, then 256 = EOS) in HPACK's
 * Huffman code (RFC 7541 Appendix B). The code is canonical: codes of one
 * length are consecutive in symbol order, so the lengths define it.
 */
const HUFFMAN_LENGTHS = [
  13,
  23,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  24,
  30,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  30,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  28,
  6,
  10,
  10,
  12,
  13,
  6,
  8,
  11,
  10,
  10,
  8,
  11,
  8,
  6,
  6,
  6,
  5,
  5,
  5,
  6,
  6,
  6,
  6,
  6,
  6,
  6,
  7,
  8,
  15,
  6,
  12,
  10,
  13,
  6,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  7,
  8,
  7,
  8,
  13,
  19,
  13,
  14,
  6,
  15,
  5,
  6,
  5,
  6,
  5,
  6,
  6,
  6,
  5,
  7,
  7,
  6,
  6,
  6,
  5,
  6,
  7,
  6,
  5,
  5,
  6,
  7,
  7,
  7,
  7,
  7,
  15,
  11,
  14,
  13,
  28,
  20,
  22,
  20,
  20,
  22,
  22,
  22,
  23,
  22,
  23,
  23,
  23,
  23,
  23,
  24,
  23,
  24,
  24,
  22,
  23,
  24,
  23,
  23,
  23,
  23,
  21,
  22,
  23,
  22,
  23,
  23,
  24,
  22,
  21,
  20,
  22,
  22,
  23,
  23,
  21,
  23,
  22,
  22,
  24,
  21,
  22,
  23,
  23,
  21,
  21,
  22,
  21,
  23,
  22,
  23,
  23,
  20,
  22,
  22,
  22,
  23,
  22,
  22,
  23,
  26,
  26,
  20,
  19,
  22,
  23,
  22,
  25,
  26,
  26,
  26,
  27,
  27,
  26,
  24,
  25,
  19,
  21,
  26,
  27,
  27,
  26,
  27,
  24,
  21,
  21,
  26,
  26,
  28,
  27,
  27,
  27,
  20,
  24,
  20,
  21,
  22,
  21,
  21,
  23,
  22,
  22,
  25,
  25,
  24,
  24,
  26,
  23,
  26,
  27,
  26,
  26,
  27,
  27,
  27,
  27,
  27,
  28,
  27,
  27,
  27,
  27,
  27,
  26,
  30,
];

/**
 * The canonical codes: `[symbol, code, length]`, shortest first (by
 * symbol within a length). Codes are at most 30 bits: plain integers.
 */
export function huffmanCodes(): [number, number, number][] {
  const codes = canonicalCodes();
  return [...HUFFMAN_LENGTHS.keys()]
    .map((s): [number, number, number] => [s, codes[s], HUFFMAN_LENGTHS[s]])
    .sort((a, b) => a[2] - b[2] || a[0] - b[0]);
}

/**
 * Each symbol's canonical code (RFC 7541 Appendix B's): codes of one
 * length are consecutive in symbol order, each length's first following
 * the last of the length before. No sort: a first response's headers
 * wait for this, and cold code runs slowly.
 */
function canonicalCodes(): Int32Array {
  const count = new Int32Array(32);
  for (const length of HUFFMAN_LENGTHS) count[length]++;
  const next = new Int32Array(32);
  let code = 0;
  for (let length = 1; length < 32; length++) {
    code = (code + count[length - 1]) << 1;
    next[length] = code;
  }
  const codes = new Int32Array(HUFFMAN_LENGTHS.length);
  for (let symbol = 0; symbol < codes.length; symbol++) {
    codes[symbol] = next[HUFFMAN_LENGTHS[symbol]]++;
  }
  return codes;
}

/**
 * The decoding tree: node n's children are at 2n and 2n+1 of `tree`; a
 * negative entry is a leaf, -(symbol + 1). Built on first use.
 */
let huffmanTree: Int32Array | undefined;

function decodingTree(): Int32Array {
  if (huffmanTree) return huffmanTree;
  const tree = new Int32Array(2 * 600);
  let nodes = 1; // node 0 is the root
  const codes = canonicalCodes();
  for (let symbol = 0; symbol < codes.length; symbol++) {
    const code = codes[symbol];
    let node = 0;
    for (let bit = HUFFMAN_LENGTHS[symbol] - 1; bit > 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (tree[slot] === 0) tree[slot] = nodes++;
      node = tree[slot];
    }
    tree[2 * node + (code & 1)] = -(symbol + 1);
  }
  return huffmanTree = tree;
}

/**
 * Decodes a Huffman-coded string (RFC 7541 5.2): padding must be the EOS
 * code's leading ones and shorter than a byte; EOS itself is an error.
 */
export function huffmanDecode(bytes: Uint8Array): Uint8Array {
  const tree = decodingTree();
  const out: number[] = [];
  let node = 0;
  let depth = 0;
  let allOnes = true;
  for (const byte of bytes) {
    for (let bit = 7; bit >= 0; bit--) {
      const side = (byte >> bit) & 1;
      const next = tree[2 * node + side];
      depth++;
      allOnes &&= side === 1;
      if (next < 0) {
        const symbol = -next - 1;
        if (symbol === 256) throw new HpackError("EOS in a Huffman string");
        out.push(symbol);
        node = 0;
        depth = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HpackError("bad Huffman code");
      } else node = next;
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError("bad Huffman padding");
  return new Uint8Array(out);
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

function pushInteger(
  out: number[],
  value: number,
  prefixBits: number,
  first: number,
): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(first | value);
    return;
  }
  out.push(first | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

function pushString(out: number[], text: string): void {
  const bytes = encoder.encode(text);
  pushInteger(out, bytes.length, 7, 0);
  for (const b of bytes) out.push(b);
}

/**
 * Encodes a header list as literals without indexing (a static name
 * index where there is one), no Huffman: RFC 7541 6.2.2. Names must be
 * lower case (HTTP/2 requires it).
 *
 * @example
 * ```ts
 * import { encodeHeaders, HpackDecoder } from "./hpack.ts";
 * const block = encodeHeaders([[":path", "/a"], ["te", "trailers"]]);
 * const back = new HpackDecoder().decode(block);
 * if (back[1][1] !== "trailers") throw new Error("example failed");
 * ```
 */
export function encodeHeaders(
  headers: readonly (readonly [string, string])[],
): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of headers) {
    const index = STATIC_NAME_INDEX.get(name);
    if (index === undefined) {
      out.push(0);
      pushString(out, name);
    } else pushInteger(out, index, 4, 0);
    pushString(out, value);
  }
  return new Uint8Array(out);
}

/**
 * Decodes the header blocks of one connection, in order (the dynamic
 * table is shared by all of them).
 */
export class HpackDecoder {
  /** Dynamic table, newest first. */
  readonly #table: [string, string][] = [];
  #size = 0;
  #maxSize: number;
  readonly #limit: number;
  readonly #maxListBytes: number;

  /**
   * @param tableSize the SETTINGS_HEADER_TABLE_SIZE we announced (4096 by
   * default): the most the peer may ask the table to hold.
   * @param maxListBytes the largest decoded header list accepted.
   */
  constructor(tableSize = 4096, maxListBytes = 64 * 1024) {
    this.#maxSize = tableSize;
    this.#limit = tableSize;
    this.#maxListBytes = maxListBytes;
  }

  /** The header list in `block`, in order. */
  decode(block: Uint8Array): [string, string][] {
    const headers: [string, string][] = [];
    let pos = 0;
    let listBytes = 0;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError("truncated integer");
      const max = (1 << prefixBits) - 1;
      let value = block[pos++] & max;
      if (value < max) return value;
      let shift = 1;
      for (let i = 0;; i++) {
        if (pos >= block.length) throw new HpackError("truncated integer");
        if (i >= 4) throw new HpackError("integer too large");
        const b = block[pos++];
        value += (b & 127) * shift;
        shift *= 128;
        if ((b & 128) === 0) return value;
      }
    };
    const string = (): string => {
      if (pos >= block.length) throw new HpackError("truncated string");
      const huffman = (block[pos] & 128) !== 0;
      const length = integer(7);
      if (length > block.length - pos) {
        throw new HpackError("truncated string");
      }
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return latin1.decode(huffman ? huffmanDecode(raw) : raw);
    };
    const entry = (index: number): readonly [string, string] => {
      if (index >= 1 && index <= STATIC_TABLE.length) {
        return STATIC_TABLE[index - 1];
      }
      const dynamic = this.#table[index - STATIC_TABLE.length - 1];
      if (index === 0 || !dynamic) {
        throw new HpackError(`bad header index ${index}`);
      }
      return dynamic;
    };
    const emit = (name: string, value: string) => {
      listBytes += name.length + value.length + 32;
      if (listBytes > this.#maxListBytes) {
        throw new HpackError("header list too large");
      }
      headers.push([name, value]);
    };
    while (pos < block.length) {
      const b = block[pos];
      if (b & 128) {
        // Indexed field.
        const [name, value] = entry(integer(7));
        emit(name, value);
      } else if (b & 64) {
        // Literal with incremental indexing.
        const index = integer(6);
        const name = index === 0 ? string() : entry(index)[0];
        const value = string();
        emit(name, value);
        this.#insert(name, value);
      } else if (b & 32) {
        // Dynamic table size update.
        const size = integer(5);
        if (size > this.#limit) {
          throw new HpackError(`table size ${size} over ${this.#limit}`);
        }
        this.#maxSize = size;
        this.#evict();
      } else {
        // Literal without indexing (0000) or never indexed (0001).
        const index = integer(4);
        const name = index === 0 ? string() : entry(index)[0];
        emit(name, string());
      }
    }
    return headers;
  }

  #insert(name: string, value: string): void {
    const size = name.length + value.length + 32;
    if (size > this.#maxSize) {
      this.#table.length = 0;
      this.#size = 0;
      return;
    }
    this.#table.unshift([name, value]);
    this.#size += size;
    this.#evict();
  }

  #evict(): void {
    while (this.#size > this.#maxSize && this.#table.length > 0) {
      const [name, value] = this.#table.pop()!;
      this.#size -= name.length + value.length + 32;
    }
  }
}
