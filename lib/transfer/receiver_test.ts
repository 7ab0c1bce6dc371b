// The Receiver, fed by a Sender in memory (no gRPC, no daemon): the
// control channel is two function calls; the bytes cross as FileData
// chunks (split at odd sizes) or as frames on a socket pair over loopback.
import { loopbackPair } from "../../tests/_net.ts";
import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import type { FileEntry } from "../fs/entry.ts";
import type { ManifestMessage } from "./peer.ts";
import { SendWindow } from "../rpc/call_io.ts";
import { enumerate } from "../fs/enumerate.ts";
import { Receiver } from "./receiver.ts";
import { GrpcReceiver } from "../wire/grpc_data.ts";
import { Sender } from "./sender.ts";
import { FrameProtocolError } from "../wire/frame_codec.ts";
import { hashBytes } from "../fs/hash.ts";
import { hashed } from "../../tests/_frames.ts";

function tree(): { work: string; src: string; dst: string } {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const src = `${work}/src`;
  const dst = `${work}/dst`;
  Deno.mkdirSync(`${src}/d/e`, { recursive: true });
  Deno.writeTextFileSync(`${src}/a.txt`, "alpha");
  Deno.writeFileSync(`${src}/d/big`, new Uint8Array(300_000).fill(9));
  Deno.writeTextFileSync(`${src}/d/e/c`, "");
  Deno.symlinkSync("../a.txt", `${src}/d/link`);
  Deno.mkdirSync(dst);
  return { work, src, dst };
}

/** The sender's manifest messages as the receiver's stream of entries. */
function manifestOf(
  next: () => Promise<ManifestMessage | undefined>,
): ReadableStream<FileEntry> {
  return new ReadableStream<FileEntry>({
    async pull(controller) {
      for (;;) {
        const message = await next();
        if (!message || message.kind === "manifestEnd") {
          controller.close();
          return;
        }
        for (const entry of message.entries) {
          controller.enqueue(structuredClone(entry));
        }
        if (message.entries.length > 0) return;
      }
    },
  });
}

/**
 * The sender's manifest offered while the plan runs: its messages as the
 * receiver's stream (each waited for), and the offer's end.
 */
function liveManifest(sender: Sender, src: string) {
  const payloads: ManifestMessage[] = [];
  let wake: (() => void) | undefined;
  const offering = sender.offer(enumerate(src), (p) => {
    payloads.push(p);
    wake?.();
    return Promise.resolve();
  });
  const manifest = manifestOf(async () => {
    while (payloads.length === 0) {
      await new Promise<void>((r) => wake = r);
    }
    return payloads.shift();
  });
  return { manifest, offering };
}

/** Manifest payloads from the sender become the receiver's stream. */
async function exchange(sender: Sender, receiver: Receiver, src: string) {
  const payloads: ManifestMessage[] = [];
  await sender.offer(enumerate(src), (p) => {
    payloads.push(p);
    return Promise.resolve();
  });
  const needed: string[] = [];
  await receiver.plan(
    manifestOf(() => Promise.resolve(payloads.shift())),
    (path) => {
      needed.push(path);
    },
  );
  for (const path of needed) assertEquals(sender.need(path), true);
  sender.endNeeds();
  return needed;
}

