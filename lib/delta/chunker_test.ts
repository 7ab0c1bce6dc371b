import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { xorshiftBytes } from "../../tests/_bytes.ts";
import { avgBitsFor, Chunker, MAX_BASIS_CHUNKS } from "./chunker.ts";

/** The cut offsets of `data`, fed in pieces of `piece` bytes. */
function cuts(data: Uint8Array, avgBits: number, piece: number): number[] {
  const chunker = new Chunker(avgBits);
  const out: number[] = [];
  let base = 0;
  for (let at = 0; at < data.length; at += piece) {
    const view = data.subarray(at, Math.min(data.length, at + piece));
    for (let from = 0; from < view.length;) {
      const end = chunker.scan(view, from);
      if (end < 0) break;
      out.push(base + end);
      from = end;
    }
    base += view.length;
  }
  if (out.at(-1) !== data.length) out.push(data.length);
  return out;
}

Deno.test("chunker: the cuts depend on the bytes only, not on how they are fed", () => {
  const data = xorshiftBytes(300_000, 7);
  const whole = cuts(data, 12, data.length);
  assertEquals(cuts(data, 12, 1), whole);
  assertEquals(cuts(data, 12, 4097), whole);
  assertEquals(cuts(data, 12, 65_536), whole);
});

Deno.test("chunker: chunks stay within a quarter and four times the average", () => {
  const data = xorshiftBytes(1 << 20, 3);
  const at = cuts(data, 12, 1 << 20);
  let last = 0;
  for (const cut of at.slice(0, -1)) {
    const length = cut - last;
    if (length < 1024 || length > 16384) {
      throw new Error(`chunk of ${length} bytes`);
    }
    last = cut;
  }
  // About the average on random data.
  const mean = data.length / at.length;
  if (mean < 2500 || mean > 8000) throw new Error(`mean chunk ${mean}`);
});

Deno.test("chunker: an insertion moves the cuts after it along with the bytes", () => {
  const data = xorshiftBytes(200_000, 11);
  const inserted = new Uint8Array(data.length + 100);
  inserted.set(data.subarray(0, 50_000));
  inserted.set(xorshiftBytes(100, 99), 50_000);
  inserted.set(data.subarray(50_000), 50_100);
  const before = new Set(cuts(data, 11, data.length).filter((c) => c > 60_000));
  const after = cuts(inserted, 11, inserted.length).filter((c) => c > 60_100)
    .map((c) => c - 100);
  const shared = after.filter((c) => before.has(c)).length;
  if (shared < after.length - 1) {
    throw new Error(`${shared} of ${after.length} cuts resynchronised`);
  }
});

Deno.test("chunker: sizes give about sqrt(size) chunks, bounded in count", () => {
  assertEquals(avgBitsFor(0), 11);
  assertEquals(avgBitsFor(4096), 11);
  assertEquals(avgBitsFor(1 << 20), 11);
  assertEquals(avgBitsFor(16 << 20), 11);
  assertEquals(avgBitsFor(64 << 20), 12);
  assertEquals(avgBitsFor(128 << 20), 13);
  // 1 GiB keeps half its square root (the count bound allows 65,536
  // chunks of 16 KiB); 4 GiB is bounded: 2^18 quarter-average chunks.
  assertEquals(avgBitsFor(1 << 30), 14);
  assertEquals(avgBitsFor(4 * 2 ** 30), 16);
  // 100 GiB: chunks of at least avg/4 never exceed the bound.
  const size = 100 * 2 ** 30;
  const bits = avgBitsFor(size);
  if ((4 * size) / 2 ** bits > MAX_BASIS_CHUNKS) throw new Error(`${bits}`);
  assertThrows(() => avgBitsFor(-1), RangeError);
  assertThrows(() => new Chunker(10), RangeError);
  assertThrows(() => new Chunker(25), RangeError);
});

/** The gear chunker as plain JavaScript, one byte at a time: the reference. */
function referenceCuts(data: Uint8Array, avgBits: number): number[] {
  const gear = new Int32Array(256);
  let s = 0x2545f491;
  for (let i = 0; i < 256; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    gear[i] = s;
  }
  const avg = 1 << avgBits;
  const [min, max] = [avg >> 2, avg * 4];
  const top = (bits: number) => (~0 << (32 - bits)) | 0;
  const [hard, easy] = [top(avgBits), top(avgBits - 1)];
  const cuts: number[] = [];
  let start = 0;
  while (start < data.length) {
    let hash = 0;
    let end = Math.min(data.length, start + max);
    for (let i = start + min; i < end; i++) {
      hash = ((hash << 1) + gear[data[i]]) | 0;
      if ((hash & (i - start < avg ? hard : easy)) === 0) {
        end = i + 1;
        break;
      }
    }
    cuts.push(end);
    start = end;
  }
  return cuts;
}

Deno.test("chunker: the WebAssembly loop cuts exactly where the plain gear hash does, fed any way", () => {
  let seed = 99;
  const data = new Uint8Array(3 << 20).map(() => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed & 0xff;
  });
  // Long runs of one byte: cuts forced at four times the average.
  data.fill(7, 1 << 20, (1 << 20) + 100_000);
  // 19: chunks up to 2 MiB, scanned from outside in 1 MiB slices.
  for (const avgBits of [11, 12, 14, 19]) {
    const want = referenceCuts(data, avgBits);
    // Fed in odd pieces from a plain array (copied into the loop's memory).
    const fed: number[] = [];
    const chunker = new Chunker(avgBits);
    let offset = 0;
    for (const piece of [1, 4999, 65536, 333, 1 << 20, data.length]) {
      const part = data.subarray(offset, Math.min(data.length, offset + piece));
      for (let at = 0; at < part.length;) {
        const end = chunker.scan(part, at);
        if (end < 0) break;
        fed.push(offset + end);
        at = end;
      }
      offset += part.length;
      if (offset >= data.length) break;
    }
    if (fed.at(-1) !== data.length) fed.push(data.length);
    assertEquals(fed, want);
    // From the loop's own data area (scanned in place).
    const own = new Chunker(avgBits);
    const buffer = own.buffer(data.length);
    buffer.set(data);
    const inPlace: number[] = [];
    for (let at = 0; at < data.length;) {
      const end = own.scan(buffer, at);
      if (end < 0) break;
      inPlace.push(end);
      at = end;
    }
    if (inPlace.at(-1) !== data.length) inPlace.push(data.length);
    assertEquals(inPlace, want);
  }
});
