import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { SourceChangedError } from "./file_reader.ts";
import type { FileEntry } from "../fs/entry.ts";
import { decodeFrames, encodeFrames } from "./frame_stream.ts";
import { ReceiveSink } from "./receive_sink.ts";
import { FrameProtocolError } from "./frame_codec.ts";
import { PathEscapeError } from "../fs/safe_path.ts";

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

Deno.test("encodeFrames: reads a big file only as fast as the consumer takes it", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const size = 64 * 8192;
  Deno.writeFileSync(`${root}/big`, new Uint8Array(size));
  let read = 0;
  const stage = encodeFrames(root, {
    chunkSize: 8192,
    onBytes: (n) => read += n,
  });
  const piping = ReadableStream.from<FileEntry>([
    { path: "big", kind: "file", size, mtimeMs: 0, mode: 0o644 },
  ]).pipeTo(stage.writable);
  const reader = stage.readable.getReader();
  await reader.read();
  // Let the encoder run as far ahead as it will.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
  const ahead = read;
  await reader.cancel(new Error("consumer gone"));
  await assertRejects(() => piping, Error, /^consumer gone$/);
  assertEquals(ahead <= 4 * 8192, true, `read ${ahead} bytes ahead`);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("encodeFrames: a missing or escaping path errors the stream with its class", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.symlinkSync("/etc", `${root}/out`);
  const run = (path: string) => () =>
    ReadableStream.from<FileEntry>([
      { path, kind: "file", size: 1, mtimeMs: 0, mode: 0o644 },
    ]).pipeThrough(encodeFrames(root)).pipeTo(new WritableStream());
  await assertRejects(run("missing"), Deno.errors.NotFound);
  await assertRejects(run("out/passwd"), PathEscapeError);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("encodeFrames: non-file entries are skipped; an empty input is just the end frame", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const wire = await Array.fromAsync(
    ReadableStream.from<FileEntry>([
      { path: "d", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 },
    ]).pipeThrough(encodeFrames(root)),
  );
  assertEquals(wire, [new Uint8Array([0])]);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("decodeFrames: a stream without its end frame errors", async () => {
  await assertRejects(
    () =>
      ReadableStream.from([new Uint8Array([1, 0])]).pipeThrough(decodeFrames())
        .pipeTo(new WritableStream()),
    FrameProtocolError,
    /^Stream ended inside a frame header$/,
  );
  await assertRejects(
    () =>
      ReadableStream.from([new Uint8Array([0, 0])]).pipeThrough(decodeFrames())
        .pipeTo(new WritableStream()),
    FrameProtocolError,
    /^1 bytes after the end frame$/,
  );
});
