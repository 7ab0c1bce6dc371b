// Old copies offered by their content hash alone: what the receiver
// offers, what a sender makes of it (a delta of one copy, or a
// describe-again frame and then the file named again), and what either
// side refuses.
import { assert, assertEquals } from "../../tests/_assert.ts";
import { xorshiftBytes } from "../../tests/_bytes.ts";
import {
  BasisBatcher,
  type BasisOffer,
  basisProblem,
  describeBasis,
  HASH_FIRST_MAX_BYTES,
  offeredByHash,
} from "./basis.ts";
import { type ContentHasher, contentHasher, hashBytes } from "../fs/hash.ts";
import { readEvents } from "../wire/file_reader.ts";
import { avgBitsFor } from "./chunker.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import { Sender } from "../transfer/sender.ts";
import { Receiver } from "../transfer/receiver.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";
import { type FrameEvent, FrameProtocolError } from "../wire/frame_codec.ts";
import { FrameReceiver } from "../wire/frame_receiver.ts";
import type { FileEntry } from "../fs/entry.ts";
import { planNamed } from "../../tests/_plan.ts";

const random = (size: number, seed: number) => xorshiftBytes(size, seed);

const file = (path: string, size: number): FileEntry => ({
  path,
  kind: "file",
  size,
  mtimeMs: 1_700_000_000_000,
  mode: 0o644,
});

/**
 * `count` old copies f0, f1, ... of `size` random bytes (seeds from `seed`)
 * under `root`; their entries with the size the files now have.
 */
function oldCopies(
  root: string,
  count: number,
  size: number,
  seed: number,
  newSize = size,
): FileEntry[] {
  const entries: FileEntry[] = [];
  for (let i = 0; i < count; i++) {
    Deno.writeFileSync(`${root}/f${i}`, random(size, seed + i));
    entries.push(file(`f${i}`, newSize));
  }
  return entries;
}

Deno.test("hash first: an old copy of the file's size goes by its plain content hash; another size, or 16 MiB and more, is described in full", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const data = random(300_000, 1);
    Deno.writeFileSync(`${root}/f`, data);
    const hashFirst = { size: data.length, seed: 77 };
    for (const tree of [root, KernelTree.open(root)!]) {
      const copy = (await describeBasis(tree, "f", { hashFirst }))!;
      assert(offeredByHash(copy.offer));
      assertEquals(copy.offer.size, data.length);
      assertEquals(copy.offer.seed, 77);
      assertEquals(copy.offer.lengths.length, 0);
      assertEquals(copy.offer.digests.length, 0);
      assertEquals(copy.offer.whole, await hashBytes(data));
      assertEquals(basisProblem(copy.offer), undefined);
      // Another size now: the old copy is described chunk by chunk.
      const full = (await describeBasis(tree, "f", {
        hashFirst: { size: data.length + 1, seed: 77 },
      }))!;
      assert(!offeredByHash(full.offer));
      assert(full.offer.lengths.length > 10);
      // The batcher asks the same way.
      const batcher = new BasisBatcher(tree);
      const asked = batcher.describe("f", data.length);
      batcher.flush();
      assert(offeredByHash((await asked)!.offer));
      if (typeof tree !== "string") tree.close();
    }
    // 16 MiB and more: in full (a sparse file: nothing written).
    const big = Deno.openSync(`${root}/big`, { write: true, create: true });
    big.truncateSync(HASH_FIRST_MAX_BYTES);
    big.close();
    const bigCopy = (await describeBasis(root, "big", {
      hashFirst: { size: HASH_FIRST_MAX_BYTES, seed: 1 },
    }))!;
    assert(!offeredByHash(bigCopy.offer));
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: a sender refuses an offer with no chunks unless it is a small copy's 16-byte hash and nothing else", () => {
  const ok: BasisOffer = {
    avgBits: 11,
    seed: 1,
    size: 5000,
    lengths: new Uint32Array(0),
    digests: new Uint8Array(0),
    whole: new Uint8Array(16),
  };
  assertEquals(basisProblem(ok), undefined);
  const refused =
    /lists no chunks, but is not a copy under 16777216 bytes given by its 16-byte hash/;
  for (
    const bad of [
      { ...ok, whole: undefined },
      { ...ok, whole: new Uint8Array(8) },
      { ...ok, digests: new Uint8Array(4) },
      {
        ...ok,
        size: HASH_FIRST_MAX_BYTES,
        avgBits: avgBitsFor(HASH_FIRST_MAX_BYTES),
      },
    ]
  ) {
    const problem = basisProblem(bad);
    assert(problem !== undefined && refused.test(problem), problem);
  }
  assertEquals(
    basisProblem({ ...ok, size: 100 }),
    "its size 100 is out of range",
  );
});

