import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { splice, xorshiftBytes } from "../../tests/_bytes.ts";
import { contentHasher, hashBytes } from "../fs/hash.ts";
import {
  type BasisOffer,
  ChunkDigest,
  describeBasis,
  describeInChunks,
} from "./basis.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import { COPY_MAX, deltaOps, ShrankError } from "./matcher.ts";
import { DeltaRebuild } from "./rebuild.ts";

const KiB = 1024;
const MiB = 1 << 20;

/**
 * Describes `old`, matches `next` against it and rebuilds: the rebuilt
 * bytes must be `next` exactly; returns the literal bytes sent.
 */
async function roundTrip(
  old: Uint8Array,
  next: Uint8Array,
  onKernelTree = false,
  chunks = false,
): Promise<number> {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${root}/old`, old);
    Deno.writeFileSync(`${root}/new`, next);
    // A kernel tree's big old copy is described on the workers, in
    // stretches cut at once.
    const tree = onKernelTree ? KernelTree.open(root) : undefined;
    if (onKernelTree && !tree) throw new Error("no kernel tree here");
    const basis = chunks
      ? { offer: await chunkOffer(old) }
      : (await describeBasis(tree ?? root, "old"))!;
    tree?.close();
    using source = Deno.openSync(`${root}/new`);
    using oldCopy = Deno.openSync(`${root}/old`);
    const whole = await contentHasher();
    whole.init();
    const out = new Uint8Array(next.length);
    let filled = 0;
    const rebuild = new DeltaRebuild(oldCopy, old.length, next.length, (b) => {
      out.set(b, filled);
      filled += b.length;
    }, await contentHasher());
    let literal = 0;
    const ops = deltaOps(
      source,
      next.length,
      basis.offer,
      await ChunkDigest.create(basis.offer.seed),
      whole,
    );
    for (const op of ops) {
      if (op.op === "copy") rebuild.copy(op.offset, op.length);
      else {
        literal += op.bytes.length;
        rebuild.literal(op.bytes);
      }
    }
    const digest = rebuild.finish();
    assertEquals([...digest], [...whole.digest("binary")]);
    assertEquals([...digest], [...await hashBytes(next)]);
    if (!out.every((v, i) => v === next[i])) {
      throw new Error("rebuilt bytes differ");
    }
    return literal;
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}

/**
 * `bytes` described in content-defined chunks whatever their size (as a
 * receiver describes a copy under BLOCKS_MIN_BYTES): a sender takes such a
 * description of any size, so its matching is tested on big files too.
 */
async function chunkOffer(bytes: Uint8Array): Promise<BasisOffer> {
  let at = 0;
  const reader = {
    readSync(p: Uint8Array): number | null {
      const n = Math.min(p.length, bytes.length - at);
      if (n <= 0) return null;
      p.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    },
  };
  return describeInChunks(reader, bytes.length, await ChunkDigest.create())!;
}

/** At most `most` literal bytes. */
function atMost(literal: number, most: number): void {
  if (literal > most) {
    throw new Error(`${literal} literal bytes, expected at most ${most}`);
  }
}

/**
 * `next` written as `root`/new and matched against `offer`: the
 * instructions (literals as their lengths), the end-to-end hash checked.
 */
async function opsOf(root: string, next: Uint8Array, offer: BasisOffer) {
  Deno.writeFileSync(`${root}/new`, next);
  using source = Deno.openSync(`${root}/new`);
  const whole = await contentHasher();
  const ops = [
    ...deltaOps(
      source,
      next.length,
      offer,
      await ChunkDigest.create(offer.seed),
      whole,
    ),
  ].map((op) =>
    op.op === "copy" ? { ...op } : { op: op.op, length: op.bytes.length }
  );
  // The end-to-end hash covers every byte either way.
  assertEquals([...whole.digest("binary")], [...await hashBytes(next)]);
  return ops;
}

const OLD = xorshiftBytes(4 * MiB, 7);
// 4 MiB: chunks average 2 KiB (at most 8 KiB).
const CHUNK = 8 * KiB;

Deno.test("matcher: an identical file is all copies", async () => {
  assertEquals(await roundTrip(OLD, OLD), 0);
});

Deno.test("matcher: a small file that is its old copy is one copy, found by the whole-copy hash", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const old = xorshiftBytes(300 * KiB, 3);
    Deno.writeFileSync(`${root}/old`, old);
    const basis = (await describeBasis(root, "old"))!;
    if (!basis.offer.whole) throw new Error("no whole-copy hash");
    const opsFor = (next: Uint8Array, offer = basis.offer) =>
      opsOf(root, next, offer);
    assertEquals(await opsFor(old), [{
      op: "copy",
      offset: 0,
      length: old.length,
    }]);
    // One byte changed: chunks as usual, the rest copied.
    const next = old.slice();
    next[150 * KiB] ^= 1;
    const ops = await opsFor(next);
    const literal = ops.reduce(
      (n, op) => n + (op.op === "literal" ? op.length : 0),
      0,
    );
    if (ops.length < 3 || literal === 0 || literal > 2 * CHUNK) {
      throw new Error(`unexpected ops ${JSON.stringify(ops)}`);
    }
    // The same old copy described without its whole hash: chunk by chunk,
    // the same single copy in the end.
    assertEquals(await opsFor(old, { ...basis.offer, whole: undefined }), [{
      op: "copy",
      offset: 0,
      length: old.length,
    }]);
    // A hash that is not this content's (a lying receiver's): the file is
    // matched as usual, and round trips.
    const wrong = basis.offer.whole.slice();
    wrong[3] ^= 1;
    assertEquals(
      (await opsFor(next, { ...basis.offer, whole: wrong })).length,
      ops.length,
    );
    assertEquals(await roundTrip(old, next) <= 2 * CHUNK, true);
    // Bigger than the window (up to 16 MiB; a receiver describes such a
    // copy in fixed blocks, but a sender takes chunks and the hash):
    // hashed first, then copied in steps; changed, read again and matched
    // as usual.
    assertEquals(await roundTrip(OLD, OLD, false, true), 0);
    const bigNext = OLD.slice();
    bigNext[OLD.length - 10] ^= 1;
    atMost(await roundTrip(OLD, bigNext, false, true), 2 * CHUNK);
    const bigOffer = await chunkOffer(OLD);
    if (!bigOffer.whole) throw new Error("no whole-copy hash");
    const steps = await opsFor(OLD, bigOffer);
    assertEquals(steps.length, 1);
    assertEquals(steps[0], { op: "copy", offset: 0, length: OLD.length });
    // In fixed blocks, the same file is the same single copy (each block
    // checked in order).
    Deno.writeFileSync(`${root}/big`, OLD);
    const blocks = (await describeBasis(root, "big"))!.offer;
    if (!blocks.weak || blocks.whole) throw new Error("not in fixed blocks");
    assertEquals(await opsFor(OLD, blocks), [{
      op: "copy",
      offset: 0,
      length: OLD.length,
    }]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("matcher: a long unchanged run leaves as copies of exactly COPY_MAX, in order", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    // Over 16 MiB: no whole-copy hash, every chunk checked in runs.
    const old = xorshiftBytes(20 * MiB, 11);
    Deno.writeFileSync(`${root}/old`, old);
    const basis = (await describeBasis(root, "old"))!;
    const next = old.slice();
    next[19 * MiB] ^= 1;
    const ops = await opsOf(root, next, basis.offer);
    assertEquals(ops[0], { op: "copy", offset: 0, length: COPY_MAX });
    assertEquals(ops[1], { op: "copy", offset: COPY_MAX, length: COPY_MAX });
    // Then the rest up to the edited chunk, the chunk, and what follows.
    assertEquals(ops.length, 5);
    assertEquals(ops[2].op, "copy");
    assertEquals(ops[3].op, "literal");
    assertEquals(ops[4].op, "copy");
    let at = 0;
    for (const op of ops) {
      if (op.op === "copy") {
        assertEquals(op.offset, at, "copies in order, none skipped");
        atMost(op.length, COPY_MAX);
      }
      at += op.length;
    }
    assertEquals(at, next.length);
    atMost(ops[3].length, 2 * CHUNK);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

for (const chunks of [false, true]) {
  // As a receiver describes a copy of this size (fixed blocks), and in
  // content-defined chunks (its copies under BLOCKS_MIN_BYTES).
  const how = chunks ? " (content-defined chunks)" : "";
  Deno.test(`matcher: an edit in the middle costs about its own size${how}`, async () => {
    const next = OLD.slice();
    next.set(xorshiftBytes(100 * KiB, 9), 2 * MiB);
    atMost(await roundTrip(OLD, next, false, chunks), 100 * KiB + 2 * CHUNK);
  });

  Deno.test(`matcher: an insertion and a deletion anywhere cost about their size${how}`, async () => {
    atMost(
      await roundTrip(
        OLD,
        splice(OLD, 1 * KiB, 0, xorshiftBytes(100, 3)),
        false,
        chunks,
      ),
      2 * CHUNK,
    );
    atMost(
      await roundTrip(OLD, splice(OLD, 3 * MiB + 17, 5000), false, chunks),
      2 * CHUNK,
    );
    atMost(await roundTrip(OLD, splice(OLD, 0, 1), false, chunks), 2 * CHUNK);
  });

  Deno.test(`matcher: an append and a truncation cost about their size${how}`, async () => {
    const appended = splice(OLD, OLD.length, 0, xorshiftBytes(300 * KiB, 4));
    atMost(
      await roundTrip(OLD, appended, false, chunks),
      300 * KiB + 2 * CHUNK,
    );
    atMost(
      await roundTrip(OLD, OLD.subarray(0, OLD.length - 12345), false, chunks),
      2 * CHUNK,
    );
  });

  Deno.test(`matcher: moved blocks are found where they went${how}`, async () => {
    const half = OLD.length / 2;
    const swapped = new Uint8Array(OLD.length);
    swapped.set(OLD.subarray(half));
    swapped.set(OLD.subarray(0, half), half);
    atMost(await roundTrip(OLD, swapped, false, chunks), 3 * CHUNK);
  });

  Deno.test(`matcher: random edits across the file${how}`, async () => {
    let next = OLD;
    let changed = 0;
    let seed = 12345;
    for (let i = 0; i < 20; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const at = seed % (next.length - 1000);
      const kind = i % 3;
      if (kind === 0) next = splice(next, at, 0, xorshiftBytes(50, seed));
      else if (kind === 1) next = splice(next, at, 50);
      else next = splice(next, at, 50, xorshiftBytes(50, seed));
      changed += 50;
    }
    // Each edit costs at most the chunks around it.
    atMost(await roundTrip(OLD, next, false, chunks), changed + 20 * 2 * CHUNK);
  });

  Deno.test(`matcher: tiny, empty and shrunk-to-nothing files${how}`, async () => {
    assertEquals(
      await roundTrip(OLD.subarray(0, 5000), new Uint8Array(0), false, chunks),
      0,
    );
    assertEquals(
      await roundTrip(OLD.subarray(0, 5000), OLD.subarray(0, 1), false, chunks),
      1,
    );
    assertEquals(
      await roundTrip(
        OLD.subarray(0, 5000),
        OLD.subarray(0, 5000),
        false,
        chunks,
      ),
      0,
    );
    // A basis bigger than the new file, and a new file much bigger.
    atMost(
      await roundTrip(OLD, OLD.subarray(MiB, MiB + 50_000), false, chunks),
      2 * CHUNK,
    );
    const bigger = new Uint8Array(OLD.length * 2);
    bigger.set(OLD);
    bigger.set(OLD, OLD.length);
    atMost(
      await roundTrip(OLD.subarray(0, 64 * KiB), bigger, false, chunks),
      OLD.length * 2,
    );
  });
}

Deno.test("matcher: a big old copy described in stretches at once: edits anywhere, at the seam too, cost about their size", async () => {
  // Stretches need the workers, which need openat2's descriptors.
  const probe = KernelTree.open(Deno.realPathSync(Deno.cwd()));
  if (!probe) return;
  probe.close();
  const big = xorshiftBytes(20 * MiB, 11);
  const seam = 10 * MiB;
  assertEquals(await roundTrip(big, big, true), 0);
  const edited = big.slice();
  edited.set(xorshiftBytes(100, 5), seam - 50);
  atMost(await roundTrip(big, edited, true), 100 + 3 * CHUNK);
  atMost(
    await roundTrip(big, splice(big, seam - 10, 0, xorshiftBytes(30, 6)), true),
    3 * CHUNK,
  );
  atMost(await roundTrip(big, splice(big, seam - 3000, 6000), true), 3 * CHUNK);
  atMost(
    await roundTrip(big, splice(big, 1000, 0, xorshiftBytes(7, 2)), true),
    2 * CHUNK,
  );
});

Deno.test("matcher: a file shorter than declared is a ShrankError", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${root}/old`, OLD.subarray(0, 100_000));
    Deno.writeFileSync(`${root}/new`, OLD.subarray(0, 50_000));
    const basis = (await describeBasis(root, "old"))!;
    using file = Deno.openSync(`${root}/new`);
    const chunk = await ChunkDigest.create(basis.offer.seed);
    const whole = await contentHasher();
    assertThrows(
      () => [...deltaOps(file, 100_000, basis.offer, chunk, whole)],
      ShrankError,
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