Deno.test("roles: a tree crosses as gRPC chunks; a second run needs nothing", async () => {
  const { work, src, dst } = tree();
  for (let run = 0; run < 2; run++) {
    const sender = new Sender(src);
    const receiver = new Receiver(dst);
    const needed = await exchange(sender, receiver, src);
    assertEquals(needed.sort(), run === 0 ? ["a.txt", "d/big", "d/e/c"] : []);
    const grpc = new GrpcReceiver(receiver.sink());
    // The window is acknowledged by hand, as a receiver's DataAck would.
    const window = new SendWindow(64 * 1024);
    await sender.sendGrpc(window, async (chunk) => {
      // Split each chunk at an odd size to cross frame boundaries.
      const cut = Math.min(7, chunk.data.length);
      if (chunk.data.length > cut) {
        await grpc.write({
          ...chunk,
          data: chunk.data.subarray(0, cut),
          last: false,
        });
        await grpc.write({
          path: chunk.path,
          data: chunk.data.subarray(cut),
          last: chunk.last,
          hash: chunk.hash,
        });
      } else await grpc.write(chunk);
      window.ack(Number.MAX_SAFE_INTEGER);
    });
    await grpc.finish();
    const result = await receiver.finish();
    assertEquals(
      result,
      run === 0
        ? {
          files: 4,
          bytes: 300_005,
          deleted: 0,
          skipped: 0,
          resumed: 0,
          matched: 0,
          same: 0,
        }
        : {
          files: 0,
          bytes: 0,
          deleted: 0,
          skipped: 4,
          resumed: 0,
          matched: 0,
          same: 0,
        },
    );
  }
  assertEquals(Deno.readTextFileSync(`${dst}/a.txt`), "alpha");
  assertEquals(Deno.statSync(`${dst}/d/big`).size, 300_000);
  assertEquals(Deno.readLinkSync(`${dst}/d/link`), "../a.txt");
  assertEquals(
    Deno.statSync(`${dst}/a.txt`).mtime,
    Deno.statSync(`${src}/a.txt`).mtime,
  );
  Deno.removeSync(work, { recursive: true });
});

Deno.test("roles: frames over a socket; a mirror deletes after, a dry run only counts", async () => {
  const { work, src, dst } = tree();
  Deno.mkdirSync(`${dst}/old/deep`, { recursive: true });
  Deno.writeTextFileSync(`${dst}/old/deep/x`, "x");
  Deno.writeTextFileSync(`${dst}/stale`, "s");
  // Dry run: the same counts, nothing touched.
  const dry = new Receiver(dst, { mirror: true, dryRun: true });
  await exchange(new Sender(src), dry, src);
  assertEquals(await dry.finish(), {
    files: 4,
    bytes: 300_005,
    // stale, old/deep/x, and the directories old and old/deep.
    deleted: 4,
    skipped: 0,
    resumed: 0,
    matched: 0,
    same: 0,
  });
  assertEquals(Deno.readTextFileSync(`${dst}/stale`), "s");

  const sender = new Sender(src);
  const receiver = new Receiver(dst, { mirror: true });
  await exchange(sender, receiver, src);
  const [out, inbound] = await loopbackPair();
  const [receiving] = receiver.receivers(1);
  await Promise.all([
    sender.sendTcp(out),
    receiver.receiveTcp(inbound, receiving),
  ]);
  assertEquals(await receiver.finish(), {
    files: 4,
    bytes: 300_005,
    // stale, old/deep/x, and the directories old and old/deep.
    deleted: 4,
    skipped: 0,
    resumed: 0,
    matched: 0,
    same: 0,
  });
  assertEquals(
    [...Deno.readDirSync(dst)].map((e) => e.name).sort(),
    ["a.txt", "d"],
  );
  Deno.removeSync(work, { recursive: true });
});

