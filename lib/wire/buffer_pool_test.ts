import { assert, assertEquals } from "../../tests/_assert.ts";
import { giveBuffer, keptBuffers, takeBuffer } from "./buffer_pool.ts";

/** Empties the kept buffers (a test's own start). */
function drain(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 100 && keptBuffers() > 0; i++) out.push(takeBuffer(0));
  assertEquals(keptBuffers(), 0);
  return out;
}

Deno.test("buffer pool: a buffer given back is zeroed and handed out again, the smallest that fits first", () => {
  drain();
  const big = takeBuffer(4 << 10);
  const small = takeBuffer(2 << 10);
  assertEquals([big.length, small.length], [4096, 2048]);
  big.fill(7);
  small.fill(9);
  giveBuffer(big);
  giveBuffer(small);
  assertEquals(keptBuffers(), 2);
  const again = takeBuffer(1000);
  assert(again === small, "the smallest kept buffer that holds 1000 bytes");
  assertEquals(again.every((b) => b === 0), true);
  const other = takeBuffer(3000);
  assert(other === big);
  assertEquals(other.every((b) => b === 0), true);
  // None kept holds this much: a new one, of the size asked.
  assertEquals(takeBuffer(5000).length, 5000);
  assertEquals(keptBuffers(), 0);
});

Deno.test("buffer pool: views, empty or detached buffers, one given twice and big ones are not kept; at most eight are", () => {
  drain();
  const whole = new Uint8Array(100);
  giveBuffer(whole.subarray(1));
  giveBuffer(whole.subarray(0, 50));
  giveBuffer(new Uint8Array(0));
  const moved = new Uint8Array(64);
  structuredClone(moved.buffer, { transfer: [moved.buffer] });
  giveBuffer(moved);
  giveBuffer(new Uint8Array((4 << 20) + 1));
  assertEquals(keptBuffers(), 0);
  giveBuffer(whole);
  giveBuffer(whole);
  assertEquals(keptBuffers(), 1);
  for (let i = 0; i < 20; i++) giveBuffer(new Uint8Array(10));
  assertEquals(keptBuffers(), 8);
  drain();
});

Deno.test("giveBuffer: a buffer given back twice, through two views of the whole of it, is kept once", () => {
  drain();
  const buffer = new Uint8Array(4096);
  giveBuffer(buffer);
  giveBuffer(new Uint8Array(buffer.buffer));
  assertEquals(keptBuffers(), 1);
  const a = takeBuffer(100);
  const b = takeBuffer(100);
  assertEquals(a.buffer === b.buffer, false);
});
