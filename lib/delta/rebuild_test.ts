import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { contentHasher, hashBytes } from "../fs/hash.ts";
import { DeltaRangeError, DeltaRebuild } from "./rebuild.ts";

async function rebuildOf(basis: Uint8Array, size: number) {
  const path = Deno.makeTempFileSync();
  Deno.writeFileSync(path, basis);
  const file = Deno.openSync(path);
  const out: number[] = [];
  const rebuild = new DeltaRebuild(
    file,
    basis.length,
    size,
    (b) => out.push(...b),
    await contentHasher(),
  );
  return {
    rebuild,
    out,
    [Symbol.dispose]() {
      file.close();
      Deno.removeSync(path);
    },
  };
}

Deno.test("rebuild: copies and literals append in order, hashed whole", async () => {
  using r = await rebuildOf(Uint8Array.of(10, 11, 12, 13, 14), 7);
  r.rebuild.copy(3, 2);
  r.rebuild.literal(Uint8Array.of(1, 2));
  r.rebuild.copy(0, 3);
  assertEquals(r.out, [13, 14, 1, 2, 10, 11, 12]);
  assertEquals(
    [...r.rebuild.finish()],
    [...await hashBytes(Uint8Array.of(13, 14, 1, 2, 10, 11, 12))],
  );
  assertEquals(r.rebuild.matched, 5);
  assertEquals(r.rebuild.literalBytes, 2);
});

Deno.test("rebuild: instructions outside the old copy or past the new size are refused", async () => {
  using r = await rebuildOf(new Uint8Array(100), 50);
  const refused = (fn: () => void, text: string) => {
    const error = assertThrows(fn, DeltaRangeError);
    if (!error.message.includes(text)) throw new Error(error.message);
  };
  refused(() => r.rebuild.copy(90, 11), "outside the old copy's 100 bytes");
  refused(() => r.rebuild.copy(-1, 5), "outside");
  refused(() => r.rebuild.copy(0, 0), "outside");
  refused(() => r.rebuild.copy(2 ** 53, 1), "outside");
  refused(() => r.rebuild.copy(0.5, 1), "outside");
  r.rebuild.copy(0, 40);
  refused(() => r.rebuild.copy(0, 11), "past the file's 50 bytes");
  refused(
    () => r.rebuild.literal(new Uint8Array(11)),
    "past the file's 50 bytes",
  );
  refused(() => r.rebuild.finish(), "ended at 40 of its 50 bytes");
  assertEquals(r.out.length, 40);
});
