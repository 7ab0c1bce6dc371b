// Test helper: deterministic pseudo-random bytes.

/** `size` bytes of xorshift32 (one byte a step), from `seed` (0 counts as 1). */
export function xorshiftBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}
