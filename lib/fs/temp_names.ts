// Temporary names: the hidden sibling a file is written under before its
// rename, and the fixed name of a big file's partial copy (kept for a
// rerun to resume); anything matching them is ours to sweep.

export const TEMP_PATTERN = /^\..*\.blit-(?:[0-9a-f]{12}|partial)\.tmp$/;
export const PARTIAL_PATTERN = /^\..*\.blit-partial\.tmp$/;
// Temp names: a random per-thread prefix plus a counter, so the hot path
// makes no random-number call per file; O_EXCL still refuses a clash.
const tempPrefix = Array.from(
  crypto.getRandomValues(new Uint8Array(3)),
  (b) => b.toString(16).padStart(2, "0"),
).join("");
let tempCounter = 0;

function randomHex(): string {
  tempCounter = (tempCounter + 1) % 0x1000000;
  return tempPrefix + tempCounter.toString(16).padStart(6, "0");
}

const utf8 = new TextEncoder();
/** Longest part of a final name kept in a temp name, in UTF-8 bytes. */
const TEMP_NAME_BYTES = 200;

/** `name` cut to at most `bytes` UTF-8 bytes (never inside a character). */
function cutName(name: string, bytes: number): string {
  if (name.length * 3 <= bytes) return name;
  let short = name;
  while (utf8.encode(short).length > bytes) {
    short = Array.from(short).slice(0, -1).join("");
  }
  return short;
}

/** FNV-1a, 64 bits, as 16 hex digits: tells long names apart in a temp name. */
function nameDigest(name: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of utf8.encode(name)) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, "0");
}

/** A hidden sibling name for `name`; long names are cut so it stays legal. */
export function tempNameFor(name: string): string {
  return `.${cutName(name, TEMP_NAME_BYTES)}.blit-${randomHex()}.tmp`;
}

/**
 * The partial copy's name for a final name: the same for every transfer
 * of that file, so an interrupted one can be found again. A name too long
 * to fit whole gets a digest of the full name, so two long names never
 * share one.
 *
 * @example
 * ```ts
 * import { partialNameFor } from "@blit/cli/internals";
 * if (partialNameFor("big") !== ".big.blit-partial.tmp") throw new Error("example failed");
 * const a = partialNameFor("x".repeat(201) + "a"), b = partialNameFor("x".repeat(201) + "b");
 * if (a === b) throw new Error("example failed");
 * ```
 */
export function partialNameFor(name: string): string {
  const whole = name.length * 3 <= TEMP_NAME_BYTES ||
    utf8.encode(name).length <= TEMP_NAME_BYTES;
  if (whole) return `.${name}.blit-partial.tmp`;
  return `.${cutName(name, 150)}~${nameDigest(name)}.blit-partial.tmp`;
}

/**
 * Whether a name is one of our temp files (listings hide them).
 *
 * @example
 * ```ts
 * import { isTempName } from "@blit/cli/internals";
 * if (!(isTempName(".a.blit-0123456789ab.tmp") && isTempName(".a.blit-partial.tmp") && !isTempName("a"))) throw new Error("example failed");
 * ```
 */
export function isTempName(name: string): boolean {
  return TEMP_PATTERN.test(name);
}
