import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { loadZstd, zstd, zstdBound } from "./zstd.ts";

const text = new TextEncoder().encode(
  "2026-12-03 21:00:00 INFO request served in 12 ms\n".repeat(4000),
);

Deno.test("zstd: libzstd where it loads, frames node:zlib reads and makes, sync and async", async () => {
  const z = await loadZstd();
  assertEquals(zstd(), z);
  if (Deno.build.os === "linux") assertEquals(z.kind, "libzstd");
  const zlib = await import("node:zlib");
  for (const level of [1, 3, 19]) {
    const packed = z.compressSync(text, level);
    assertEquals(packed.length < text.length / 10, true);
    assertEquals(
      new Uint8Array(zlib.zstdDecompressSync(packed)),
      new Uint8Array(text),
    );
    assertEquals(await z.decompress(packed, text.length), new Uint8Array(text));
    const async = await z.compress(text, level);
    assertEquals(z.decompressSync(async, text.length), new Uint8Array(text));
  }
  const theirs = zlib.zstdCompressSync(text);
  assertEquals(z.decompressSync(theirs, text.length), new Uint8Array(text));
  assertEquals(
    z.decompressSync(z.compressSync(new Uint8Array(0), 3), 0).length,
    0,
  );
});

Deno.test("zstd: data that is not zstd, or unpacks past its bound, is an error, not a big allocation", async () => {
  const z = await loadZstd();
  const packed = z.compressSync(text, 3);
  // A bomb: more than the size the caller allows.
  assertThrows(() => z.decompressSync(packed, text.length - 1), Error);
  let failed = false;
  await z.decompress(packed, 100).catch(() => failed = true);
  assertEquals(failed, true);
  assertThrows(() => z.decompressSync(new Uint8Array([1, 2, 3, 4]), 10), Error);
  assertThrows(
    () => z.decompressSync(packed.subarray(0, 20), text.length),
    Error,
  );
  assertThrows(() => z.compressSync(text, 0), RangeError);
});

Deno.test("zstd: compress and decompress write into a buffer given big enough (libzstd), else into a new one", async () => {
  const z = await loadZstd();
  const room = z.bound(text.length);
  assertEquals(room >= text.length, true);
  const into = new Uint8Array(room + 100).fill(7);
  const packed = await z.compress(text, 3, into);
  if (z.kind === "libzstd") {
    assertEquals([packed.buffer === into.buffer, packed.byteOffset], [
      true,
      0,
    ]);
  }
  const out = new Uint8Array(text.length + 10);
  const back = await z.decompress(packed, text.length, out);
  assertEquals(back, new Uint8Array(text));
  if (z.kind === "libzstd") assertEquals(back.buffer === out.buffer, true);
  // Too small a buffer: a new one, the same bytes.
  const small = new Uint8Array(10);
  const other = await z.compress(text, 3, small);
  assertEquals(other.buffer === small.buffer, false);
  assertEquals(z.decompressSync(other, text.length), new Uint8Array(text));
  const tight = await z.decompress(packed, text.length, new Uint8Array(5));
  assertEquals(tight, new Uint8Array(text));
  // The blocking call alike (either library: node:zlib's result is copied).
  const room2 = new Uint8Array(room);
  const packedHere = z.compressSync(text, 3, room2);
  assertEquals(packedHere.buffer === room2.buffer, true);
  assertEquals(z.decompressSync(packedHere, text.length), new Uint8Array(text));
  const elsewhere = z.compressSync(text, 3, new Uint8Array(10));
  assertEquals(elsewhere, packedHere);
  // The bound node:zlib's side uses is libzstd's own.
  if (z.kind === "libzstd") {
    for (const n of [0, 1, 1000, 128 << 10, (128 << 10) + 1, 1 << 20]) {
      assertEquals(zstdBound(n), z.bound(n), `${n}`);
    }
  }
  // node:zlib's frames fit in it.
  const zlib = await import("node:zlib");
  assertEquals(
    new Uint8Array(zlib.zstdCompressSync(text)).length <= room,
    true,
  );
});

Deno.test("zstd: many calls at once (each its own kept context) and after one another, at blit's levels and above, all exact", async () => {
  const z = await loadZstd();
  const bodies = Array.from(
    { length: 12 },
    (_, i) => text.subarray(i * 1000, text.length - i * 3000),
  );
  for (const level of [1, 6, 12]) {
    // Twelve at once (more than the contexts kept), twice over.
    for (let round = 0; round < 2; round++) {
      const packed = await Promise.all(
        bodies.map((b) => z.compress(b, level)),
      );
      const back = await Promise.all(
        packed.map((p, i) => z.decompress(p, bodies[i].length)),
      );
      back.forEach((b, i) => assertEquals(b, new Uint8Array(bodies[i])));
      // And one after another on this thread, a bad frame between.
      for (const [i, b] of bodies.entries()) {
        assertEquals(
          z.decompressSync(z.compressSync(b, level), b.length),
          new Uint8Array(b),
        );
        if (i === 5) {
          assertThrows(
            () => z.decompressSync(Uint8Array.of(1, 2, 3), 9),
            Error,
          );
        }
      }
    }
  }
});
