import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "../fs/entry.ts";
import {
  frameBatches,
  FrameSender,
  frameSource,
  receiveFrames,
  receiveInto,
  sendFrames,
  sendItems,
} from "./frame_io.ts";
import { FrameReceiver } from "./frame_receiver.ts";
import { FrameDecoder } from "./frame_decoder.ts";
import { FrameSink } from "./frame_sink.ts";
import { MAX_RANGES_PER_FILE } from "./frame_codec.ts";
import { ReceiveSink } from "./receive_sink.ts";
import { FrameProtocolError } from "./frame_codec.ts";
import { writeAll } from "./socket.ts";
import { loopbackPair } from "../../tests/_net.ts";

/** A plain file's entry (mode 644, mtime 0). */
function entry(path: string, size: number): FileEntry {
  return { path, kind: "file", size, mtimeMs: 0, mode: 0o644 };
}

Deno.test("sendFrames -> receiveFrames over a socket, one reused buffer each side", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const entries: FileEntry[] = [0, 5, 100_000, 3 * 65536 + 7].map((size, i) => {
    Deno.writeFileSync(
      `${root}/f${i}`,
      new Uint8Array(size).map((_, j) => (i + j * 3) & 0xff),
    );
    return {
      path: `f${i}`,
      kind: "file",
      size,
      mtimeMs: 2000 * i,
      mode: 0o640,
    };
  });
  try {
    // Through the stream stages, then through a FrameReceiver without one.
    for (const plain of [false, true]) {
      // The second pass starts from an empty destination.
      if (plain) {
        for (const e of entries) Deno.removeSync(`${dest}/${e.path}`);
      }
      const [a, b] = await loopbackPair();
      const expected = new Map(entries.map((e) => [e.path, e]));
      const sink = new ReceiveSink(dest, expected);
      const [receiver] = FrameReceiver.group(dest, expected, 1);
      await Promise.all([
        sendFrames(a, root, entries, { bufferSize: 65536 }),
        plain
          ? receiveInto(b, receiver, { bufferSize: 8192 })
          : receiveFrames(b, sink, { bufferSize: 8192 }),
      ]);
      a.close();
      b.close();
      assertSameFiles(root, dest, entries);
      for (const e of entries) {
        assertEquals(Deno.statSync(`${dest}/${e.path}`).mode! & 0o777, 0o640);
      }
      assertEquals((plain ? receiver : sink).stats.files, 4);
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("a peer that stops mid-file leaves nothing (receiveFrames, and receiveInto aborting its receiver); a bad buffer size is refused at once", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const e: FileEntry = {
      path: "big",
      kind: "file",
      size: 4 * 1024 * 1024,
      mtimeMs: 0,
      mode: 0o644,
    };
    const { encodeFileHeader } = await import("./frame_codec.ts");
    for (const plain of [false, true]) {
      const [a, b] = await loopbackPair();
      const expected = new Map([["big", e]]);
      const receiving = plain
        ? receiveInto(b, FrameReceiver.group(dest, expected, 1)[0])
        : receiveFrames(b, new ReceiveSink(dest, expected));
      await writeAll(a, encodeFileHeader(e));
      await writeAll(a, new Uint8Array(2 * 1024 * 1024));
      a.close();
      await assertRejects(
        () => receiving,
        FrameProtocolError,
        /short of a file body/,
      );
      b.close();
      assertEquals([...Deno.readDirSync(dest)], []);
    }
    // A bad buffer size is refused at once, not on the first read.
    const [c, d] = await loopbackPair();
    try {
      assertEquals(
        (() => {
          try {
            frameBatches(d, { bufferSize: 0 });
            return "";
          } catch (error) {
            return (error as Error).message;
          }
        })(),
        "bufferSize must be a positive integer, got 0",
      );
    } finally {
      c.close();
      d.close();
    }
  } finally {
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("FrameSink takes entries and batches; frameSource yields a batch of events per read", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeTextFileSync(`${root}/a`, "aa");
  Deno.writeTextFileSync(`${root}/b`, "b");
  Deno.writeTextFileSync(`${root}/c`, "");
  const [a, b] = await loopbackPair();
  const dir: FileEntry = { ...entry("d", 0), kind: "dir" };
  const [, batches] = await Promise.all([
    ReadableStream.from<FileEntry | FileEntry[]>([
      entry("a", 2),
      [dir, entry("b", 1), entry("c", 0)],
    ]).pipeTo(new FrameSink(a, root)),
    // Copies taken at once: each batch's bytes are views of one buffer.
    Array.fromAsync(
      frameSource(b, { bufferSize: 3 }).pipeThrough(
        new TransformStream({
          transform(batch, controller) {
            controller.enqueue(
              batch.map((e) =>
                e.type === "data"
                  ? `${e.type}:${new TextDecoder().decode(e.bytes)}`
                  : e.type === "file"
                  ? `${e.type}:${e.entry.path}`
                  : e.type
              ),
            );
          },
        }),
      ),
    ),
  ]);
  // Bodies may split across reads: join consecutive data events.
  const merged: string[] = [];
  for (const event of batches.flat()) {
    const last = merged.at(-1);
    if (event.startsWith("data:") && last?.startsWith("data:")) {
      merged[merged.length - 1] = last + event.slice(5);
    } else merged.push(event);
  }
  // Each body is followed by its content hash.
  assertEquals(merged, [
    "file:a",
    "data:aa",
    "hash",
    "file:b",
    "data:b",
    "hash",
    "file:c",
    "hash",
    "end",
  ]);
  // A 3-byte buffer: many reads, each a batch, none empty.
  assertEquals(batches.length > 3, true);
  assertEquals(batches.every((batch) => batch.length > 0), true);
  a.close();
  b.close();
  Deno.removeSync(root, { recursive: true });
});

Deno.test("sendItems: ranges of 4-64 MiB that cover the file once, never more than a receiver takes", async () => {
  const file = (size: number) => ({
    path: "f",
    kind: "file" as const,
    size,
    mtimeMs: 0,
    mode: 0o644,
  });
  for (const [size, streams] of [[9 << 20, 2], [1 << 30, 4], [2 ** 41, 16]]) {
    const items = await Array.fromAsync(sendItems([file(size)], streams));
    let covered = 0;
    for (const item of items) {
      if (!("range" in item)) throw new Error("expected ranges");
      assertEquals(item.range.offset, covered);
      covered += item.range.length;
    }
    assertEquals(covered, size);
    if (!(items.length <= MAX_RANGES_PER_FILE)) {
      throw new Error(`${items.length} ranges for ${size} bytes`);
    }
  }
  // One stream, or a small file: whole.
  assertEquals(await Array.fromAsync(sendItems([file(1 << 30)], 1)), [
    file(1 << 30),
  ]);
});

Deno.test("sendItems: a partial batch leaves when the source has nothing ready", async () => {
  const { WorkQueue } = await import("../transfer/_queue.ts");
  const queue = new WorkQueue<FileEntry>();
  const small = (path: string): FileEntry => ({
    path,
    kind: "file",
    size: 1,
    mtimeMs: 0,
    mode: 0o644,
  });
  const items = sendItems(queue, 1, () => queue.idle);
  queue.push(small("a"));
  queue.push(small("b"));
  queue.push(small("c"));
  const first = await items.next();
  assertEquals(
    (first.value as FileEntry[]).map((e) => e.path),
    ["a", "b", "c"],
  );
  queue.push(small("d"));
  queue.close();
  const rest = await Array.fromAsync({ [Symbol.asyncIterator]: () => items });
  assertEquals(rest.flat().map((e) => (e as FileEntry).path), ["d"]);
});

Deno.test("sendFrames: a body of half to a whole buffer leaves after its header", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const entries: FileEntry[] = [10, 700_000, 600_000].map((size, i) => {
      Deno.writeFileSync(`${root}/f${i}`, new Uint8Array(size).fill(i + 1));
      return { path: `f${i}`, kind: "file", size, mtimeMs: 0, mode: 0o644 };
    });
    const [a, b] = await loopbackPair();
    const sink = new ReceiveSink(
      dest,
      new Map(entries.map((e) => [e.path, e])),
    );
    await Promise.all([
      sendFrames(a, root, entries),
      receiveFrames(b, sink),
    ]);
    a.close();
    b.close();
    assertSameFiles(root, dest, entries);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("sendFrames: deltas and compressed streams over a socket rebuild the files exactly", async () => {
  const { describeBasis } = await import("../delta/basis.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const old = new Uint8Array(3 << 20);
    for (let i = 0; i < old.length; i += 65536) {
      crypto.getRandomValues(old.subarray(i, i + 65536));
    }
    const next = old.slice();
    next.set(new Uint8Array(800_000).fill(9), 1 << 20);
    Deno.writeFileSync(`${dest}/f`, old);
    Deno.writeFileSync(`${root}/f`, next);
    const text = new TextEncoder().encode("compressible ".repeat(50_000));
    Deno.writeFileSync(`${root}/t`, text);
    const basis = (await describeBasis(dest, "f"))!;
    const entries: FileEntry[] = [
      { path: "f", kind: "file", size: next.length, mtimeMs: 0, mode: 0o600 },
      { path: "t", kind: "file", size: text.length, mtimeMs: 0, mode: 0o644 },
    ];
    const [a, b] = await loopbackPair();
    let wire = 0;
    const sink = new ReceiveSink(
      dest,
      new Map(entries.map((e) => [e.path, e])),
      { bases: new Map([["f", basis]]) },
    );
    await Promise.all([
      sendFrames(a, root, [{ ...entries[0], basis: basis.offer }, entries[1]], {
        compress: { mode: "on" },
        onWire: (n) => wire += n,
      }),
      receiveFrames(b, sink),
    ]);
    a.close();
    b.close();
    assertEquals(Deno.readFileSync(`${dest}/f`), next);
    assertEquals(Deno.readFileSync(`${dest}/t`), text);
    assertEquals(sink.stats.files, 2);
    // The copied 2.2 MiB never crossed; the run of nines and the text shrank.
    assertEquals(sink.stats.matched > 2 << 20, true);
    assertEquals(wire < 200_000, true, `${wire} bytes on the wire`);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("FrameSender: frames waiting in its buffer leave before a big file's delta is matched", async () => {
  const { describeBasis } = await import("../delta/basis.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const small = new Uint8Array(3000).fill(7);
    Deno.writeFileSync(`${root}/s`, small);
    const old = new Uint8Array(2 << 20);
    for (let i = 0; i < old.length; i += 65536) {
      crypto.getRandomValues(old.subarray(i, i + 65536));
    }
    const next = old.slice();
    next[1 << 20] ^= 1;
    Deno.writeFileSync(`${dest}/b`, old);
    Deno.writeFileSync(`${root}/b`, next);
    const basis = (await describeBasis(dest, "b"))!;
    const writes: Uint8Array[] = [];
    const sender = new FrameSender({
      write: (
        bytes,
      ) => (writes.push(bytes.slice()), Promise.resolve(bytes.length)),
      closeWrite: () => Promise.resolve(),
    }, root);
    // The small file's frames are held (less than a buffer, and the
    // sender started moments ago), until the big delta is taken.
    await sender.write(entry("s", small.length));
    await sender.write({ entry: entry("b", next.length), basis: basis.offer });
    await sender.close();
    // The small file went alone, before the big file's first frame.
    const first = new FrameDecoder().push(writes[0]);
    assertEquals(first.map((e) => e.type), ["file", "data", "hash"]);
    assertEquals(first[0].type === "file" && first[0].entry.path, "s");
    const rest = new FrameDecoder();
    const later = writes.slice(1).flatMap((w) => rest.push(w));
    assertEquals(later[0].type, "delta");
    assertEquals(later.at(-1)?.type, "end");
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});

/** Each of `entries` has the same bytes under `to` as under `from`. */
function assertSameFiles(
  from: string,
  to: string,
  entries: readonly { path: string }[],
): void {
  for (const e of entries) {
    assertEquals(
      Deno.readFileSync(`${to}/${e.path}`),
      Deno.readFileSync(`${from}/${e.path}`),
    );
  }
}

Deno.test("sendFrames -> receiveInto: each side's buffers serve the next transfer once it ends cleanly", async () => {
  const { keptBuffers, takeBuffer } = await import("./buffer_pool.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const entries = [entry("a", 70_000), entry("b", 3)];
  for (const e of entries) {
    Deno.writeFileSync(
      `${root}/${e.path}`,
      new Uint8Array(e.size).map((_, j) => (j * 7) & 0xff),
    );
  }
  try {
    for (let i = 0; i < 100 && keptBuffers() > 0; i++) takeBuffer(0);
    assertEquals(keptBuffers(), 0);
    for (const round of [1, 2]) {
      // Each round starts from an empty destination.
      for (const e of entries) {
        if (round > 1) Deno.removeSync(`${dest}/${e.path}`);
      }
      const [a, b] = await loopbackPair();
      const expected = new Map(entries.map((e) => [e.path, e]));
      const [receiver] = FrameReceiver.group(dest, expected, 1);
      await Promise.all([
        sendFrames(a, root, entries, { bufferSize: 65536 }),
        receiveInto(b, receiver, { bufferSize: 65536 }),
      ]);
      a.close();
      b.close();
      assertSameFiles(root, dest, entries);
      // The sender's frame buffer and read buffer, the receiver's read
      // buffer: made in the first round, taken again in the second.
      assertEquals(keptBuffers(), 3, `round ${round}`);
    }
  } finally {
    for (let i = 0; i < 100 && keptBuffers() > 0; i++) takeBuffer(0);
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("FrameSender: small whole files framed in place make the frames the reader's events make; one that shrank fails with its name and frames nothing of it", async () => {
  const { SourceChangedError } = await import("./file_reader.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  // Sizes around the in-place limit and the buffer's room (16 KiB here:
  // the 64 KiB file goes the reader's way), a non-ASCII name, an empty
  // file; the first file sets the hasher up the reader's way.
  const sizes = [10, 0, 1, 4095, 8000, 9000, 16 << 10, 64 << 10, 3];
  const entries = sizes.map((size, i) => {
    const path = i === 5 ? `dir é/f${i}` : `f${i}`;
    Deno.mkdirSync(`${root}/dir é`, { recursive: true });
    Deno.mkdirSync(`${dest}/dir é`, { recursive: true });
    Deno.writeFileSync(
      `${root}/${path}`,
      new Uint8Array(size).map((_, j) => (i * 31 + j * 7) & 0xff),
    );
    return {
      path,
      kind: "file" as const,
      size,
      mtimeMs: 1_700_000_000_000 + i * 1000,
      mode: 0o600,
    };
  });
  try {
    // Byte for byte the frames of the reader's events: the receiver
    // checks every header, body and hash.
    const [a, b] = await loopbackPair();
    const expected = new Map(entries.map((e) => [e.path, e]));
    const [receiver] = FrameReceiver.group(dest, expected, 1);
    await Promise.all([
      sendFrames(a, root, entries, { bufferSize: 16 << 10 }),
      receiveInto(b, receiver, { bufferSize: 8192 }),
    ]);
    a.close();
    b.close();
    assertSameFiles(root, dest, entries);
    for (const e of entries) {
      const info = Deno.statSync(`${dest}/${e.path}`);
      assertEquals([info.mode! & 0o777, info.mtime!.getTime()], [
        0o600,
        e.mtimeMs,
      ]);
    }
    assertEquals(receiver.stats.files, sizes.length);
    // Listed longer than it is: the error names it; the frames before it
    // went out whole, nothing of it did.
    const events: string[] = [];
    const sink = {
      write(bytes: Uint8Array): Promise<number> {
        for (const event of new FrameDecoder().push(bytes.slice())) {
          if (event.type === "file") events.push(event.entry.path);
        }
        return Promise.resolve(bytes.length);
      },
      closeWrite: () => Promise.resolve(),
    };
    const sender = new FrameSender(sink, root, { bufferSize: 16 << 10 });
    await sender.write(entries[0]);
    await assertRejects(
      () => sender.write({ ...entries[2], size: 5 }),
      SourceChangedError,
      /^File f2 shrank during the transfer \(declared 5 bytes\); run the command again$/,
    );
    await sender.flushHeld();
    assertEquals(events, ["f0"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(dest, { recursive: true });
  }
});
