import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "../fs/entry.ts";
import {
  decodeFrames,
  encodeFrames,
  SourceChangedError,
} from "./frame_stream.ts";
import { ReceiveSink } from "./receive_sink.ts";
import { FrameProtocolError } from "./frame_codec.ts";

function sourceTree(): { root: string; entries: FileEntry[] } {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const entries: FileEntry[] = [];
  const sizes = [0, 1, 4095, 70_000, 3 * 1024 * 1024 + 3, 10];
  sizes.forEach((size, i) => {
    const data = new Uint8Array(size).map((_, j) => (i * 13 + j) & 0xff);
    Deno.mkdirSync(`${root}/d${i % 2}`, { recursive: true });
    Deno.writeFileSync(`${root}/d${i % 2}/f${i}`, data);
    entries.push({
      path: `d${i % 2}/f${i}`,
      kind: "file",
      size,
      mtimeMs: 1_000_000 + i * 1000,
      mode: 0o600 + i,
    });
  });
  return { root, entries };
}

Deno.test("encodeFrames -> decodeFrames -> ReceiveSink copies files exactly", async () => {
  const { root, entries } = sourceTree();
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const sink = new ReceiveSink(dest, new Map(entries.map((e) => [e.path, e])));
  // Split the wire into odd pieces to cross every frame boundary.
  const splitter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (let i = 0; i < chunk.length; i += 77_777) {
        controller.enqueue(chunk.subarray(i, i + 77_777));
      }
    },
  });
  await ReadableStream.from(entries).pipeThrough(
    encodeFrames(root, { chunkSize: 65536 }),
  ).pipeThrough(splitter)
    .pipeThrough(decodeFrames()).pipeTo(sink);
  assertEquals(sink.stats.files, entries.length);
  for (const e of entries) {
    assertEquals(
      Deno.readFileSync(`${dest}/${e.path}`),
      Deno.readFileSync(`${root}/${e.path}`),
    );
    const info = Deno.statSync(`${dest}/${e.path}`);
    assertEquals([info.mode! & 0o7777, info.mtime!.getTime()], [
      e.mode,
      e.mtimeMs,
    ]);
  }
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("encodeFrames: a file that shrank errors with its name", async () => {
  const { root, entries } = sourceTree();
  const lying = { ...entries[3], size: entries[3].size + 10 };
  await assertRejects(
    () =>
      ReadableStream.from([lying]).pipeThrough(encodeFrames(root)).pipeTo(
        new WritableStream(),
      ),
    SourceChangedError,
    /d1\/f3 shrank during the transfer/,
  );
  Deno.removeSync(root, { recursive: true });
});

Deno.test("ReceiveSink: unasked, resized, duplicated or truncated files leave no trace", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const e: FileEntry = {
    path: "a",
    kind: "file",
    size: 2 * 1024 * 1024,
    mtimeMs: 0,
    mode: 0o644,
  };
  const expected = new Map([["a", e]]);
  const feed = (events: unknown[]) => () =>
    ReadableStream.from(events as never[]).pipeTo(
      new ReceiveSink(dest, expected),
    );
  const big = new Uint8Array(1024 * 1024);
  await assertRejects(
    feed([{ type: "file", entry: { ...e, path: "b" } }]),
    FrameProtocolError,
    /^File b was not asked for$/,
  );
  await assertRejects(
    feed([{ type: "file", entry: { ...e, size: 3 } }]),
    FrameProtocolError,
    /has 3 bytes, negotiated/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: big }, {
      type: "end",
    }]),
    FrameProtocolError,
    /End frame inside a/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, {
      type: "data",
      bytes: new Uint8Array(3 * 1024 * 1024),
    }]),
    FrameProtocolError,
    /got more than/,
  );
  await assertRejects(
    feed([{ type: "file", entry: e }, { type: "data", bytes: big }]),
    FrameProtocolError,
    /before the end frame/,
  );
  await assertRejects(
    feed([{ type: "end" }]),
    FrameProtocolError,
    /^1 negotiated files were not sent$/,
  );
  assertEquals([...Deno.readDirSync(dest)], []);
  Deno.removeSync(dest, { recursive: true });
});
