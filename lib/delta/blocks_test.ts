// Descriptions in fixed blocks (old copies from 1 MiB): the block sums,
// their roll, the description, the table and the sender's rolling search.
import { assert, assertEquals } from "../../tests/_assert.ts";
import { splice, xorshiftBytes } from "../../tests/_bytes.ts";
import { contentHasher } from "../fs/hash.ts";
import {
  type BasisOffer,
  basisProblem,
  BLOCKS_MIN_BYTES,
  BlockTable,
  ChunkDigest,
  describeBasis,
  describeBlocks,
  DIGEST_BYTES,
  SAME_SUM_MAX,
} from "./basis.ts";
import {
  avgBitsFor,
  blockSum,
  Chunker,
  rollBlocks,
  rollSum,
} from "./chunker.ts";
import { runBlocksFor } from "./describe.ts";
import { deltaOps } from "./matcher.ts";
import { DeltaRebuild } from "./rebuild.ts";

const KiB = 1024;
const MiB = 1 << 20;

/** rsync's two sums of `bytes`, as `blockSum` packs them: the reference. */
function referenceSum(bytes: Uint8Array): number {
  let a = 0;
  let b = 0;
  for (let k = 0; k < bytes.length; k++) {
    a = (a + bytes[k]) | 0;
    b = (b + Math.imul(bytes.length - k, bytes[k])) | 0;
  }
  return ((a & 0xffff) | (b << 16)) >>> 0;
}

