import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "../fs/entry.ts";
import {
  chunksToFrames,
  type FileDataChunk,
  fileDataChunks,
} from "./grpc_data.ts";
import { ReceiveSink } from "./receive_sink.ts";
import { SourceChangedError } from "./file_reader.ts";
import { type FrameEvent, FrameProtocolError } from "./frame_codec.ts";

Deno.test("fileDataChunks -> chunksToFrames -> ReceiveSink round trip", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  const entries: FileEntry[] = [
    { path: "empty", kind: "file", size: 0, mtimeMs: 5000, mode: 0o644 },
    { path: "big", kind: "file", size: 2500, mtimeMs: 6000, mode: 0o600 },
  ];
  Deno.writeFileSync(`${root}/empty`, new Uint8Array(0));
  Deno.writeFileSync(
    `${root}/big`,
    new Uint8Array(2500).map((_, i) => i & 0xff),
  );
  const chunks = await Array.fromAsync(
    fileDataChunks(root, entries, { chunkSize: 1024 }),
  );
  assertEquals(
    chunks.map((c) => [c.path, c.data.length, c.last, c.header !== undefined]),
    [
      ["empty", 0, true, true],
      ["big", 1024, false, true],
      ["big", 1024, false, false],
      ["big", 452, true, false],
    ],
  );
  const sink = new ReceiveSink(dest, new Map(entries.map((e) => [e.path, e])));
  const end = new TransformStream<FrameEvent, FrameEvent>({
    flush: (c) => c.enqueue({ type: "end" }),
  });
  await ReadableStream.from(chunks).pipeThrough(chunksToFrames()).pipeThrough(
    end,
  ).pipeTo(sink);
  assertEquals(
    Deno.readFileSync(`${dest}/big`),
    Deno.readFileSync(`${root}/big`),
  );
  assertEquals(Deno.statSync(`${dest}/empty`).mtime!.getTime(), 5000);
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("chunksToFrames: out-of-order chunks are a protocol error", async () => {
  const e: FileEntry = {
    path: "a",
    kind: "file",
    size: 2,
    mtimeMs: 0,
    mode: 0o644,
  };
  const run = (chunks: FileDataChunk[]) => () =>
    ReadableStream.from(chunks).pipeThrough(chunksToFrames()).pipeTo(
      new WritableStream(),
    );
  await assertRejects(
    run([{ path: "a", data: new Uint8Array(1), last: true }]),
    FrameProtocolError,
    /outside its file/,
  );
  await assertRejects(
    run([{ path: "a", header: e, data: new Uint8Array(1), last: false }, {
      path: "b",
      header: e,
      data: new Uint8Array(1),
      last: true,
    }]),
    FrameProtocolError,
    /started inside a/,
  );
  await assertRejects(
    run([{ path: "a", header: e, data: new Uint8Array(1), last: false }]),
    FrameProtocolError,
    /ended inside a/,
  );
});

Deno.test("fileDataChunks: a file that shrank errors with its name", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeFileSync(`${root}/a`, new Uint8Array(10));
  await assertRejects(
    () =>
      Array.fromAsync(
        fileDataChunks(root, [
          { path: "a", kind: "file", size: 20, mtimeMs: 0, mode: 0o644 },
        ]),
      ),
    SourceChangedError,
    /^File a shrank during the transfer \(declared 20 bytes\); run the command again$/,
  );
  await assertRejects(
    () => Array.fromAsync(fileDataChunks(root, [], { chunkSize: 10 })),
    RangeError,
    /^chunkSize must be an integer >= 1024, got 10$/,
  );
  Deno.removeSync(root, { recursive: true });
});

Deno.test("chunksToFrames: a header for another path is a protocol error", async () => {
  const e: FileEntry = {
    path: "a",
    kind: "file",
    size: 1,
    mtimeMs: 0,
    mode: 0o644,
  };
  await assertRejects(
    () =>
      ReadableStream.from<FileDataChunk>([
        { path: "b", header: e, data: new Uint8Array(1), last: true },
      ]).pipeThrough(chunksToFrames()).pipeTo(new WritableStream()),
    FrameProtocolError,
    /^Chunk path b differs from its header$/,
  );
});

Deno.test("chunksToFrames: a delta's copies come before its data; copies elsewhere are refused", async () => {
  const e = {
    path: "f",
    kind: "file" as const,
    size: 12,
    mtimeMs: 0,
    mode: 0o644,
  };
  const events = await Array.fromAsync(
    ReadableStream.from<FileDataChunk>([
      {
        path: "f",
        header: e,
        data: new Uint8Array(0),
        last: false,
        delta: true,
        copies: [0, 4],
      },
      {
        path: "f",
        data: new Uint8Array(4),
        last: false,
        copies: [8, 2, 20, 2],
      },
      {
        path: "f",
        data: new Uint8Array(0),
        last: true,
        hash: new Uint8Array(16),
      },
    ]).pipeThrough(chunksToFrames()),
  );
  assertEquals(
    events.map((x) =>
      x.type === "copy" ? `copy ${x.offset}+${x.length}` : x.type
    ),
    ["delta", "copy 0+4", "copy 8+2", "copy 20+2", "data", "hash"],
  );
  await assertRejects(
    () =>
      Array.fromAsync(
        ReadableStream.from<FileDataChunk>([
          { path: "f", header: e, data: new Uint8Array(0), last: false },
          { path: "f", data: new Uint8Array(2), last: false, copies: [0, 2] },
        ]).pipeThrough(chunksToFrames()),
      ),
    FrameProtocolError,
    /^Copies for f outside a delta$/,
  );
  await assertRejects(
    () =>
      Array.fromAsync(
        ReadableStream.from<FileDataChunk>([
          {
            path: "f",
            header: e,
            data: new Uint8Array(0),
            last: false,
            delta: true,
            copies: [0],
          },
        ]).pipeThrough(chunksToFrames()),
      ),
    FrameProtocolError,
    /^Copies of f are not pairs$/,
  );
});
