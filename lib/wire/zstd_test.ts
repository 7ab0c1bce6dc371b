import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { loadZstd, zstd } from "./zstd.ts";

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
