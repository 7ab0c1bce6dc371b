import { assertEquals } from "../../tests/_assert.ts";
import { loadHashWasm } from "../deps/hash_wasm.ts";
import { nativeHasher, primeNativeHash } from "./native_hash.ts";

Deno.test("nativeHasher: the same xxh3-128 digests as hash-wasm, whole or in pieces", async () => {
  const native = nativeHasher();
  if (!native) {
    // No libxxhash here: the wasm hasher is what runs, nothing to compare.
    assertEquals(native, undefined);
    return;
  }
  const wasm = await (await loadHashWasm()).createXXHash128();
  for (const size of [0, 1, 15, 16, 17, 240, 241, 4096, 1 << 20, 3_000_001]) {
    const data = new Uint8Array(size).map((_, i) => (i * 131 + size) & 0xff);
    wasm.init();
    wasm.update(data);
    const want = wasm.digest("binary");
    assertEquals(native.init().update(data).digest("binary"), want, `${size}`);
    // Fed in odd pieces.
    native.init();
    for (let at = 0; at < size; at += 7919) {
      native.update(data.subarray(at, Math.min(size, at + 7919)));
    }
    assertEquals(native.digest("binary"), want, `${size} in pieces`);
  }
});

Deno.test("primeNativeHash binds every libxxhash function once; hashing after it is unchanged", async () => {
  const first = primeNativeHash();
  if (nativeHasher() === undefined) {
    assertEquals(first, 0);
    return;
  }
  // All bound now (some may have been before, by other tests).
  assertEquals(primeNativeHash(), 0);
  const data = new Uint8Array(100_000).map((_, i) => (i * 31) >> 2);
  const want = (await (await loadHashWasm()).createXXHash128()).init()
    .update(data)
    .digest("binary");
  assertEquals(
    nativeHasher()!.init().update(data).digest("binary"),
    want,
  );
});

Deno.test("nativeHasher: a state saved after some bytes goes on in another hasher as if they had been added there; a state of another length is refused", async () => {
  const a = nativeHasher();
  if (!a) return;
  const b = nativeHasher()!;
  const head = new Uint8Array(1_000_003).map((_, i) => (i * 7919) & 255);
  const tail = new Uint8Array(12_345).fill(3);
  const state = a.init().update(head).saveState?.();
  if (!state) return; // not libxxhash 0.8: no state to move
  assertEquals(b.init().loadState!(state), true);
  const want = (await (await loadHashWasm()).createXXHash128()).init()
    .update(head).update(tail).digest("binary");
  assertEquals(b.update(tail).digest("binary"), want);
  assertEquals(a.update(tail).digest("binary"), want);
  assertEquals(b.loadState!(state.subarray(1)), false);
});
