import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "../fs/entry.ts";
import { MAX_RANGES_PER_FILE } from "./frame_codec.ts";
import { ReceiveSink } from "./receive_sink.ts";
import {
  type FrameEvent,
  FrameProtocolError,
  IntegrityError,
} from "./frame_codec.ts";
import { hashed } from "../../tests/_frames.ts";

/** Events as an honest sender sends them: each body's hash after it. */
function frames(events: FrameEvent[]): ReadableStream<FrameEvent> {
  return ReadableStream.from((async function* () {
    yield* await hashed(events);
  })());
}

function file(path: string, size: number, extra: Partial<FileEntry> = {}) {
  return { path, kind: "file", size, mtimeMs: 0, mode: 0o644, ...extra } as
    & FileEntry
    & { kind: "file" };
}

function bytes(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 11 + seed) & 0xff);
}

function listTree(root: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${root}/${prefix}`)) {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    out.push(e.isDirectory ? `${path}/` : path);
    if (e.isDirectory) out.push(...listTree(root, path));
  }
  return out.sort();
}

Deno.test("ReceiveSink: writes negotiated files exactly, whole, in pieces or streamed", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const entries = [
    file("empty", 0, { mtimeMs: 1_000_000, mode: 0o600 }),
    file("d/whole", 10, { mtimeMs: 2_000_000, mode: 0o755 }),
    file("d/pieces", 300, { mtimeMs: 3_000_000, mode: 0o640 }),
    file("big", 5000, { mtimeMs: 4_000_000, mode: 0o604 }),
  ];
  const data = entries.map((e, i) => bytes(e.size, i));
  const events: FrameEvent[] = [
    { type: "file", entry: entries[0] },
    { type: "file", entry: entries[1] },
    { type: "data", bytes: data[1] },
    { type: "file", entry: entries[2] },
    { type: "data", bytes: data[2].subarray(0, 1) },
    { type: "data", bytes: data[2].subarray(1, 299) },
    { type: "data", bytes: data[2].subarray(299) },
    { type: "file", entry: entries[3] },
    { type: "data", bytes: data[3].subarray(0, 4096) },
    { type: "data", bytes: data[3].subarray(4096) },
    { type: "end" },
  ];
  const committed: string[] = [];
  const sink = new ReceiveSink(
    dest,
    new Map(entries.map((e) => [e.path, e])),
    { onFile: (e) => committed.push(e.path), smallFileBytes: 1024 },
  );
  await frames(events).pipeTo(sink);
  assertEquals(sink.stats, { files: 4, bytes: 5310, resumed: 0, matched: 0 });
  assertEquals(committed, ["empty", "d/whole", "d/pieces", "big"]);
  assertEquals(listTree(dest), ["big", "d/", "d/pieces", "d/whole", "empty"]);
  entries.forEach((e, i) => {
    assertEquals(Deno.readFileSync(`${dest}/${e.path}`), data[i]);
    const info = Deno.statSync(`${dest}/${e.path}`);
    assertEquals([info.mode! & 0o7777, info.mtime!.getTime()], [
      e.mode,
      e.mtimeMs,
    ]);
  });
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink: mode and mtime come from the negotiated entry, not the frame", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const negotiated = file("a", 2, { mtimeMs: 5_000_000, mode: 0o600 });
  const sink = new ReceiveSink(dest, new Map([["a", negotiated]]));
  await frames([
    { type: "file", entry: { ...negotiated, mtimeMs: 9, mode: 0o777 } },
    { type: "data", bytes: new Uint8Array([1, 2]) },
    { type: "end" },
  ]).pipeTo(sink);
  const info = Deno.statSync(`${dest}/a`);
  assertEquals([info.mode! & 0o7777, info.mtime!.getTime()], [
    0o600,
    5_000_000,
  ]);
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink: unasked, resized, overrun, duplicated or truncated files leave no trace", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const e = file("a", 2 * 1024 * 1024);
  const small = file("s", 3);
  const expected = new Map<string, FileEntry>([["a", e], ["s", small]]);
  function feed(events: FrameEvent[]): () => Promise<void> {
    return () => frames(events).pipeTo(new ReceiveSink(dest, expected));
  }
  const half = new Uint8Array(1024 * 1024);
  await assertRejects(
    feed([{ type: "file", entry: { ...e, path: "b" } }]),
    FrameProtocolError,
    /^File b was not asked for$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: { ...e, size: 3 } }]),
    FrameProtocolError,
    /^File a has 3 bytes, negotiated 2097152$/,
  );
  await assertRejects(
    feed([{ type: "data", bytes: half }]),
    FrameProtocolError,
    /^Data outside a file$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: half }, {
      type: "end",
    }]),
    FrameProtocolError,
    /^End frame inside a$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: half }, {
      type: "file",
      entry: small,
    }]),
    FrameProtocolError,
    /^File s started inside a$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: half }, {
      type: "data",
      bytes: new Uint8Array(1024 * 1024 + 1),
    }]),
    FrameProtocolError,
    /^File a got more than its 2097152 bytes$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: small }, {
      type: "data",
      bytes: new Uint8Array(2),
    }, { type: "data", bytes: new Uint8Array(2) }]),
    FrameProtocolError,
    /^File s got more than its 3 bytes$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: half }]),
    FrameProtocolError,
    /^Stream closed before the end frame$/,
  );
  await assertRejects(
    feed([{ type: "end" }]),
    FrameProtocolError,
    /^2 negotiated files were not sent$/,
  );
  assertEquals(listTree(dest), []);

  await assertRejects(
    feed([
      { type: "file", entry: small },
      { type: "data", bytes: new Uint8Array([1, 2, 3]) },
      { type: "file", entry: small },
    ]),
    FrameProtocolError,
    /^File s was sent twice$/,
  );
  // The first, complete copy stays; nothing else does.
  assertEquals(listTree(dest), ["s"]);
  assertEquals(Deno.readFileSync(`${dest}/s`), new Uint8Array([1, 2, 3]));
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink: aborting mid-file removes the temporary file", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const e = file("big", 4096);
  const sink = new ReceiveSink(dest, new Map([["big", e]]), {
    smallFileBytes: 1024,
  });
  const writer = sink.getWriter();
  await writer.write({ type: "file", entry: e });
  await writer.write({ type: "data", bytes: new Uint8Array(2048) });
  assertEquals(listTree(dest).length, 1); // the temp file
  await writer.abort(new Error("peer went away"));
  assertEquals(listTree(dest), []);
  assertEquals(sink.stats, { files: 0, bytes: 0, resumed: 0, matched: 0 });
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink.group: ranges on several streams make one file; overlaps, gaps and strays leave no trace", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const big = file("big", 10, { mtimeMs: 5_000_000, mode: 0o600 });
  const small = file("small", 3);
  const data = bytes(10, 7);
  const expected = () =>
    new Map<string, FileEntry>([["big", big], ["small", small]]);
  const range = (offset: number, length: number): FrameEvent[] => [
    { type: "file", entry: big, range: { offset, length } },
    { type: "data", bytes: data.subarray(offset, offset + length) },
  ];
  const run = (
    streams: FrameEvent[][],
    sinks = ReceiveSink.group(dest, expected(), streams.length),
  ) =>
    Promise.all(
      streams.map((events, i) => frames(events).pipeTo(sinks[i])),
    );

  const sinks = ReceiveSink.group(dest, expected(), 2);
  await run([
    [...range(6, 4), { type: "file", entry: small }, {
      type: "data",
      bytes: bytes(3, 1),
    }, { type: "end" }],
    [...range(0, 6), { type: "end" }],
  ], sinks);
  assertEquals(Deno.readFileSync(`${dest}/big`), data);
  assertEquals(Deno.statSync(`${dest}/big`).mode! & 0o777, 0o600);
  assertEquals(Deno.statSync(`${dest}/big`).mtime!.getTime(), 5_000_000);
  assertEquals(sinks[0].stats, { files: 2, bytes: 13, resumed: 0, matched: 0 });
  Deno.removeSync(`${dest}/big`);
  Deno.removeSync(`${dest}/small`);

  // Overlapping ranges: refused; nothing lands.
  await assertRejects(
    () => run([[...range(0, 6), ...range(4, 6), { type: "end" }]]),
    FrameProtocolError,
    /overlaps/,
  );
  // A range missing: the last stream to close says so.
  await assertRejects(
    () => run([[...range(0, 6), { type: "end" }], [{ type: "end" }]]),
    FrameProtocolError,
    /negotiated files were not sent/,
  );
  // A range of a file nobody asked for.
  await assertRejects(
    () =>
      run([[{
        type: "file",
        entry: file("stray", 10),
        range: { offset: 0, length: 5 },
      }]]),
    FrameProtocolError,
    /was not asked for/,
  );
  assertEquals(listTree(dest), []);
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink: a file in more ranges than MAX_RANGES_PER_FILE is refused, and nothing lands", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const size = MAX_RANGES_PER_FILE + 1;
  const big = file("big", size);
  const events: FrameEvent[] = [];
  for (let offset = 0; offset < size; offset++) {
    events.push({ type: "file", entry: big, range: { offset, length: 1 } });
    events.push({ type: "data", bytes: new Uint8Array([offset & 0xff]) });
  }
  events.push({ type: "end" });
  await assertRejects(
    () =>
      frames(events).pipeTo(
        new ReceiveSink(dest, new Map([["big", big]])),
      ),
    FrameProtocolError,
    /more than 16384 ranges/,
  );
  assertEquals(listTree(dest), []);
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("ReceiveSink with writers: small files go to two Workers, land whole, and the sink closes only when they have", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const entries = Array.from(
      { length: 600 },
      (_, i) => file(`f${i}`, i % 7, { mtimeMs: 5_000_000 + i, mode: 0o640 }),
    );
    const { FileTable } = await import("../fs/path_table.ts");
    const expected = new FileTable();
    for (const e of entries) expected.set(e.path, e);
    // One reused buffer, as frameSource delivers bodies.
    const scratch = new Uint8Array(16);
    const events = async function* () {
      for (const [i, e] of entries.entries()) {
        scratch.set(bytes(e.size, i));
        yield await hashed(
          (e.size === 0 ? [{ type: "file", entry: e }] : [
            { type: "file", entry: e },
            { type: "data", bytes: scratch.subarray(0, e.size) },
          ]) as FrameEvent[],
        );
      }
      yield [{ type: "end" }] as FrameEvent[];
    };
    let files = 0;
    const sink = new ReceiveSink(dest, expected, {
      writers: 2,
      onFile: () => files++,
    });
    await ReadableStream.from(events()).pipeTo(sink);
    assertEquals(files, 600);
    assertEquals(sink.stats.files, 600);
    for (const [i, e] of entries.entries()) {
      assertEquals(Deno.readFileSync(`${dest}/${e.path}`), bytes(e.size, i));
      assertEquals(
        Deno.statSync(`${dest}/${e.path}`).mtime!.getTime(),
        e.mtimeMs,
      );
    }
    assertEquals(listTree(dest).length, 600);
  } finally {
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("ReceiveSink: a body whose hash does not match never lands, whole, streamed or in a range", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const small = file("s", 3);
    const big = file("b", 5000);
    const wrong = { type: "hash" as const, digest: new Uint8Array(16) };
    const cases: [FrameEvent[], number][] = [
      [[
        { type: "file", entry: small },
        {
          type: "data",
          bytes: new Uint8Array([1, 2, 3]),
        },
        wrong,
        { type: "end" },
      ], 1024],
      [[
        { type: "file", entry: big },
        {
          type: "data",
          bytes: bytes(5000, 1),
        },
        wrong,
        { type: "end" },
      ], 1024],
      [[
        { type: "file", entry: big, range: { offset: 0, length: 5000 } },
        {
          type: "data",
          bytes: bytes(5000, 1),
        },
        wrong,
        { type: "end" },
      ], 1024],
    ];
    for (const [events, smallFileBytes] of cases) {
      await assertRejects(
        () =>
          ReadableStream.from(events).pipeTo(
            new ReceiveSink(dest, new Map([["s", small], ["b", big]]), {
              smallFileBytes,
            }),
          ),
        IntegrityError,
        /^(s|b) arrived corrupted \(its content hash does not match\); it was not written$/,
      );
      assertEquals(listTree(dest), []);
    }
    // Out of order: a file before the last one's hash; a stray hash.
    await assertRejects(
      () =>
        ReadableStream.from<FrameEvent>([
          { type: "file", entry: small },
          { type: "data", bytes: new Uint8Array(3) },
          { type: "file", entry: big },
        ]).pipeTo(new ReceiveSink(dest, new Map([["s", small], ["b", big]]))),
      FrameProtocolError,
      /^File b started before the hash of s$/,
    );
    await assertRejects(
      () =>
        ReadableStream.from<FrameEvent>([wrong]).pipeTo(
          new ReceiveSink(dest, new Map([["s", small]])),
        ),
      FrameProtocolError,
      /^Hash frame outside a file$/,
    );
    assertEquals(listTree(dest), []);
  } finally {
    Deno.removeSync(dest, { recursive: true });
  }
});

Deno.test("ReceiveSink: a small body whose hash comes in a later batch is kept, not the reused buffer", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const e = file("a", 4);
    const [, , hash] = await hashed([
      { type: "file", entry: e },
      { type: "data", bytes: new Uint8Array([1, 2, 3, 4]) },
    ]);
    // One buffer, reused between batches as frameSource does.
    const buffer = new Uint8Array([1, 2, 3, 4]);
    const batches = async function* () {
      yield [{ type: "file", entry: e }, { type: "data", bytes: buffer }];
      buffer.fill(9);
      yield [hash, { type: "end" }];
    };
    await ReadableStream.from(batches() as AsyncIterable<FrameEvent[]>)
      .pipeTo(new ReceiveSink(dest, new Map([["a", e]])));
    assertEquals(Deno.readFileSync(`${dest}/a`), new Uint8Array([1, 2, 3, 4]));
  } finally {
    Deno.removeSync(dest, { recursive: true });
  }
});