/** A reader of `bytes` as `readSync` reads, in pieces of at most `piece`. */
function reader(bytes: Uint8Array, piece = 1 << 30) {
  let at = 0;
  return {
    readSync(p: Uint8Array): number | null {
      if (at >= bytes.length) return null;
      const n = Math.min(p.length, piece, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
    seekSync(offset: number): number {
      at = offset;
      return at;
    },
  };
}

/** `old` described in fixed blocks of 2^blockBits bytes (whatever its size). */
async function blocksOf(
  old: Uint8Array,
  blockBits: number,
  seed = 7,
): Promise<BasisOffer> {
  const digest = await ChunkDigest.create(seed);
  const part = describeBlocks(reader(old), old.length, blockBits, digest)!;
  return { avgBits: blockBits, seed, size: old.length, ...part };
}

/**
 * `next` matched against `offer` (the old copy `old`) and rebuilt: the
 * rebuilt bytes must be `next`; returns the literal bytes sent.
 */
async function roundTrip(
  old: Uint8Array,
  next: Uint8Array,
  offer: BasisOffer,
  chunkDigest?: ChunkDigest,
): Promise<number> {
  const out = new Uint8Array(next.length);
  let filled = 0;
  const rebuild = new DeltaRebuild(
    { ...reader(old), close() {} } as never,
    old.length,
    next.length,
    (bytes) => {
      out.set(bytes, filled);
      filled += bytes.length;
    },
    await contentHasher(),
  );
  const whole = await contentHasher();
  let literal = 0;
  for (
    const op of deltaOps(
      reader(next, 333_333) as never,
      next.length,
      offer,
      chunkDigest ?? await ChunkDigest.create(offer.seed),
      whole,
    )
  ) {
    if (op.op === "copy") rebuild.copy(op.offset, op.length);
    else {
      rebuild.literal(op.bytes);
      literal += op.bytes.length;
    }
  }
  const digest = rebuild.finish();
  assertEquals(out, next);
  assertEquals(digest, whole.digest("binary"));
  return literal;
}

Deno.test("block sums: the same as rsync's two sums, in the gear loop's memory or copied there, and rolled a byte at a time", () => {
  const data = xorshiftBytes(40_000, 3);
  for (const length of [1, 2, 15, 16, 17, 63, 64, 65, 1000, 2048, 8192]) {
    let sum = blockSum(data.subarray(0, length));
    assertEquals(sum, referenceSum(data.subarray(0, length)));
    for (let p = 0; p + length < Math.min(data.length, 3000); p++) {
      sum = rollSum(sum, length, data[p], data[p + length]);
      assertEquals(sum, referenceSum(data.subarray(p + 1, p + 1 + length)));
    }
  }
  // Bytes already in the loop's memory are summed where they are.
  const own = new Chunker(11).buffer(20_000);
  own.set(data.subarray(0, 20_000));
  assertEquals(
    blockSum(own.subarray(7, 8199)),
    referenceSum(own.subarray(7, 8199)),
  );
  // All 255s, the largest sums: wrapped as rsync wraps them.
  const ff = new Uint8Array(1 << 16).fill(255);
  assertEquals(blockSum(ff), referenceSum(ff));
});

Deno.test("block description: one digest and one sum a block, the last block shorter; a file that ends early or goes on is not described", async () => {
  const digest = await ChunkDigest.create(5);
  const data = xorshiftBytes(10_000, 4);
  const got = describeBlocks(reader(data, 777), data.length, 11, digest)!;
  assertEquals([...got.lengths], [2048, 2048, 2048, 2048, 1808]);
  const sums = new DataView(got.weak!.buffer);
  const words = new DataView(got.digests.buffer);
  for (let i = 0; i < 5; i++) {
    const bytes = data.subarray(
      i * 2048,
      Math.min(data.length, (i + 1) * 2048),
    );
    assertEquals(sums.getUint32(i * DIGEST_BYTES), referenceSum(bytes));
    assertEquals(words.getUint32(i * DIGEST_BYTES), digest.of(bytes).word);
  }
  // Shorter than told, or (`last`) longer: nothing.
  assertEquals(describeBlocks(reader(data), 10_001, 11, digest), undefined);
  assertEquals(
    describeBlocks(reader(data), 9_999, 11, digest, undefined, true),
    undefined,
  );
  assert(describeBlocks(reader(data), 9_999, 11, digest) !== undefined);
  // What it read, in order, once.
  let seen = 0;
  describeBlocks(
    reader(data),
    data.length,
    11,
    digest,
    (b) => seen += b.length,
  );
  assertEquals(seen, data.length);
});

Deno.test("block description: a sender refuses one a receiver would not make", () => {
  const size = BLOCKS_MIN_BYTES + 5000;
  const bits = avgBitsFor(size);
  const block = 2 ** bits;
  const count = Math.ceil(size / block);
  const lengths = new Uint32Array(count).fill(block);
  lengths[count - 1] = size - (count - 1) * block;
  const ok: BasisOffer = {
    avgBits: bits,
    seed: 1,
    size,
    lengths,
    digests: new Uint8Array(count * DIGEST_BYTES),
    weak: new Uint8Array(count * DIGEST_BYTES),
  };
  assertEquals(basisProblem(ok), undefined);
  const shifted = lengths.slice();
  shifted[0] = block - 1;
  shifted[1] = block + 1;
  const bad: BasisOffer[] = [
    { ...ok, weak: new Uint8Array((count - 1) * DIGEST_BYTES) },
    { ...ok, digests: new Uint8Array((count + 1) * DIGEST_BYTES) },
    { ...ok, lengths: lengths.subarray(1) },
    { ...ok, lengths: shifted },
    { ...ok, whole: new Uint8Array(16) },
    { ...ok, avgBits: bits + 1 },
    // Under 1 MiB: content-defined chunks only.
    {
      ...ok,
      size: 5000,
      lengths: Uint32Array.of(4096, 904),
      digests: new Uint8Array(8),
      weak: new Uint8Array(8),
    },
  ];
  for (const offer of bad) {
    assert(
      basisProblem(offer) !== undefined,
      `accepted ${offer.size} ${offer.lengths.length}`,
    );
  }
});

Deno.test("block table: a block is found by its sum and digest; blocks that share a sum are kept to a few", async () => {
  const digest = await ChunkDigest.create(9);
  const old = xorshiftBytes(64 * KiB, 11);
  const offer = await blocksOf(old, 11, 9);
  const table = new BlockTable(offer);
  for (let i = 0; i < 32; i++) {
    const bytes = old.subarray(i * 2048, (i + 1) * 2048);
    assert(table.has(blockSum(bytes)));
    assert(table.hasSum(blockSum(bytes)));
    assertEquals(table.find(blockSum(bytes), digest.of(bytes).word), i);
  }
  assertEquals(table.find(blockSum(old.subarray(1, 2049)), 0), -1);
  // A peer's description whose blocks all share one sum: a lookup tries
  // a few of them, not all.
  const count = 4096;
  const same: BasisOffer = {
    ...offer,
    size: count * 2048,
    lengths: new Uint32Array(count).fill(2048),
    digests: new Uint8Array(count * DIGEST_BYTES).map((_, i) => i * 7),
    weak: new Uint8Array(count * DIGEST_BYTES).fill(3),
  };
  const crowded = new BlockTable(same);
  let found = 0;
  const words = new DataView(same.digests.buffer);
  for (let i = 0; i < count; i++) {
    if (crowded.find(0x03030303, words.getUint32(i * DIGEST_BYTES)) === i) {
      found++;
    }
  }
  assertEquals(found, SAME_SUM_MAX);
});

Deno.test("rolling search: the loop finds the first window whose sum a block has, as a plain loop does", async () => {
  const old = xorshiftBytes(256 * KiB, 21);
  const next = splice(
    splice(old, 100_000, 0, xorshiftBytes(777, 5)),
    3,
    0,
    xorshiftBytes(1234, 6),
  );
  const table = new BlockTable(await blocksOf(old, 11));
  const block = 2048;
  // The plain loop: every window's sum, the first some block has.
  const sums = new Set<number>();
  for (let i = 0; i < table.count; i++) {
    sums.add(blockSum(old.subarray(i * block, (i + 1) * block)) | 0);
  }
  for (const from of [0, 1, 2000, 99_000, next.length - block - 5]) {
    let want = -1;
    for (let p = from; p + block <= next.length; p++) {
      if (sums.has(blockSum(next.subarray(p, p + block)) | 0)) {
        want = p;
        break;
      }
    }
    const state = Int32Array.of(blockSum(next.subarray(from, from + block)));
    const got = rollBlocks(next, from, next.length, state, table);
    if (want >= 0) {
      assertEquals(got, want);
      assertEquals(state[0], blockSum(next.subarray(want, want + block)) | 0);
    } else {
      assertEquals(got, -1 - (next.length - block));
    }
  }
});

Deno.test("matcher in fixed blocks: edits, insertions, deletions, appends, truncations and moves cost about their size; any file comes back exact", async () => {
  const old = xorshiftBytes(1 * MiB + 4321, 1);
  const offer = await blocksOf(old, 11);
  const edited = old.slice();
  for (let i = 0; i < 8; i++) {
    edited.set(xorshiftBytes(100, 50 + i), 7000 + i * 120_000);
  }
  const half = 512 * KiB;
  const swapped = new Uint8Array(old.length);
  swapped.set(old.subarray(half));
  swapped.set(old.subarray(0, half), old.length - half);
  const cases: [string, Uint8Array, number][] = [
    ["identical", old, 0],
    ["8 scattered edits", edited, 8 * 2 * 2048],
    [
      "100 bytes inserted at 1 KiB",
      splice(old, 1024, 0, xorshiftBytes(100, 2)),
      2048 + 100,
    ],
    [
      "1 byte inserted mid-block",
      splice(old, 500_001, 0, Uint8Array.of(9)),
      2048 + 1,
    ],
    ["64 KiB deleted from the middle", splice(old, 400_000, 64 * KiB), 2048],
    [
      "64 KiB appended",
      splice(old, old.length, 0, xorshiftBytes(64 * KiB, 3)),
      64 * KiB + 2048 * 2,
    ],
    ["truncated by 100 KiB", old.subarray(0, old.length - 100 * KiB), 2048],
    ["halves swapped", swapped, 3 * 2048],
    [
      "a block moved to the front",
      splice(splice(old, 600_000, 2048), 0, 0, old.subarray(600_000, 602_048)),
      2 * 2048,
    ],
    ["shrunk to nothing", new Uint8Array(0), 0],
    ["tiny", Uint8Array.of(1, 2, 3), 3],
    ["all new", xorshiftBytes(300 * KiB, 77), 300 * KiB],
  ];
  for (const [name, next, most] of cases) {
    const literal = await roundTrip(old, next, offer);
    assert(literal <= most, `${name}: ${literal} literal bytes, over ${most}`);
  }
  // An old copy bigger than the new file, and zeros: exact.
  const zeros = new Uint8Array(200 * KiB);
  const dotted = zeros.slice();
  dotted.set(xorshiftBytes(50, 8), 77_777);
  assert(await roundTrip(zeros, dotted, await blocksOf(zeros, 11)) <= 2 * 2048);
});

Deno.test("matcher in fixed blocks: a run of 64 blocks where the old copy had it costs one digest; a run with an edit is checked block by block; wrong or missing runs only cost digests", async () => {
  const old = xorshiftBytes(4 * MiB + 3000, 37);
  const offer = await blocksOf(old, 11);
  // 2 KiB blocks, runs of 64: 32 whole runs (the last 3000 bytes are not one).
  assertEquals(runBlocksFor(11), 64);
  assertEquals(offer.runs!.length, 32 * DIGEST_BYTES);
  assertEquals(basisProblem(offer), undefined);
  const digest = await ChunkDigest.create(offer.seed);
  const runView = new DataView(offer.runs!.buffer);
  for (let r = 0; r < 32; r++) {
    const bytes = old.subarray(r * 128 * KiB, (r + 1) * 128 * KiB);
    assertEquals(runView.getUint32(r * DIGEST_BYTES), digest.of(bytes).word);
  }
  // Digests counted; the file rebuilt exact, its literal bytes.
  const matched = async (next: Uint8Array, described: BasisOffer) => {
    let digests = 0;
    const counting = Object.assign(Object.create(digest), {
      of(bytes: Uint8Array) {
        digests++;
        return digest.of(bytes);
      },
    });
    const literal = await roundTrip(old, next, described, counting);
    return { digests, literal };
  };
  // Appended to: the runs, then the blocks after them.
  const appended = splice(old, old.length, 0, xorshiftBytes(5000, 2));
  const a = await matched(appended, offer);
  assert(a.digests < 40, `${a.digests} digests`);
  assert(a.literal <= 5000 + 2048, `${a.literal} literal bytes`);
  // Without runs: a digest a block.
  const b = await matched(appended, { ...offer, runs: undefined });
  assert(b.digests > 2000, `${b.digests} digests`);
  // One byte changed: its run block by block, the rest by runs.
  const edited = old.slice();
  edited[MiB + 100] ^= 1;
  const c = await matched(edited, offer);
  assert(c.digests < 32 + 64 + 16, `${c.digests} digests`);
  assert(c.literal <= 2048, `${c.literal} literal bytes`);
  // Runs that are wrong (a lying receiver's): block by block, exact.
  const d = await matched(appended, { ...offer, runs: new Uint8Array(32 * 4) });
  assert(d.digests < 32 + 2100, `${d.digests} digests`);
  assert(d.literal <= 5000 + 2048, `${d.literal} literal bytes`);
});

Deno.test("matcher in fixed blocks: a description made to collide costs a bounded number of digests, and the file still comes back exact", async () => {
  const old = xorshiftBytes(512 * KiB, 31);
  const next = xorshiftBytes(2 * MiB, 32);
  const count = 256;
  // Every block claims the sum of a window of the new file that is common
  // to many (zeros there), with digests that never match.
  const zeros = next.slice();
  zeros.fill(0, 0, 1 * MiB);
  const offer: BasisOffer = {
    avgBits: 11,
    seed: 7,
    size: old.length,
    lengths: new Uint32Array(count).fill(2048),
    digests: new Uint8Array(count * DIGEST_BYTES).map((_, i) => i),
    weak: new Uint8Array(count * DIGEST_BYTES).fill(0),
  };
  let digests = 0;
  const real = await ChunkDigest.create(7);
  const counting = Object.assign(Object.create(real), {
    of(bytes: Uint8Array) {
      digests++;
      return real.of(bytes);
    },
  });
  const whole = await contentHasher();
  let literal = 0;
  for (
    const op of deltaOps(
      reader(zeros) as never,
      zeros.length,
      offer,
      counting,
      whole,
    )
  ) {
    if (op.op === "literal") literal += op.bytes.length;
  }
  assertEquals(literal, zeros.length);
  assert(digests < 4000, `${digests} digests`);
});

Deno.test("fixed blocks from 1 MiB: described the same here and on the workers (in one stretch, or from 16 MiB in two of whole blocks), and matched by its blocks", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const { closeDescribers, warmDescribers } = await import("./basis_pool.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    warmDescribers();
    try {
      for (const size of [BLOCKS_MIN_BYTES + 12_345, (16 << 20) + 12_345]) {
        const old = xorshiftBytes(size, 41);
        Deno.writeFileSync(`${root}/old`, old);
        const here = (await describeBasis(root, "old"))!.offer;
        assert(here.weak !== undefined);
        assertEquals(here.whole, undefined);
        assertEquals(basisProblem(here), undefined);
        const tree = KernelTree.open(root)!;
        const away = (await describeBasis(tree, "old"))!.offer;
        tree.close();
        assertEquals([...away.lengths], [...here.lengths]);
        assertEquals(away.weak, here.weak);
        assertEquals(away.whole, undefined);
        // The stretches' runs as one: each run's digest, salted as its own.
        const runs = Math.floor(size / (128 * KiB));
        assertEquals(here.runs!.length, runs * DIGEST_BYTES);
        assertEquals(away.runs!.length, runs * DIGEST_BYTES);
        const salted = await ChunkDigest.create(away.seed);
        const view = new DataView(away.runs!.buffer, away.runs!.byteOffset);
        for (let r = 0; r < runs; r++) {
          const bytes = old.subarray(r * 128 * KiB, (r + 1) * 128 * KiB);
          assertEquals(view.getUint32(r * DIGEST_BYTES), salted.of(bytes).word);
        }
        // Salted apart, so the digests differ; each matches its own file.
        assertEquals(basisProblem(away), undefined);
        const next = splice(old, size >> 1, 0, xorshiftBytes(3000, 1));
        assert(await roundTrip(old, next, away) <= 3000 + 2 * 4096);
      }
    } finally {
      await closeDescribers();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