/**
 * The frame events a sender wrote on a socket, read until the end frame;
 * `onEvent` sees each as it comes.
 */
async function readFrames(
  conn: Deno.Conn,
  onEvent: (event: FrameEvent) => void,
): Promise<FrameEvent[]> {
  const decoder = new FrameDecoder();
  const events: FrameEvent[] = [];
  const buffer = new Uint8Array(1 << 16);
  for (let i = 0; i < 100_000; i++) {
    const n = await conn.read(buffer);
    if (n === null) break;
    for (const event of decoder.push(buffer.subarray(0, n))) {
      // Views of the buffer: copied before the next read.
      const kept: FrameEvent = event.type === "hash"
        ? { type: "hash", digest: event.digest.slice() }
        : event.type === "data"
        ? { type: "data", bytes: event.bytes.slice() }
        : event;
      events.push(kept);
      onEvent(kept);
    }
    if (events.at(-1)?.type === "end") break;
  }
  return events;
}

Deno.test("hash first: the sender sends one copy for the same content, a describe-again frame for another, then takes the file once more, out of order, as a delta", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const oldRoot = Deno.realPathSync(Deno.makeTempDirSync());
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const same = random(50_000, 2);
    const old = random(60_000, 3);
    const changed = old.map((v, i) => i === 30_000 ? v ^ 1 : v);
    Deno.writeFileSync(`${root}/same`, same);
    Deno.writeFileSync(`${root}/changed`, changed);
    Deno.writeFileSync(`${root}/later`, random(2000, 4));
    Deno.writeFileSync(`${oldRoot}/changed`, old);
    const sender = new Sender(root);
    await sender.offer(
      [
        file("changed", changed.length),
        file("later", 2000),
        file("same", same.length),
      ],
      () => Promise.resolve(),
    );
    const byHash = async (data: Uint8Array): Promise<BasisOffer> => ({
      avgBits: 11,
      seed: 9,
      size: data.length,
      lengths: new Uint32Array(0),
      digests: new Uint8Array(0),
      whole: await hashBytes(data),
    });
    assertEquals(sender.need("changed", undefined, await byHash(old)), true);
    assertEquals(sender.need("same", undefined, await byHash(same)), true);
    // Not asked for again (yet): named a second time is refused.
    assertEquals(sender.need("changed"), false);
    const full = (await describeBasis(oldRoot, "changed"))!.offer;
    const accepted = listener.accept();
    const out = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    const into = await accepted;
    const sending = sender.sendTcp(out);
    const again: boolean[] = [];
    const events = await readFrames(into, (event) => {
      if (event.type !== "describe") return;
      // Named again with the full description: taken once, out of order.
      again.push(sender.need("changed", undefined, full));
      again.push(sender.need("changed", undefined, full));
      sender.endNeeds();
    });
    await sending;
    into.close();
    assertEquals(again, [true, false]);
    const kinds = events.filter((e) => e.type !== "data" && e.type !== "copy")
      .map((e) => "entry" in e ? `${e.type} ${e.entry.path}` : e.type);
    assertEquals(kinds, [
      "describe changed",
      "delta same",
      "hash",
      "delta changed",
      "hash",
      "end",
    ]);
    // The same content: one copy of it all, and its hash.
    const copy = events[2] as FrameEvent & { type: "copy" };
    assertEquals([copy.type, copy.offset, copy.length], [
      "copy",
      0,
      same.length,
    ]);
    assertEquals(
      (events[3] as FrameEvent & { type: "hash" }).digest,
      await hashBytes(same),
    );
    // The changed one: the chunk around the flipped byte, no more.
    const literal = events.reduce(
      (n, e) => n + (e.type === "data" ? e.bytes.length : 0),
      0,
    );
    assert(literal > 0 && literal < 20_000, `literal ${literal}`);
    assertEquals(
      (events.at(-2) as FrameEvent & { type: "hash" }).digest,
      await hashBytes(changed),
    );
    // The file never named: not sent.
    assertEquals(
      events.some((e) => "entry" in e && e.entry.path === "later"),
      false,
    );
  } finally {
    listener.close();
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(oldRoot, { recursive: true });
  }
});