Deno.test("roles: what the peer may not do", async () => {
  const { work, src, dst } = tree();
  // Needs come in manifest order: a path asked twice, behind one already
  // named, or never offered is refused.
  const sender = new Sender(src);
  await sender.offer(enumerate(src), () => Promise.resolve());
  assertEquals(sender.held, 3); // a.txt, d/big, d/e/c
  assertEquals(sender.need("a.txt"), true);
  assertEquals(sender.need("a.txt"), false);
  const behind = new Sender(src);
  await behind.offer(enumerate(src), () => Promise.resolve());
  assertEquals(behind.need("d/big"), true);
  assertEquals(behind.need("a.txt"), false);
  const never = new Sender(src);
  await never.offer(enumerate(src), () => Promise.resolve());
  assertEquals(never.need("nope"), false);
  assertEquals(never.held, 0);
  // A manifest that lists a file twice.
  const twice = new Receiver(dst);
  const entry = {
    path: "f",
    kind: "file" as const,
    size: 1,
    mtimeMs: 0,
    mode: 0o644,
  };
  await assertRejects(
    () => twice.plan(ReadableStream.from([entry, { ...entry }]), () => {}),
    RangeError,
    /Manifest lists f twice/,
  );
  // A renamed single file: one entry only, written under the new name.
  const single = new Receiver(dst, { rename: "local-name" });
  const needed: string[] = [];
  await single.plan(
    ReadableStream.from([{ ...entry, path: "remote" }]),
    (p) => {
      needed.push(p);
    },
  );
  assertEquals(needed, ["remote"]);
  const grpc = new GrpcReceiver(single.sink());
  await grpc.write({
    path: "remote",
    header: { ...entry, path: "remote" },
    data: new Uint8Array([5]),
    last: true,
    hash: await hashBytes(new Uint8Array([5])),
  });
  await grpc.finish();
  assertEquals(Deno.readFileSync(`${dst}/local-name`), new Uint8Array([5]));
  await assertRejects(
    () =>
      new Receiver(dst, { rename: "x" }).plan(
        ReadableStream.from([entry, { ...entry, path: "g" }]),
        () => {},
      ),
    RangeError,
    /lists one entry/,
  );
  // Bytes for a file nobody asked for never land.
  const strict = new Receiver(dst);
  await strict.plan(ReadableStream.from([]), () => {});
  const rogue = new GrpcReceiver(strict.sink());
  await assertRejects(
    async () => {
      await rogue.write({
        path: "rogue",
        header: { ...entry, path: "rogue" },
        data: new Uint8Array(1),
        last: true,
        hash: await hashBytes(new Uint8Array(1)),
      });
      await rogue.finish();
    },
    FrameProtocolError,
    /was not asked for/,
  );
  assertThrows(() => strict.sink(), Error, /already made/);
  assertEquals(
    [...Deno.readDirSync(dst)].map((e) => e.name).includes("rogue"),
    false,
  );
  Deno.removeSync(work, { recursive: true });
});

/** Lets every pending callback, microtask and stream hop run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
}

Deno.test("Receiver.pace: the plan names at most N files ahead of those committed, flushing before it waits", async () => {
  const dst = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const entries = Array.from({ length: 50 }, (_, i) => ({
      path: `f${String(i).padStart(2, "0")}`,
      kind: "file" as const,
      size: 1,
      mtimeMs: 0,
      mode: 0o644,
    }));
    const receiver = new Receiver(dst);
    receiver.pace(8);
    const writer = receiver.sink().getWriter();
    const named: string[] = [];
    const flushedAt: number[] = [];
    let planned = false;
    const planning = receiver.plan(
      ReadableStream.from(entries.map((e) => ({ ...e }))),
      (path) => {
        named.push(path);
      },
      () => {
        flushedAt.push(named.length);
      },
    ).then(() => planned = true);
    const deliver = async (from: number, to: number) => {
      for (const e of entries.slice(from, to)) {
        await writer.write(
          await hashed([{ type: "file", entry: { ...e } }, {
            type: "data",
            bytes: new Uint8Array([1]),
          }]),
        );
      }
    };
    await settle();
    assertEquals([named.length, flushedAt, planned], [9, [9], false]);
    await deliver(0, 4); // 5 outstanding: more than half of 8, still waiting
    await settle();
    assertEquals(named.length, 9);
    await deliver(4, 5); // 4 outstanding: it resumes, up to 9 ahead again
    await settle();
    assertEquals([named.length, flushedAt], [14, [9, 14]]);
    receiver.pace(Infinity); // the data path ended: no more waiting
    await planning;
    assertEquals(named.length, 50);
    await deliver(5, 50);
    await writer.write({ type: "end" });
    await writer.close();
    const result = await receiver.finish();
    assertEquals([result.files, result.bytes], [50, 50]);
  } finally {
    Deno.removeSync(dst, { recursive: true });
  }
});

/** A work directory with `src/d` and `dst/d` in it. */
function srcAndDst(): { work: string; src: string; dst: string } {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const src = `${work}/src`;
  const dst = `${work}/dst`;
  Deno.mkdirSync(`${src}/d`, { recursive: true });
  Deno.mkdirSync(`${dst}/d`, { recursive: true });
  return { work, src, dst };
}

