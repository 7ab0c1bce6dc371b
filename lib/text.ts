// Short ASCII strings to and from bytes without a runtime call.
//
// TextEncoder.encode and TextDecoder.decode each cross into the runtime
// (~0.5-1 us a call here, plus a new buffer); the names that go by the
// tens of thousands (paths in manifests and system calls) are short and
// mostly ASCII, which a plain loop handles in ~0.1 us. Anything else
// takes the runtime's codec.

/** Longest input the loops take; longer text goes to the runtime's codec. */
const SHORT = 256;

/**
 * `bytes[start, end)` as a string when all of it is ASCII and it is
 * short, else undefined (decode it with a TextDecoder then).
 *
 * @example
 * ```ts
 * import { asciiText } from "./text.ts";
 * if (asciiText(Uint8Array.of(0x61, 0x2f, 0x62), 0, 3) !== "a/b") throw new Error("example failed");
 * if (asciiText(Uint8Array.of(0xc3, 0xa9), 0, 2) !== undefined) throw new Error("example failed");
 * ```
 */
export function asciiText(
  bytes: Uint8Array,
  start: number,
  end: number,
): string | undefined {
  if (end - start > SHORT) return undefined;
  for (let i = start; i < end; i++) {
    if (bytes[i] > 0x7f) return undefined;
  }
  return String.fromCharCode.apply(
    null,
    bytes.subarray(start, end) as unknown as number[],
  );
}

/**
 * Writes `text` into `out` at `at` when it is all ASCII, without NUL,
 * and fits: returns the bytes written, or -1 (nothing usable written;
 * encode it with a TextEncoder then).
 *
 * @example
 * ```ts
 * import { asciiInto } from "./text.ts";
 * const out = new Uint8Array(8);
 * if (asciiInto("ab", out, 1) !== 2 || out[1] !== 0x61) throw new Error("example failed");
 * if (asciiInto("é", out, 0) !== -1) throw new Error("example failed");
 * ```
 */
export function asciiInto(text: string, out: Uint8Array, at: number): number {
  const n = text.length;
  if (n > SHORT * 16 || at + n > out.length) return -1;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0 || c > 0x7f) return -1;
    out[at + i] = c;
  }
  return n;
}
