import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import {
  CompressingWriter,
  decompressingReader,
  MAX_BLOCK_BYTES,
  STREAM_BLOCKS,
} from "./compressed_stream.ts";
import { FrameProtocolError } from "./frame_codec.ts";

/**
 * A writer collecting what it is given; with `copy: false` it keeps the
 * caller's arrays as they are (a writer whose blocks are never reused),
 * so its writes take no time at all (a copy of 300 KB takes over a
 * millisecond on some of these machines: a "link" of ~250 MB/s).
 */
function collector(copy = true) {
  const parts: Uint8Array[] = [];
  let closed = false;
  return {
    write(bytes: Uint8Array): Promise<number> {
      parts.push(copy ? bytes.slice() : bytes);
      return Promise.resolve(bytes.length);
    },
    closeWrite(): Promise<void> {
      closed = true;
      return Promise.resolve();
    },
    get bytes(): Uint8Array {
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    get closed() {
      return closed;
    },
  };
}

/** A reader handing out `wire` in pieces of `piece` bytes. */
function source(wire: Uint8Array, piece = 1 << 20) {
  let at = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (at >= wire.length) return Promise.resolve(null);
      const n = Math.min(p.length, piece, wire.length - at);
      p.set(wire.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

async function readAll(
  reader: { read(p: Uint8Array): Promise<number | null> },
) {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < 1_000_000; i++) {
    const n = await reader.read(buf);
    if (n === null) {
      const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    }
    chunks.push(buf.slice(0, n));
  }
  throw new Error("no end");
}

const text = new TextEncoder().encode(
  Array.from({ length: 20_000 }, (_, i) => `line ${i % 97} of a log\n`).join(
    "",
  ),
);

Deno.test("compressed stream: what is written is what is read, smaller on the wire", async () => {
  const wire = collector();
  const writer = new CompressingWriter(wire, { mode: "on", level: 3 });
  await writer.write(text.subarray(0, 100_000));
  await writer.write(text.subarray(100_000));
  await writer.closeWrite();
  assertEquals(wire.closed, true);
  assertEquals(wire.bytes[0], STREAM_BLOCKS);
  assertEquals(writer.stats.raw, text.length);
  assertEquals(writer.stats.wire, wire.bytes.length);
  assertEquals(writer.stats.compressed, 2);
  if (wire.bytes.length > text.length / 10) {
    throw new Error(`${wire.bytes.length} bytes on the wire`);
  }
  // Read back in any split.
  for (const piece of [1, 7, 1 << 20]) {
    assertEquals(
      await readAll(decompressingReader(source(wire.bytes, piece))),
      text,
    );
  }
});

Deno.test("compressed stream: incompressible data goes as it is", async () => {
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  const wire = collector();
  const writer = new CompressingWriter(wire, { mode: "auto" });
  await writer.write(random);
  await writer.closeWrite();
  assertEquals(writer.stats.compressed, 0);
  // The marker and one block header: 10 bytes over.
  assertEquals(wire.bytes.length, random.length + 10);
  assertEquals(await readAll(decompressingReader(source(wire.bytes))), random);
});

Deno.test("compressed stream: a plain stream passes through untouched", async () => {
  const plain = Uint8Array.of(1, 0, 3, 97, 98, 99, 0);
  let wire = 0;
  const reader = decompressingReader(source(plain, 3), {
    onWire: (n) => wire += n,
  });
  assertEquals(await readAll(reader), plain);
  assertEquals(wire, plain.length);
});

Deno.test("compressed stream: hostile blocks are refused before allocation", async () => {
  const block = (
    type: number,
    length: number,
    raw: number,
    payload = new Uint8Array(0),
  ) => {
    const out = new Uint8Array(1 + 9 + payload.length);
    out[0] = STREAM_BLOCKS;
    out[1] = type;
    new DataView(out.buffer).setUint32(2, length);
    new DataView(out.buffer).setUint32(6, raw);
    out.set(payload, 10);
    return out;
  };
  const refused = (wire: Uint8Array, text: RegExp) =>
    assertRejects(
      () => readAll(decompressingReader(source(wire))),
      FrameProtocolError,
      text,
    );
  await refused(block(9, 1, 1, Uint8Array.of(0)), /^Unknown block type 9$/);
  await refused(block(1, 10, MAX_BLOCK_BYTES + 1), /out of range/);
  await refused(block(0, 5, 6, new Uint8Array(5)), /out of range/);
  await refused(block(0, 5, 5, new Uint8Array(3)), /cut inside a block/);
  await refused(
    block(1, 4, 100, Uint8Array.of(1, 2, 3, 4)),
    /does not decompress/,
  );
  // A zstd frame claiming less than it holds.
  const wire = collector();
  const writer = new CompressingWriter(wire, { mode: "on" });
  await writer.write(text.subarray(0, 50_000));
  await writer.closeWrite();
  const lie = wire.bytes.slice();
  new DataView(lie.buffer).setUint32(6, 1000);
  await refused(lie, /does not decompress|gave/);
});

/** Text that compresses ~3x, varied like a log. */
function logLike(size: number, seed: number): Uint8Array {
  const parts: string[] = [];
  let s = seed;
  let n = 0;
  while (n < size) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const line = `t=${s % 86400} level=${["info", "warn", "error"][s % 3]} id=${
      s.toString(16)
    } took=${s % 997}ms\n`;
    parts.push(line);
    n += line.length;
  }
  return new TextEncoder().encode(parts.join("")).subarray(0, size);
}

Deno.test("compressed stream (auto): a link faster than the compressor turns compression off", async () => {
  // Writes that take no time, and a slow level (~30 MB/s): the link
  // outruns the compressor even on a machine where the writer's own copy
  // of each block (timed with the send it overlaps) takes milliseconds.
  const wire = collector(false);
  const writer = new CompressingWriter(wire, { mode: "auto", level: 12 });
  const block = logLike(1 << 20, 3);
  for (let i = 0; i < 100; i++) await writer.write(block);
  await writer.closeWrite();
  // The first blocks are compressed until 8 MiB on the wire (more than a
  // socket's send buffer) have measured the link; then none.
  if (writer.stats.compressed > 40) {
    throw new Error(`${writer.stats.compressed} of 100 blocks compressed`);
  }
  assertEquals(
    await readAll(decompressingReader(source(wire.bytes))),
    concat(block, 100),
  );
});

Deno.test("compressed stream (auto): a slow link keeps compressing what shrinks", async () => {
  // ~10 MB/s: far slower than zstd's fast levels, even on a busy machine.
  const slow = {
    async write(bytes: Uint8Array): Promise<number> {
      await new Promise((r) => setTimeout(r, bytes.length / 10_000));
      return bytes.length;
    },
    closeWrite: () => Promise.resolve(),
  };
  const writer = new CompressingWriter(slow, { mode: "auto" });
  const block = logLike(1 << 20, 5);
  for (let i = 0; i < 12; i++) await writer.write(block);
  await writer.closeWrite();
  assertEquals(writer.stats.compressed, 12);
  if (writer.stats.wire > writer.stats.raw / 2) {
    throw new Error(
      `${writer.stats.wire} of ${writer.stats.raw} bytes on the wire`,
    );
  }
});

function concat(block: Uint8Array, times: number): Uint8Array {
  const out = new Uint8Array(block.length * times);
  for (let i = 0; i < times; i++) out.set(block, i * block.length);
  return out;
}
