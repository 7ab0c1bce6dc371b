import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { Bandwidth, parseRate } from "./bandwidth.ts";

Deno.test("parseRate: rsync's units (bare KiB/s; K, M, G powers of 1024; KB, MB powers of 1000; B bytes; 0 none)", () => {
  assertEquals(parseRate("500"), 500 * 1024);
  assertEquals(parseRate("500K"), 500 * 1024);
  assertEquals(parseRate("10M"), 10 * 1024 ** 2);
  assertEquals(parseRate("1.5g"), 1.5 * 1024 ** 3);
  assertEquals(parseRate("2MiB"), 2 * 1024 ** 2);
  assertEquals(parseRate("2MB"), 2 * 1000 ** 2);
  assertEquals(parseRate("800B"), 800);
  assertEquals(parseRate("0.5"), 512);
  assertEquals(parseRate("0"), null);
  assertEquals(parseRate("0K"), null);
  for (const bad of ["", "x", "-1", "1e9", "M", "0.1B", "10X", "5 KBs"]) {
    assertEquals(parseRate(bad), undefined, bad);
  }
});

Deno.test("Bandwidth: callers on several streams share one budget", async () => {
  const limit = new Bandwidth(4 << 20); // 4 MiB/s
  const t0 = performance.now();
  // 2 MiB over two "streams": ~0.5 s in all (less the 50 ms burst).
  await Promise.all(
    [0, 1].map(async () => {
      for (let i = 0; i < 8; i++) await limit.take(128 << 10);
    }),
  );
  const ms = performance.now() - t0;
  assertEquals(ms >= 400, true, `${ms} ms`);
  assertThrows(() => new Bandwidth(0), RangeError, /positive/);
});