Deno.test("decided: the sender forgets what the receiver passed over, never a file it will still name", async () => {
  const { work, src, dst } = srcAndDst();
  try {
    // 9,000 files; the destination has every one but each 7th, up to date.
    for (let i = 0; i < 9000; i++) {
      const name = `d/f${String(i).padStart(5, "0")}`;
      Deno.writeTextFileSync(`${src}/${name}`, `${i}`);
      Deno.utimeSync(`${src}/${name}`, 1_500_000_000, 1_500_000_000 + i);
      if (i % 7 !== 0) {
        Deno.writeTextFileSync(`${dst}/${name}`, `${i}`);
        Deno.utimeSync(`${dst}/${name}`, 1_500_000_000, 1_500_000_000 + i);
      }
    }
    const sender = new Sender(src);
    const receiver = new Receiver(dst);
    // The manifest crosses a batch at a time while the plan runs.
    const { manifest, offering } = liveManifest(sender, src);
    let batch: string[] = [];
    let peak = 0;
    let reports = 0;
    const flush = () => {
      // What the wire carries: the paths named, then how far it decided.
      for (const path of batch) assertEquals(sender.need(path), true, path);
      batch = [];
      sender.forget(receiver.decided);
      peak = Math.max(peak, sender.held);
      reports++;
    };
    await receiver.plan(
      manifest,
      (path) => {
        batch.push(path);
      },
      flush,
    );
    await offering;
    flush();
    assertEquals(receiver.decided, 9001); // d and every file
    assertEquals([sender.needed, sender.held], [1286, 0]);
    // Progress came while planning: the sender never held the whole tree.
    assertEquals(reports >= 3, true);
    assertEquals(peak < 9000, true);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

/** Polls `done` between event-loop turns (bounded), for stages to settle. */

Deno.test("decided: old copies described on the workers, the need list still names files in manifest order and the sender forgets only what was decided", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const { closeDescribers, warmDescribers } = await import(
    "../delta/basis_pool.ts"
  );
  const { work, src, dst } = srcAndDst();
  try {
    // 3,000 files; each third changed at the destination (an old copy of
    // 1.5-9 KiB to describe), two of them big, each seventh missing.
    const body = (i: number, old: boolean) => {
      const size = i % 1000 === 3 ? (1 << 20) + i : 1536 + (i * 37) % 7680;
      return new Uint8Array(size).map((_, j) =>
        (j * 31 + i + (old ? 1 : 0)) & 255
      );
    };
    for (let i = 0; i < 3000; i++) {
      const name = `d/f${String(i).padStart(5, "0")}`;
      Deno.writeFileSync(`${src}/${name}`, body(i, false));
      Deno.utimeSync(`${src}/${name}`, 1_500_000_000, 1_500_000_000 + i);
      if (i % 7 === 0) continue;
      Deno.writeFileSync(`${dst}/${name}`, body(i, i % 3 === 0));
      Deno.utimeSync(
        `${dst}/${name}`,
        1_500_000_000,
        1_500_000_000 + i + (i % 3 === 0 ? 1 : 0),
      );
    }
    const root = KernelTree.open(dst);
    if (!root || !warmDescribers()) return; // no openat2 or workers here
    try {
      const sender = new Sender(src);
      const receiver = new Receiver(root, { delta: true });
      const { manifest, offering } = liveManifest(sender, src);
      let batch: string[] = [];
      let described = 0;
      const flush = () => {
        // Sender.need refuses a path out of manifest order or forgotten.
        for (const path of batch) assertEquals(sender.need(path), true, path);
        batch = [];
        sender.forget(receiver.decided);
      };
      await receiver.plan(
        manifest,
        (path, { basis }) => {
          if (basis) described++;
          batch.push(path);
          if (batch.length >= 50) flush();
        },
        flush,
      );
      await offering;
      flush();
      assertEquals(receiver.decided, 3001);
      // Missing: 429 (each 7th); changed: 1,000 of the rest's third.
      const changed = [...Array(3000).keys()].filter((i) =>
        i % 7 !== 0 && i % 3 === 0
      ).length;
      assertEquals([sender.needed, sender.held], [429 + changed, 0]);
      assertEquals(described, changed);
    } finally {
      root.close();
    }
  } finally {
    await closeDescribers();
    Deno.removeSync(work, { recursive: true });
  }
});
