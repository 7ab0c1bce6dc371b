import { assertEquals } from "../../tests/_assert.ts";
import {
  basisProblem,
  BasisTable,
  ChunkDigest,
  DELTA_MIN_BYTES,
  describeBasis,
  DIGEST_BYTES,
  WHOLE_MAX_BYTES,
} from "./basis.ts";
import { hashBytes } from "../fs/hash.ts";
import { MAX_BASIS_CHUNKS } from "./chunker.ts";

/** Runs `fn` with the describing workers running (as in the daemon). */
async function withDescribers(fn: () => Promise<void>): Promise<void> {
  const { closeDescribers, warmDescribers } = await import("./basis_pool.ts");
  warmDescribers();
  try {
    await fn();
  } finally {
    await closeDescribers();
  }
}

function tempRoot(): string {
  return Deno.realPathSync(Deno.makeTempDirSync());
}

function random(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(size, i + 65536)));
  }
  return out;
}

Deno.test("basis: a description covers the file, one hash per chunk", async () => {
  const root = tempRoot();
  try {
    const data = random(3 << 20);
    Deno.writeFileSync(`${root}/f`, data);
    const copy = (await describeBasis(root, "f"))!;
    const { offer } = copy;
    assertEquals(offer.size, data.length);
    assertEquals(offer.lengths.reduce((a, b) => a + b, 0), data.length);
    assertEquals(offer.digests.length, offer.lengths.length * DIGEST_BYTES);
    assertEquals(basisProblem(offer), undefined);
    // Every chunk is found where it is.
    const table = new BasisTable(offer);
    const digest = await ChunkDigest.create(offer.seed);
    let at = 0;
    for (const length of offer.lengths) {
      digest.of(data.subarray(at, at + length));
      assertEquals(table.find(digest.word, length), at);
      at += length;
    }
    digest.of(random(1000));
    assertEquals(table.find(digest.word, 1000), -1);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: nothing is described for a missing, small, link or directory entry", async () => {
  const root = tempRoot();
  const outside = tempRoot();
  try {
    Deno.writeFileSync(`${root}/small`, new Uint8Array(DELTA_MIN_BYTES - 1));
    Deno.writeFileSync(`${outside}/secret`, random(100_000));
    Deno.symlinkSync(`${outside}/secret`, `${root}/link`);
    Deno.mkdirSync(`${root}/dir`);
    assertEquals(await describeBasis(root, "missing"), undefined);
    assertEquals(await describeBasis(root, "small"), undefined);
    assertEquals(await describeBasis(root, "link"), undefined);
    assertEquals(await describeBasis(root, "dir"), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("basis: two descriptions of one file are salted differently", async () => {
  const root = tempRoot();
  try {
    Deno.writeFileSync(`${root}/f`, random(50_000));
    const a = (await describeBasis(root, "f"))!.offer;
    const b = (await describeBasis(root, "f"))!.offer;
    assertEquals([...a.lengths], [...b.lengths]);
    if (a.seed === b.seed) throw new Error("same seed twice");
    if (a.digests.every((v, i) => v === b.digests[i])) {
      throw new Error("same digests under different seeds");
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: a sender refuses descriptions a receiver would not make", () => {
  const ok = {
    avgBits: 11,
    seed: 1,
    size: 5000,
    lengths: Uint32Array.of(3000, 2000),
    digests: new Uint8Array(2 * DIGEST_BYTES),
  };
  assertEquals(basisProblem(ok), undefined);
  const bad = [
    { ...ok, size: 6000 },
    { ...ok, avgBits: 20 },
    { ...ok, avgBits: 11.5 },
    { ...ok, avgBits: 10 },
    { ...ok, size: 100 },
    { ...ok, lengths: Uint32Array.of(5000, 0) },
    { ...ok, lengths: Uint32Array.of(8193, 807), size: 9000 },
    { ...ok, digests: new Uint8Array(DIGEST_BYTES) },
    { ...ok, digests: new Uint8Array(12) }, // 6-byte hashes: not any more
    { ...ok, lengths: new Uint32Array(0), digests: new Uint8Array(0) },
    { ...ok, size: 2 ** 60 },
    { ...ok, whole: new Uint8Array(15) },
    { ...ok, whole: new Uint8Array(17) },
  ];
  for (const offer of bad) {
    if (basisProblem(offer) === undefined) {
      throw new Error(
        `accepted ${JSON.stringify({ ...offer, lengths: [...offer.lengths] })}`,
      );
    }
  }
  // More chunks than the bound: refused before anything is built.
  const many = new Uint32Array(MAX_BASIS_CHUNKS + 1).fill(2048);
  const problem = basisProblem({
    avgBits: 11,
    seed: 1,
    size: many.length * 2048,
    lengths: many,
    digests: new Uint8Array(many.length * DIGEST_BYTES),
  });
  if (!problem) throw new Error("accepted too many chunks");
  // A whole-copy hash is 16 bytes, and only for a copy under 1 MiB.
  assertEquals(basisProblem({ ...ok, whole: new Uint8Array(16) }), undefined);
  const big = {
    avgBits: 11,
    seed: 1,
    size: WHOLE_MAX_BYTES,
    lengths: new Uint32Array(WHOLE_MAX_BYTES / 2048).fill(2048),
    digests: new Uint8Array(WHOLE_MAX_BYTES / 2048 * DIGEST_BYTES),
  };
  assertEquals(basisProblem(big), undefined);
  assertEquals(
    basisProblem({ ...big, whole: new Uint8Array(16) }),
    `its whole-copy hash of 16 bytes is not one for ${WHOLE_MAX_BYTES} bytes`,
  );
});

Deno.test("basis: an old copy under 1 MiB is hashed whole, salted (one in fixed blocks is not); under 16 MiB, through a kernel tree, its content hash is kept with its status", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const root = tempRoot();
  try {
    // Described here, on one worker, and in two stretches.
    const small = random(300_000);
    const mid = random(2 << 20);
    const big = random(WHOLE_MAX_BYTES);
    Deno.writeFileSync(`${root}/small`, small);
    Deno.writeFileSync(`${root}/mid`, mid);
    Deno.writeFileSync(`${root}/big`, big);
    // From 1 MiB, in fixed blocks: no whole-copy hash.
    const blocks = (await describeBasis(root, "mid"))!.offer;
    assertEquals(blocks.whole, undefined);
    assertEquals(blocks.weak!.length, blocks.digests.length);
    for (const [name, bytes] of [["small", small]] as const) {
      const copy = (await describeBasis(root, name))!;
      const digest = await ChunkDigest.create(copy.offer.seed);
      assertEquals([...copy.offer.whole!], [...digest.whole(bytes)]);
      // Another seed, another hash of the same bytes.
      const again = (await describeBasis(root, name))!;
      if (again.offer.whole!.join() === copy.offer.whole!.join()) {
        throw new Error("two descriptions share a whole-copy hash");
      }
      // Where kept, the content hash is the plain one.
      if (copy.content) {
        assertEquals([...copy.content.digest], [...await hashBytes(bytes)]);
      }
    }
    assertEquals((await describeBasis(root, "big"))!.offer.whole, undefined);
    const tree = KernelTree.open(root);
    if (!tree) return; // no openat2 here
    // Described here (no workers running): no content hash either.
    const { closeDescribers } = await import("./basis_pool.ts");
    await closeDescribers();
    const here = (await describeBasis(tree, "big"))!;
    assertEquals(here.offer.size, WHOLE_MAX_BYTES);
    assertEquals(here.content, undefined);
    await withDescribers(async () => {
      for (const [name, bytes] of [["small", small], ["mid", mid]] as const) {
        const kept = (await describeBasis(tree, name))!;
        assertEquals([...kept.content!.digest], [...await hashBytes(bytes)]);
        assertEquals(kept.content!.stamp.startsWith(`${bytes.length}:`), true);
      }
      // In two stretches at once: neither hash.
      const huge = (await describeBasis(tree, "big"))!;
      assertEquals(huge.offer.size, WHOLE_MAX_BYTES);
      assertEquals(huge.offer.whole, undefined);
      assertEquals(huge.content, undefined);
    }).finally(() => tree.close());
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: a kernel tree's old copy is described on a worker, as it would be here", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const root = tempRoot();
  try {
    const data = random(2 << 20);
    Deno.writeFileSync(`${root}/f`, data);
    const tree = KernelTree.open(root);
    if (!tree) return; // no openat2 here: nothing to share with a worker
    await withDescribers(async () => {
      const away = (await describeBasis(tree, "f"))!.offer;
      const here = (await describeBasis(root, "f"))!.offer;
      assertEquals([...away.lengths], [...here.lengths]);
      assertEquals(away.size, data.length);
      // Every chunk of the worker's description is found where it is.
      const table = new BasisTable(away);
      const digest = await ChunkDigest.create(away.seed);
      let at = 0;
      for (const length of away.lengths) {
        digest.of(data.subarray(at, at + length));
        assertEquals(table.find(digest.word, length), at);
        at += length;
      }
    }).finally(() => tree.close());
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: with the workers not running, an old copy under 256 MiB is described here (starting them costs more), the same", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const { describersWarm } = await import("./basis_pool.ts");
  const root = tempRoot();
  try {
    const data = random(20 << 20);
    Deno.writeFileSync(`${root}/f`, data);
    const tree = KernelTree.open(root);
    const here = (await describeBasis(root, "f"))!.offer;
    assertEquals(describersWarm(), false);
    if (tree) {
      try {
        const through = (await describeBasis(tree, "f"))!.offer;
        assertEquals(describersWarm(), false);
        // One stretch: no cut at the half a worker's second would start.
        assertEquals([...through.lengths], [...here.lengths]);
      } finally {
        tree.close();
      }
    }
    assertEquals(here.lengths.reduce((a, b) => a + b, 0), data.length);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: chunk digests and whole-copy hashes are the same from libxxhash and from wasm", async () => {
  const { nativeHasher, nativeSeededXxh3 } = await import(
    "../fs/native_hash.ts"
  );
  const { loadHashWasm } = await import("../deps/hash_wasm.ts");
  const native = nativeSeededXxh3();
  if (!native) return; // no libxxhash here: the wasm is all there is
  for (const seed of [0, 1, 0xdeadbeef, 0xffffffff]) {
    const wasm = await (await loadHashWasm()).createXXHash3(seed, 0);
    for (const size of [0, 1, 3000, 70_000]) {
      const bytes = random(size);
      wasm.init();
      wasm.update(bytes);
      const want = wasm.digest("binary");
      const got = new Uint8Array(8);
      new DataView(got.buffer).setBigUint64(
        0,
        BigInt(native(bytes, BigInt(seed))),
      );
      assertEquals([...got], [...want]);
      const digest = (await ChunkDigest.create(seed)).of(bytes);
      assertEquals(digest.word, new DataView(want.buffer).getUint32(0));
      // The whole-copy hash too: libxxhash's seeded state, whole or in
      // pieces, against wasm's.
      const want128 = (await (await loadHashWasm()).createXXHash128(seed, 0))
        .init().update(bytes).digest("binary");
      assertEquals([
        ...nativeHasher(seed)!.init().update(bytes).digest("binary"),
      ], [
        ...want128,
      ]);
      const half = size >> 1;
      const streamed = (await ChunkDigest.create(seed)).wholeHasher().init()
        .update(bytes.subarray(0, half)).update(bytes.subarray(half))
        .digest("binary");
      assertEquals([...streamed], [...want128]);
      assertEquals([...(await ChunkDigest.create(seed)).whole(bytes)], [
        ...want128,
      ]);
    }
  }
  // Seed 0 is the plain content hash.
  const bytes = random(5000);
  assertEquals([...nativeHasher(0)!.init().update(bytes).digest("binary")], [
    ...await hashBytes(bytes),
  ]);
});

Deno.test("basis: a big old copy is cut in two stretches at once, joined at the seam", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const root = tempRoot();
  try {
    const data = random(20 << 20);
    Deno.writeFileSync(`${root}/f`, data);
    const tree = KernelTree.open(root);
    if (!tree) return; // no openat2 here: nothing to share with workers
    await withDescribers(async () => {
      const offer = (await describeBasis(tree, "f"))!.offer;
      assertEquals(basisProblem(offer), undefined);
      const cuts = new Set<number>();
      let at = 0;
      const table = new BasisTable(offer);
      const digest = await ChunkDigest.create(offer.seed);
      for (const length of offer.lengths) {
        digest.of(data.subarray(at, at + length));
        assertEquals(table.find(digest.word, length), at);
        at += length;
        cuts.add(at);
      }
      assertEquals(at, data.length);
      // The second stretch starts afresh at half the size.
      assertEquals(cuts.has(10 << 20), true);
    }).finally(() => tree.close());
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis: a batcher describes a kernel tree's small old copies a batch at a time on the workers, as they would be here, one seed for all", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const { BasisBatcher } = await import("./basis.ts");
  const { closeDescribers, describersWarm, warmDescribers } = await import(
    "./basis_pool.ts"
  );
  const root = tempRoot();
  const tree = KernelTree.open(root);
  if (!tree) {
    Deno.removeSync(root, { recursive: true });
    return; // no openat2 here: nothing to share with a worker
  }
  try {
    if (!warmDescribers()) return; // no workers here
    assertEquals(describersWarm(), true);
    // More than a batch of small ones, one just at the smallest size, a
    // big one (in stretches), and what is never described.
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 40; i++) files.set(`f${i}`, random(1024 + i * 997));
    files.set("big", random((1 << 20) + 5));
    for (const [name, bytes] of files) {
      Deno.writeFileSync(`${root}/${name}`, bytes);
    }
    Deno.writeFileSync(`${root}/tiny`, random(DELTA_MIN_BYTES - 1));
    Deno.symlinkSync("f1", `${root}/link`);
    Deno.mkdirSync(`${root}/dir`);
    const batcher = new BasisBatcher(tree);
    const asked = [...files.keys(), "tiny", "link", "dir", "missing"].map(
      (name) => [name, batcher.describe(name)] as const,
    );
    batcher.flush();
    const seeds = new Set<number>();
    for (const [name, pending] of asked) {
      const copy = await pending;
      const bytes = files.get(name);
      if (!bytes) {
        assertEquals(copy, undefined, name);
        continue;
      }
      const offer = copy!.offer;
      if (name !== "big") seeds.add(offer.seed);
      assertEquals(offer.size, bytes.length);
      const here = (await describeBasis(root, name))!.offer;
      assertEquals([...offer.lengths], [...here.lengths], name);
      const digest = await ChunkDigest.create(offer.seed);
      if (name === "big") {
        // From 1 MiB: fixed blocks, each with its sum, no whole-copy hash.
        assertEquals(offer.weak, here.weak, name);
        assertEquals(offer.whole, undefined, name);
        let at = 0;
        for (let i = 0; i < offer.lengths.length; i++) {
          const length = offer.lengths[i];
          digest.of(bytes.subarray(at, at + length));
          const view = new DataView(
            offer.digests.buffer,
            offer.digests.byteOffset,
          );
          assertEquals(view.getUint32(4 * i), digest.word, name);
          at += length;
        }
        assertEquals(at, bytes.length);
        assertEquals([...copy!.content!.digest], [...await hashBytes(bytes)]);
        continue;
      }
      const table = new BasisTable(offer);
      let at = 0;
      for (const length of offer.lengths) {
        digest.of(bytes.subarray(at, at + length));
        assertEquals(table.find(digest.word, length), at, name);
        at += length;
      }
      if (offer.lengths.length > 1) {
        assertEquals([...offer.whole!], [...digest.whole(bytes)], name);
      } else assertEquals(offer.whole, undefined, name);
      assertEquals([...copy!.content!.digest], [...await hashBytes(bytes)]);
    }
    assertEquals(seeds.size, 1);
    assertEquals(describersWarm(), true); // described there, not here
    // Gathered and let go: answered, nothing held open.
    const left = batcher.describe("f0");
    assertEquals(BasisBatcher.held, 1);
    batcher.abandon();
    assertEquals(await left, undefined);
    assertEquals(BasisBatcher.held, 0);
  } finally {
    tree.close();
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("basis table: chunks whose 4-byte digests collide are told apart by their lengths", () => {
  // Two chunks, the same digest word, different lengths: both are found,
  // each by its own length, and a third length finds neither.
  const digests = new Uint8Array(3 * DIGEST_BYTES);
  const view = new DataView(digests.buffer);
  for (let i = 0; i < 3; i++) view.setUint32(i * DIGEST_BYTES, 0xdeadbeef);
  const table = new BasisTable({
    avgBits: 11,
    seed: 1,
    size: 2000 + 3000 + 2000,
    lengths: Uint32Array.of(2000, 3000, 2000),
    digests,
  });
  assertEquals(table.find(0xdeadbeef, 2000), 0);
  assertEquals(table.find(0xdeadbeef, 3000), 2000);
  assertEquals(table.find(0xdeadbeef, 2500), -1);
  assertEquals(table.find(0xdeadbeee, 2000), -1);
  assertEquals(table.matches(1, 0xdeadbeef), true);
  assertEquals(table.matches(1, 0xdeadbeee), false);
});

Deno.test("describeRange with last: a file that goes on past its size is not described, whether or not the last read had room for the byte more", async () => {
  const { describeRange } = await import("./describe.ts");
  const digest = await ChunkDigest.create(3);
  // An in-memory file of `data`, read in pieces of at most `piece` bytes.
  const fileOf = (data: Uint8Array, piece = Infinity) => {
    let at = 0;
    let reads = 0;
    return {
      get reads() {
        return reads;
      },
      readSync(p: Uint8Array): number | null {
        reads++;
        const n = Math.min(p.length, data.length - at, piece);
        if (n <= 0) return null;
        p.set(data.subarray(at, at + n));
        at += n;
        return n;
      },
    };
  };
  const data = new Uint8Array((1 << 20) + 10).map((_, i) => (i * 131) >> 3);
  // 5,000 bytes: the one read asks for 5,001 (room in the buffer).
  for (const piece of [Infinity, 777]) {
    const exact = fileOf(data.subarray(0, 5000), piece);
    assertEquals(
      describeRange(exact, 5000, 11, digest, undefined, true)?.lengths
        .reduce((a, b) => a + b, 0),
      5000,
    );
    if (piece === Infinity) assertEquals(exact.reads, 1);
    const longer = fileOf(data.subarray(0, 5001), piece);
    assertEquals(
      describeRange(longer, 5000, 11, digest, undefined, true),
      undefined,
    );
    // Without `last` (a stretch that is not the file's end), it is described.
    const stretch = fileOf(data.subarray(0, 5001), piece);
    assertEquals(
      describeRange(stretch, 5000, 11, digest)?.lengths.reduce(
        (a, b) => a + b,
        0,
      ),
      5000,
    );
  }
  // 1 MiB: the read fills the buffer, so the byte more is a read of its own.
  const mib = 1 << 20;
  const full = fileOf(data.subarray(0, mib));
  assertEquals(
    describeRange(full, mib, 11, digest, undefined, true)?.lengths.reduce(
      (a, b) => a + b,
      0,
    ),
    mib,
  );
  assertEquals(full.reads, 2);
  assertEquals(
    describeRange(
      fileOf(data.subarray(0, mib + 1)),
      mib,
      11,
      digest,
      undefined,
      true,
    ),
    undefined,
  );
  // Shorter than told: undefined, as before.
  assertEquals(
    describeRange(
      fileOf(data.subarray(0, 4000)),
      5000,
      11,
      digest,
      undefined,
      true,
    ),
    undefined,
  );
});
