import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { contentHasher, hashBytes } from "../fs/hash.ts";
import {
  DEFER_MAX,
  DeltaRangeError,
  DeltaRebuild,
  type WholeCopy,
} from "./rebuild.ts";
import { nativeHasher } from "../fs/native_hash.ts";

async function rebuildOf(
  basis: Uint8Array,
  size: number,
  deferSame = false,
  known?: Uint8Array,
  whole?: (out: number[]) => WholeCopy,
) {
  const path = Deno.makeTempFileSync();
  Deno.writeFileSync(path, basis);
  const opened = Deno.openSync(path);
  // Counts the old copy's bytes read back.
  const reads = { bytes: 0 };
  const file = Object.assign(Object.create(opened), {
    readSync(p: Uint8Array) {
      const n = opened.readSync(p);
      reads.bytes += n ?? 0;
      return n;
    },
    seekSync: (o: number, w: Deno.SeekMode) => opened.seekSync(o, w),
    close: () => opened.close(),
  });
  const out: number[] = [];
  const rebuild = new DeltaRebuild(
    file,
    basis.length,
    size,
    (b) => {
      for (const x of b) out.push(x);
    },
    await contentHasher(),
    deferSame,
    known,
    whole?.(out),
  );
  return {
    rebuild,
    out,
    reads,
    [Symbol.dispose]() {
      opened.close();
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

Deno.test("rebuild: deferring the old copy's own bytes writes nothing for an identical file, and everything once anything else follows", async () => {
  const basis = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
  const hashOf = async (b: Uint8Array) => [...await hashBytes(b)];
  // Identical: in order, from the start, all of it.
  {
    using r = await rebuildOf(basis, 3000, true);
    r.rebuild.copy(0, 1000);
    r.rebuild.copy(1000, 2000);
    assertEquals([...r.rebuild.finish()], await hashOf(basis));
    assertEquals(r.rebuild.unchanged, true);
    assertEquals(r.out.length, 0);
    assertEquals(r.rebuild.matched, 3000);
    // Asked to write after all (the old copy could not take the new
    // attributes): the whole file, once.
    r.rebuild.materialize();
    r.rebuild.materialize();
    assertEquals(r.out, [...basis]);
  }
  // A literal after a same-offset run: the run is written first.
  {
    using r = await rebuildOf(basis, 1002, true);
    r.rebuild.copy(0, 1000);
    assertEquals(r.out.length, 0);
    r.rebuild.literal(Uint8Array.of(1, 2));
    const want = [...basis.subarray(0, 1000), 1, 2];
    assertEquals(r.out, want);
    assertEquals([...r.rebuild.finish()], await hashOf(Uint8Array.from(want)));
    assertEquals(r.rebuild.unchanged, false);
  }
  // A copy from elsewhere after the run: written in order.
  {
    using r = await rebuildOf(basis, 1500, true);
    r.rebuild.copy(0, 500);
    r.rebuild.copy(2000, 1000);
    const want = [...basis.subarray(0, 500), ...basis.subarray(2000, 3000)];
    assertEquals(r.out, want);
    assertEquals([...r.rebuild.finish()], await hashOf(Uint8Array.from(want)));
    assertEquals(r.rebuild.unchanged, false);
  }
  // Truncated: the old copy's start only is not the old copy; nothing is
  // written until asked.
  {
    using r = await rebuildOf(basis, 1200, true);
    r.rebuild.copy(0, 1200);
    assertEquals(
      [...r.rebuild.finish()],
      await hashOf(basis.subarray(0, 1200)),
    );
    assertEquals(r.rebuild.unchanged, false);
    assertEquals(r.out.length, 0);
    r.rebuild.materialize();
    assertEquals(r.out, [...basis.subarray(0, 1200)]);
  }
  // Past DEFER_MAX, the old copy's start is written as it comes.
  {
    const big = new Uint8Array(DEFER_MAX + 4096).fill(5);
    using r = await rebuildOf(big, big.length, true);
    r.rebuild.copy(0, 4096);
    assertEquals(r.out.length, 0);
    r.rebuild.copy(4096, DEFER_MAX);
    assertEquals(r.out.length, big.length);
    assertEquals([...r.rebuild.finish()], await hashOf(big));
    assertEquals(r.rebuild.unchanged, false);
  }
  // Without deferring, bytes are written as they come.
  {
    using r = await rebuildOf(basis, 3000);
    r.rebuild.copy(0, 3000);
    assertEquals(r.out.length, 3000);
    r.rebuild.finish();
    assertEquals(r.rebuild.unchanged, false);
  }
});

Deno.test("rebuild: an old copy whose hash is known is not read back when the new file is that copy, and is read once otherwise", async () => {
  const basis = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
  const known = await hashBytes(basis);
  const hashOf = async (b: Uint8Array) => [...await hashBytes(b)];
  // Identical: counted, not read; the known hash is the result.
  {
    using r = await rebuildOf(basis, 3000, true, known);
    r.rebuild.copy(0, 1000);
    r.rebuild.copy(1000, 2000);
    assertEquals([...r.rebuild.finish()], [...known]);
    assertEquals(r.rebuild.unchanged, true);
    assertEquals(r.reads.bytes, 0);
    assertEquals(r.out.length, 0);
    // Written after all: the whole file, read once.
    r.rebuild.materialize();
    assertEquals(r.out, [...basis]);
    assertEquals(r.reads.bytes, 3000);
  }
  // An append: the run is read once, hashed and written on that read.
  {
    using r = await rebuildOf(basis, 3002, true, known);
    r.rebuild.copy(0, 3000);
    assertEquals(r.reads.bytes, 0);
    r.rebuild.literal(Uint8Array.of(1, 2));
    const want = [...basis, 1, 2];
    assertEquals(r.out, want);
    assertEquals(r.reads.bytes, 3000);
    assertEquals([...r.rebuild.finish()], await hashOf(Uint8Array.from(want)));
    assertEquals(r.rebuild.unchanged, false);
  }
  // A copy from elsewhere after the run: the run's bytes hashed too.
  {
    using r = await rebuildOf(basis, 1500, true, known);
    r.rebuild.copy(0, 500);
    r.rebuild.copy(2000, 1000);
    const want = [...basis.subarray(0, 500), ...basis.subarray(2000, 3000)];
    assertEquals(r.out, want);
    assertEquals([...r.rebuild.finish()], await hashOf(Uint8Array.from(want)));
  }
  // Truncated: the start's own hash, then written once asked.
  {
    using r = await rebuildOf(basis, 1200, true, known);
    r.rebuild.copy(0, 1200);
    assertEquals(
      [...r.rebuild.finish()],
      await hashOf(basis.subarray(0, 1200)),
    );
    assertEquals(r.rebuild.unchanged, false);
    r.rebuild.materialize();
    assertEquals(r.out, [...basis.subarray(0, 1200)]);
  }
  // A wrong known hash is what finish says: the sender's hash then
  // differs and the file never lands (the sink's check).
  {
    const wrong = known.slice();
    wrong[0] ^= 1;
    using r = await rebuildOf(basis, 3000, true, wrong);
    r.rebuild.copy(0, 3000);
    assertEquals([...r.rebuild.finish()], [...wrong]);
  }
  // Past DEFER_MAX too: nothing read while it is the old copy.
  {
    const big = new Uint8Array(DEFER_MAX + 4096).fill(5);
    using r = await rebuildOf(big, big.length, true, await hashBytes(big));
    r.rebuild.copy(0, 4096);
    r.rebuild.copy(4096, DEFER_MAX);
    assertEquals(r.reads.bytes, 0);
    assertEquals(r.out.length, 0);
    assertEquals([...r.rebuild.finish()], await hashOf(big));
    assertEquals(r.rebuild.unchanged, true);
  }
  // Without deferring, a known hash changes nothing: read and hashed.
  {
    using r = await rebuildOf(basis, 3000, false, known);
    r.rebuild.copy(0, 3000);
    assertEquals(r.reads.bytes, 3000);
    assertEquals([...r.rebuild.finish()], [...known]);
  }
});

Deno.test("rebuild: two files rebuilt in turns, the smaller first, each gets its own old bytes (one read buffer a thread)", async () => {
  const pattern = (n: number, salt: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i * 31 + salt) & 0xff);
  const smallOld = pattern(3000, 1);
  const bigOld = pattern(300_000, 2);
  using small = await rebuildOf(smallOld, 3000);
  using big = await rebuildOf(bigOld, 300_000);
  // In turns: each copy reads its old copy through the shared buffer,
  // which grows for the big file between the small one's reads.
  small.rebuild.copy(1500, 1500);
  big.rebuild.copy(100_000, 200_000);
  small.rebuild.copy(0, 1500);
  big.rebuild.copy(0, 100_000);
  const smallNew = [...smallOld.subarray(1500), ...smallOld.subarray(0, 1500)];
  const bigNew = [...bigOld.subarray(100_000), ...bigOld.subarray(0, 100_000)];
  assertEquals(small.out, smallNew);
  assertEquals(big.out, bigNew);
  assertEquals(
    [...small.rebuild.finish()],
    [...await hashBytes(Uint8Array.from(smallNew))],
  );
  assertEquals(
    [...big.rebuild.finish()],
    [...await hashBytes(Uint8Array.from(bigNew))],
  );
});

Deno.test("rebuild: an append to an old copy whose hash and hasher state are known copies the old bytes without reading them and hashes on from that state; a state that does not give the known hash, or a copy cut short, falls back to reading", async () => {
  const saver = nativeHasher();
  if (!saver?.saveState?.()) return; // no libxxhash 0.8 here: reads, as above
  const basis = Uint8Array.from({ length: 3000 }, (_, i) => (i * 7) % 251);
  const known = await hashBytes(basis);
  const state = saver.init().update(basis).saveState!()!;
  const want = Uint8Array.from([...basis, 1, 2]);
  const wantHash = [...await hashBytes(want)];
  // `share` of each copy is written by the kernel (here: pushed to out).
  const whole =
    (s: Uint8Array, share = 1, calls: number[][] = []) =>
    (out: number[]): WholeCopy => ({
      state: s,
      copy(offset, length) {
        calls.push([offset, length]);
        const n = Math.floor(length * share);
        for (const x of basis.subarray(offset, offset + n)) out.push(x);
        return n;
      },
    });
  {
    const calls: number[][] = [];
    using r = await rebuildOf(basis, 3002, true, known, whole(state, 1, calls));
    r.rebuild.copy(0, 1000);
    r.rebuild.copy(1000, 2000);
    r.rebuild.literal(Uint8Array.of(1, 2));
    assertEquals(calls, [[0, 3000]]);
    assertEquals(r.reads.bytes, 0);
    assertEquals(r.out, [...want]);
    assertEquals([...r.rebuild.finish()], wantHash);
  }
  // Half copied by the kernel: the rest read (not hashed twice).
  {
    using r = await rebuildOf(basis, 3002, true, known, whole(state, 0.5));
    r.rebuild.copy(0, 3000);
    r.rebuild.literal(Uint8Array.of(1, 2));
    assertEquals(r.reads.bytes, 1500);
    assertEquals(r.out, [...want]);
    assertEquals([...r.rebuild.finish()], wantHash);
  }
  // A state of other bytes: not used (the known hash says so); read.
  {
    const calls: number[][] = [];
    const other = saver.init().update(basis.subarray(1)).saveState!()!;
    using r = await rebuildOf(basis, 3002, true, known, whole(other, 1, calls));
    r.rebuild.copy(0, 3000);
    r.rebuild.literal(Uint8Array.of(1, 2));
    assertEquals(calls, []);
    assertEquals(r.reads.bytes, 3000);
    assertEquals(r.out, [...want]);
    assertEquals([...r.rebuild.finish()], wantHash);
  }
  // Not the whole old copy first (an edit inside it): read as before.
  {
    const calls: number[][] = [];
    using r = await rebuildOf(basis, 2002, true, known, whole(state, 1, calls));
    r.rebuild.copy(0, 2000);
    r.rebuild.literal(Uint8Array.of(1, 2));
    assertEquals(calls, []);
    assertEquals(r.reads.bytes, 2000);
    assertEquals(
      [...r.rebuild.finish()],
      [...await hashBytes(Uint8Array.from([...basis.subarray(0, 2000), 1, 2]))],
    );
  }
});

Deno.test("rebuild: appended only when the new file is longer and begins with all of the old copy, at its own offsets", async () => {
  const basis = Uint8Array.of(10, 11, 12, 13, 14);
  const cases: [string, number, (r: DeltaRebuild) => void, boolean][] = [
    ["the old copy in two copies, then more", 7, (r) => {
      r.copy(0, 2);
      r.copy(2, 3);
      r.literal(Uint8Array.of(1, 2));
    }, true],
    ["the old copy and a copy of its start", 8, (r) => {
      r.copy(0, 5);
      r.copy(0, 3);
    }, true],
    ["a literal first", 7, (r) => {
      r.literal(Uint8Array.of(9));
      r.copy(0, 5);
      r.literal(Uint8Array.of(1));
    }, false],
    ["its start, more, then its end", 7, (r) => {
      r.copy(0, 3);
      r.literal(Uint8Array.of(1, 2));
      r.copy(3, 2);
    }, false],
    ["out of order", 7, (r) => {
      r.copy(2, 3);
      r.copy(0, 2);
      r.literal(Uint8Array.of(1, 2));
    }, false],
    ["the old copy itself (not longer)", 5, (r) => r.copy(0, 5), false],
  ];
  for (const [what, size, steps, appended] of cases) {
    using r = await rebuildOf(basis, size, true);
    steps(r.rebuild);
    r.rebuild.finish();
    assertEquals(r.rebuild.appended, appended, what);
  }
});