Deno.test("hash first: a file that begins with the old copy offered by hash goes as a copy of it and the rest; one that does not, or is shorter, is asked for again (native and wasm hashers)", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const old = random(60_000, 11);
    const appended = new Uint8Array(65_000);
    appended.set(old);
    appended.set(random(5000, 12), old.length);
    const edited = appended.slice();
    edited[100] ^= 1;
    Deno.writeFileSync(`${root}/appended`, appended);
    Deno.writeFileSync(`${root}/edited`, edited);
    Deno.writeFileSync(`${root}/shorter`, old.subarray(0, 50_000));
    const offer: BasisOffer = {
      avgBits: avgBitsFor(old.length),
      seed: 9,
      size: old.length,
      lengths: new Uint32Array(0),
      digests: new Uint8Array(0),
      whole: await hashBytes(old),
    };
    const { loadHashWasm } = await import("../deps/hash_wasm.ts");
    const hashers = [
      await contentHasher(),
      (await (await loadHashWasm())
        .createXXHash128()) as unknown as ContentHasher,
    ];
    for (const hasher of hashers) {
      // Reads smaller than the old copy: its start is hashed in pieces.
      const scratch = new Uint8Array(7000);
      const events = (path: string, size: number) =>
        [...readEvents(
          root,
          { entry: file(path, size), basis: offer },
          hasher,
          scratch,
        )]
          .map((e) =>
            e.type === "data"
              ? { type: "data", bytes: e.bytes.slice() } as FrameEvent
              : e
          );
      const got = events("appended", appended.length);
      assertEquals(got.map((e) => e.type), [
        "delta",
        "copy",
        "data",
        "hash",
      ]);
      const copy = got[1] as FrameEvent & { type: "copy" };
      assertEquals([copy.offset, copy.length], [0, old.length]);
      assertEquals(
        (got[2] as FrameEvent & { type: "data" }).bytes,
        appended.subarray(old.length),
      );
      assertEquals(
        (got[3] as FrameEvent & { type: "hash" }).digest,
        await hashBytes(appended),
      );
      for (
        const [path, size] of [["edited", edited.length], [
          "shorter",
          50_000,
        ]] as const
      ) {
        assertEquals(events(path, size).map((e) => e.type), ["describe"]);
      }
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: a receiver takes a describe-again frame only for a file offered by hash, once, before any of it arrived", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const data = random(5000, 5);
    for (const name of ["h1", "h2", "full"]) {
      Deno.writeFileSync(`${root}/${name}`, data);
    }
    const hashFirst = { size: data.length, seed: 3 };
    const bases = new Map([
      ["h1", (await describeBasis(root, "h1", { hashFirst }))!],
      ["h2", (await describeBasis(root, "h2", { hashFirst }))!],
      ["full", (await describeBasis(root, "full"))!],
    ]);
    const entries = new Map(
      ["h1", "h2", "full"].map((n) => [n, file(n, data.length)]),
    );
    const asked: string[] = [];
    const [receiver] = FrameReceiver.group(root, entries, 1, {
      bases,
      onDescribeAgain: (key) => asked.push(key),
    });
    await receiver.write({ type: "describe", entry: file("h1", data.length) });
    assertEquals(asked, ["h1"]);
    const refused = (path: string) =>
      new RegExp(
        `^File ${path} was to be described again, but its old copy was not offered by its hash$`,
      );
    // Twice; a file described in full; one never described; one whose
    // bytes began to arrive.
    for (const path of ["h1", "full", "nothing", "h2"]) {
      const [again] = FrameReceiver.group(root, entries, 1, {
        bases,
        onDescribeAgain: (key) => asked.push(key),
      });
      if (path === "h2") {
        await again.write({ type: "file", entry: file("h2", data.length) });
        await again.write({ type: "data", bytes: data });
      }
      let error: unknown;
      try {
        await again.write({ type: "describe", entry: file(path, data.length) });
      } catch (e) {
        error = e;
      }
      assert(error instanceof FrameProtocolError, String(error));
      assert(
        path === "h2"
          ? /^File h2 to be described again inside another file$/.test(
            error.message,
          )
          : refused(path).test(error.message),
        error.message,
      );
    }
    assertEquals(asked, ["h1"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: the daemon's batcher hashes old copies offered by hash on its describing workers, big ones too, in a batch with a copy described in full", async () => {
  const { closeDescribers, warmDescribers } = await import("./basis_pool.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  warmDescribers();
  const tree = KernelTree.open(root)!;
  try {
    const small = random(5000, 6);
    const big = random(3 << 20, 7);
    Deno.writeFileSync(`${root}/small`, small);
    Deno.writeFileSync(`${root}/big`, big);
    Deno.writeFileSync(`${root}/other`, small);
    const batcher = new BasisBatcher(tree);
    const copies = [
      batcher.describe("small", small.length),
      batcher.describe("big", big.length),
      // Another size now: described in full, in the same batch.
      batcher.describe("other", small.length + 1),
      // Unless smaller than the file now, where asked so: by hash too.
      batcher.describe("other", small.length + 1, true),
    ];
    batcher.flush();
    const [s, b, o, g] = await Promise.all(copies);
    assert(offeredByHash(g!.offer));
    assertEquals(g!.offer.size, small.length);
    assertEquals(g!.offer.whole, await hashBytes(small));
    assert(offeredByHash(s!.offer) && offeredByHash(b!.offer));
    assertEquals(s!.offer.whole, await hashBytes(small));
    assertEquals(b!.offer.whole, await hashBytes(big));
    assertEquals(b!.content?.digest, await hashBytes(big));
    assert(!offeredByHash(o!.offer) && o!.offer.lengths.length > 1);
    assertEquals(BasisBatcher.held, 0);
  } finally {
    tree.close();
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: a receiver stops offering by hash once more than half of the answered offers (at least 8) came back asked for again", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const count = 20;
    const entries = oldCopies(root, count, 5000, 100);
    const receiver = new Receiver(root, { delta: true });
    receiver.hashFirst();
    const [sink] = receiver.receivers(1);
    const named: string[] = [];
    const plan = receiver.planBatches(
      (async function* () {
        yield entries;
      })(),
      async (path, { basis }) => {
        named.push(
          `${path} ${basis && offeredByHash(basis) ? "hash" : "full"}`,
        );
        // Every file edited in place: each offer by hash is asked again.
        if (basis && offeredByHash(basis)) {
          await sink.write({ type: "describe", entry: file(path, 5000) });
        }
      },
    );
    await plan;
    await receiver.settled();
    const byHash = named.filter((n) => n.endsWith("hash"));
    assertEquals(byHash, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `f${i} hash`));
    // The 8 named again, the other 12 described in full at once.
    assertEquals(named.filter((n) => n.endsWith("full")).length, count);
    assertEquals(
      new Set(named.map((n) => n.split(" ")[0])).size,
      count,
    );
    await sink.abort();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: with --checksum (old copies already found to differ by content) nothing is offered by hash", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const entries: FileEntry[] = [];
    for (let i = 0; i < 3; i++) {
      Deno.writeFileSync(`${root}/f${i}`, random(5000, 200 + i));
      entries.push({ ...file(`f${i}`, 5000), hash: new Uint8Array(16) });
    }
    const receiver = new Receiver(root, { delta: true, checksum: true });
    receiver.hashFirst();
    receiver.receivers(1);
    const named = await planNamed(receiver, entries);
    assertEquals(named, ["f0 full", "f1 full", "f2 full"]);
    assertEquals(receiver.unsettled, false);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

/**
 * The sender's answer to an offer by hash when its file is the old copy's
 * content (`root/path`, `size` bytes): one copy of it all, and its hash.
 */
async function answerSame(
  sink: FrameReceiver,
  root: string,
  path: string,
  size: number,
): Promise<void> {
  await sink.write({ type: "delta", entry: file(path, size) });
  await sink.write({ type: "copy", offset: 0, length: size });
  await sink.write({
    type: "hash",
    digest: await hashBytes(Deno.readFileSync(`${root}/${path}`)),
  });
}

/** `entries` as a manifest of one batch. */
async function* oneBatch(entries: FileEntry[]) {
  yield entries;
}

/**
 * A need callback noting each named file ("path hash" or "path full") in
 * `named`, and in `byHash` those offered by hash (for the sender to answer).
 */
function noteNamed(named: string[], byHash: string[]) {
  return (path: string, { basis }: { basis?: BasisOffer }) => {
    const hashed = basis !== undefined && offeredByHash(basis);
    named.push(`${path} ${hashed ? "hash" : "full"}`);
    if (hashed) byHash.push(path);
  };
}

Deno.test("hash first: a plan offers at most 32 old copies by hash before the sender's first answers, then judges by them", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const count = 100;
    const entries = oldCopies(root, count, 2000, 300);
    for (const edited of [true, false]) {
      const receiver = new Receiver(root, { delta: true });
      receiver.hashFirst();
      const [sink] = receiver.receivers(1);
      const named: string[] = [];
      const unanswered: string[] = [];
      await receiver.planBatches(
        oneBatch(entries),
        noteNamed(named, unanswered),
        // The sender answers what was named once it is sent: each file
        // edited in place (asked for again), or the same (it arrives).
        async () => {
          for (const path of unanswered.splice(0)) {
            if (edited) {
              await sink.write({ type: "describe", entry: file(path, 2000) });
            } else await answerSame(sink, root, path, 2000);
          }
        },
      );
      const byHash = named.filter((n) => n.endsWith("hash")).length;
      // Edited in place: the probe's 32 only; the same: every file.
      assertEquals(byHash, edited ? 32 : count, named.join());
      await sink.abort();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: old copies bigger than their files are not offered by hash and never stop the plan to wait for answers", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    // Each file is now a byte shorter: no old copy can be its start.
    const entries = oldCopies(root, 100, 2000, 500, 1999);
    const receiver = new Receiver(root, { delta: true });
    receiver.hashFirst();
    const [sink] = receiver.receivers(1);
    let flushes = 0;
    const named = await planNamed(receiver, entries, () => {
      flushes++;
    });
    assertEquals(
      named,
      entries.map((e) => `${e.path} full`),
    );
    // No probe: the plan named them as described, with no stop (a flush
    // and a wait) for answers no offer asked for.
    assertEquals(flushes, 0);
    assertEquals(receiver.unsettled, false);
    await sink.abort();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: smaller old copies go by hash while grown files that landed (before 8: the last two transfers') were mostly appended to, in full otherwise", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const count = 60;
    const cases = [
      // Nothing known: in full until 8 appends landed, then by hash.
      { before: undefined, appended: true, hash: count - 8, full: 8 },
      // The last two transfers' were appends, these are edits: the first
      // 8 by hash (each asked for again, then named in full), the rest in
      // full.
      {
        before: { appended: 9, other: 1, streak: 1 },
        appended: false,
        hash: 8,
        full: count,
      },
      // Only the last one's were appends (they take turns): all in full.
      {
        before: { appended: 9, other: 1, streak: 0 },
        appended: false,
        hash: 0,
        full: count,
      },
      // The last one's were edits: all in full.
      {
        before: { appended: 1, other: 9, streak: 5 },
        appended: false,
        hash: 0,
        full: count,
      },
    ];
    for (const { before, appended, hash, full } of cases) {
      // (Written again: the last case's files landed.)
      const entries = oldCopies(root, count, 2000, 600, 2100);
      const grown = before && { ...before };
      const receiver = new Receiver(root, { delta: true, grown });
      receiver.hashFirst();
      const [sink] = receiver.receivers(1);
      const named: string[] = [];
      const unanswered: string[] = [];
      const take = noteNamed(named, unanswered);
      // One answer at a time on the one connection (files named again
      // are named while the plan goes on).
      let answering = Promise.resolve();
      const answer = async (path: string, byHash: boolean) => {
        // Offered by hash: its file begins with the old copy (a copy of it
        // and 100 bytes more) or not (asked for again); described in
        // full: a delta as above, or one that keeps only the old copy's
        // first half.
        if (byHash && !appended) {
          await sink.write({ type: "describe", entry: file(path, 2100) });
          return;
        }
        const old = Deno.readFileSync(`${root}/${path}`);
        const kept = appended ? 2000 : 1000;
        const body = random(2100, 700);
        body.set(old.subarray(0, kept));
        await sink.write({ type: "delta", entry: file(path, 2100) });
        await sink.write({ type: "copy", offset: 0, length: kept });
        await sink.write({ type: "data", bytes: body.subarray(kept) });
        await sink.write({ type: "hash", digest: await hashBytes(body) });
      };
      await receiver.planBatches(
        oneBatch(entries),
        (path, offers) => {
          take(path, offers);
          const byHash = unanswered.splice(0).length > 0;
          // The sender answers at once.
          return answering = answering.then(() => answer(path, byHash));
        },
      );
      await answering;
      await receiver.settled();
      const which = JSON.stringify(before);
      assertEquals(named.filter((n) => n.endsWith("hash")).length, hash, which);
      assertEquals(named.filter((n) => n.endsWith("full")).length, full, which);
      // Kept for the next transfer: this one's grown files, and how many
      // transfers before it in a row were mostly appends.
      if (before) {
        const streak = before.appended > before.other ? before.streak + 1 : 0;
        assertEquals(grown, { appended: 0, other: count, streak }, which);
      }
      await sink.abort();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash first: while the probe waits for its answers the plan goes on deciding and describing, and names nothing more until they come", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const count = 100;
    const entries = oldCopies(root, count, 2000, 400);
    const decided: string[] = [];
    const receiver = new Receiver(root, {
      delta: true,
      onItem: (_, path) => decided.push(path),
    });
    receiver.hashFirst();
    const [sink] = receiver.receivers(1);
    const named: string[] = [];
    const unanswered: string[] = [];
    let atProbe: { decided: number; named: number } | undefined;
    let atAnswer: { decided: number; named: number } | undefined;
    // One answer at a time (the timer's and the flushes' would interleave
    // their frames on the one connection).
    let answering = Promise.resolve();
    const answer = () =>
      answering = answering.then(async () => {
        for (const path of unanswered.splice(0)) {
          await answerSame(sink, root, path, 2000);
        }
      });
    await receiver.planBatches(
      oneBatch(entries),
      noteNamed(named, unanswered),
      async () => {
        if (atProbe) return await answer();
        // The probe's flush: the sender answers only after a while.
        atProbe = { decided: decided.length, named: named.length };
        setTimeout(() => {
          atAnswer = { decided: decided.length, named: named.length };
          answer();
        }, 100);
      },
    );
    assertEquals(atProbe?.named, 32);
    // Meanwhile: more decided (and described), none named.
    assertEquals(atAnswer!.named, 32);
    assertEquals(
      atAnswer!.decided > atProbe!.decided,
      true,
      `${atAnswer!.decided}`,
    );
    // The same content everywhere: every file offered by hash, each once.
    assertEquals(named.filter((n) => n.endsWith("hash")).length, count);
    assertEquals(new Set(named).size, count);
    await answer();
    await receiver.settled();
    await sink.abort();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
