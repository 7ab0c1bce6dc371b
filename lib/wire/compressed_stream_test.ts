import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import {
  CompressingWriter,
  decompressingReader,
  LinkMeter,
  MAX_BLOCK_BYTES,
  STREAM_BLOCKS,
} from "./compressed_stream.ts";
import { FrameProtocolError } from "./frame_codec.ts";
import { loadZstd } from "./zstd.ts";

/**
 * A writer collecting what it is given; with `copy: false` it keeps the
 * caller's arrays as they are (a writer whose blocks are never reused),
 * so its writes take no time at all (a copy of 300 KB takes over a
 * millisecond on some of these machines: a "link" of ~250 MB/s).
 */
/**
 * A sink keeping copies of what it was given: a writer may reuse a buffer
 * once its write resolved (as on a connection).
 */
function collector() {
  const parts: Uint8Array[] = [];
  let closed = false;
  return {
    write(bytes: Uint8Array): Promise<number> {
      parts.push(bytes.slice());
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

/**
 * A link taking `bytesPerMs` by its own clock (`now`): each write holds
 * the writer up a moment (the next block is ready meanwhile) and moves
 * the clock on by its share of time, whatever the machine is doing.
 */
function paced(bytesPerMs: number) {
  const wire = collector();
  let clock = 0;
  return {
    wire,
    now: () => clock,
    async write(bytes: Uint8Array): Promise<number> {
      await new Promise((r) => setTimeout(r, 1));
      clock += bytes.length / bytesPerMs;
      return await wire.write(bytes);
    },
    closeWrite: () => wire.closeWrite(),
  };
}

Deno.test("compressed stream (auto): a link measured faster than the compressor keeps compressible data uncompressed; a slow one compresses it", async () => {
  // Incompressible blocks first (4 MiB: the fast link holds each write
  // up for ~2 ms): they go as they are, and the link shows its rate;
  // then compressible ones. ~2 GB/s is more than 1.5 x 200 MB/s.
  const random = new Uint8Array(4 << 20);
  for (let i = 0; i < random.length; i += 65536) {
    crypto.getRandomValues(random.subarray(i, i + 65536));
  }
  const text = logLike(1 << 20, 7);
  for (const [bytesPerMs, compressed] of [[2000e3, 0], [20e3, 11]] as const) {
    const link = paced(bytesPerMs);
    const writer = new CompressingWriter(link, {
      mode: "auto",
      level: 12,
      now: link.now,
    });
    for (let i = 0; i < 12; i++) await writer.write(random);
    for (let i = 0; i < 16; i++) await writer.write(text);
    await writer.closeWrite();
    // The first text blocks go as they are until the sample taken every
    // eighth block (the 17th) shows they shrink: then, on the slow link,
    // the 11 after it are compressed.
    assertEquals(writer.stats.compressed, compressed, `${bytesPerMs} B/ms`);
    const out = await readAll(decompressingReader(source(link.wire.bytes)));
    const sent = new Uint8Array(64 << 20);
    sent.set(concat(random, 12));
    sent.set(concat(text, 16), 48 << 20);
    assertEquals(out, sent);
  }
});

Deno.test("compressed stream (auto): a link that never holds a write up counts as slower than the compressor", async () => {
  // Writes that take no time and a slow level: the compressor limits the
  // stream, which says nothing about the link; what shrinks is sent
  // compressed (the bytes are saved, no time is lost).
  const wire = collector();
  const writer = new CompressingWriter(wire, { mode: "auto", level: 12 });
  const block = logLike(1 << 20, 3);
  for (let i = 0; i < 24; i++) await writer.write(block);
  await writer.closeWrite();
  assertEquals(writer.stats.compressed, 24);
  assertEquals(
    await readAll(decompressingReader(source(wire.bytes))),
    concat(block, 24),
  );
});

Deno.test("compressed stream (auto): a route known to be faster than the compressor starts uncompressed", async () => {
  for (
    const [linkBytesPerS, compressed] of [[10e9, 0], [1e6, 12]] as const
  ) {
    const wire = collector();
    const writer = new CompressingWriter(wire, {
      mode: "auto",
      linkBytesPerS,
      // The stream never measures this link (its writes take no time on
      // the writer's clock): only the route's rate decides. Timed by the
      // real clock, a write slowed by a busy machine would measure it.
      now: () => 0,
    });
    const block = logLike(1 << 20, 4);
    for (let i = 0; i < 12; i++) await writer.write(block);
    await writer.closeWrite();
    assertEquals(writer.stats.compressed, compressed, `${linkBytesPerS} B/s`);
    assertEquals(
      await readAll(decompressingReader(source(wire.bytes))),
      concat(block, 12),
    );
  }
});

Deno.test("compressed stream (auto): a raw stream made at under half the rate of a link the route's history knows goes uncompressed once the transfer took 1 MiB (not a delta's, nor one paced to a limit)", async () => {
  // The writer's clock moves on by each block's share of the rate the
  // stream is made at (the writes themselves take no time on it: the link
  // never holds one up, so only the history says how fast it is).
  const block = logLike(256 << 10, 13);
  for (
    const [madeBytesPerMs, linkBytesPerS, compressed, delta] of [
      // Small files over a fast link: 11 MB/s made, a 110 MB/s link. The
      // first three blocks compressed; the fourth brings the transfer to
      // 1 MiB, and its rate (14.7 MB/s) is under 55.
      [11e3, 110e6, 3, undefined],
      // A tree of bigger files over the same link: 200 MB/s made.
      [200e3, 110e6, 12, undefined],
      // The small files over a slow link (10 MB/s): it holds them up.
      [11e3, 10e6, 12, undefined],
      // A delta's stream, made as slowly over the fast link: what its
      // literal bytes save is not judged by how fast it is made.
      [11e3, 110e6, 12, "delta"],
      // Made at a bandwidth limit's rate: compressing it saves bytes, and
      // costs no time the limit would not take anyway.
      [11e3, 110e6, 12, "paced"],
    ] as const
  ) {
    let clock = 0;
    const wire = collector();
    const writer = new CompressingWriter(wire, {
      mode: "auto",
      linkBytesPerS,
      now: () => clock,
    });
    if (delta === "delta") writer.sawDelta();
    if (delta === "paced") writer.paced();
    for (let i = 0; i < 12; i++) {
      await writer.write(block);
      clock += block.length / madeBytesPerMs;
    }
    await writer.closeWrite();
    assertEquals(
      writer.stats.compressed,
      compressed,
      `${madeBytesPerMs} B/ms made, ${linkBytesPerS} B/s link`,
    );
    assertEquals(
      await readAll(decompressingReader(source(wire.bytes))),
      concat(block, 12),
    );
  }
});

Deno.test("compressed stream: a small block is compressed and on the connection with no turn of the event loop", async () => {
  // A sender matching small deltas runs the event loop seldom: a block
  // compressed on another thread would wait for it.
  await loadZstd();
  const wire = collector();
  const writer = new CompressingWriter(wire, { mode: "on" });
  const block = logLike(64 << 10, 7);
  const writing = writer.write(block);
  // Microtasks only (the stream marker goes first, then the block): no
  // I/O, timer or other thread's result comes back.
  for (let i = 0; i < 200 && wire.bytes.length <= 1; i++) await null;
  assertEquals(writer.stats.compressed, 1);
  const sent = wire.bytes.length;
  assertEquals(sent > 1 && sent < block.length / 2, true, `${sent} bytes`);
  await writing;
  await writer.closeWrite();
  assertEquals(await readAll(decompressingReader(source(wire.bytes))), block);
});

Deno.test("compressed stream: a small block is unpacked with no turn of the event loop; a big one round-trips too", async () => {
  // A receiver applying a tree's small deltas gets hundreds of blocks of
  // a few KiB: handing each to another thread cost more than unpacking it.
  await loadZstd();
  const small = logLike(16 << 10, 3);
  const big = logLike(256 << 10, 4);
  for (const block of [small, big]) {
    const wire = collector();
    const writer = new CompressingWriter(wire, { mode: "on" });
    await writer.write(block);
    await writer.closeWrite();
    assertEquals(writer.stats.compressed, 1);
    const reader = decompressingReader(source(wire.bytes));
    const into = new Uint8Array(1 << 20);
    let got: number | null | undefined;
    const reading = reader.read(into).then((n) => got = n);
    // Microtasks only: no I/O, timer or other thread's result comes back.
    for (let i = 0; i < 200 && got === undefined; i++) await null;
    if (block === small) assertEquals(got, small.length);
    await reading;
    assertEquals(into.subarray(0, got!), block.subarray(0, got!));
    const rest = await readAll(reader);
    assertEquals(got! + rest.length, block.length);
    assertEquals(rest, block.subarray(got!));
  }
});

Deno.test("compressed stream: a failed send fails the writes after it, and nothing is left pending", async () => {
  let calls = 0;
  const failing = {
    write(bytes: Uint8Array): Promise<number> {
      if (++calls === 3) return Promise.reject(new Error("link down"));
      return Promise.resolve(bytes.length);
    },
    closeWrite: () => Promise.resolve(),
  };
  const writer = new CompressingWriter(failing, { mode: "on" });
  const block = logLike(1 << 20, 6);
  let error = "";
  try {
    for (let i = 0; i < 20; i++) await writer.write(block);
    await writer.closeWrite();
  } catch (e) {
    error = String(e);
  }
  assertEquals(error, "Error: link down");
});

Deno.test("compressed stream: unsent counts the blocks taken and not yet on the connection, also after a failure", async () => {
  const releases: (() => void)[] = [];
  const held = {
    write(bytes: Uint8Array): Promise<number> {
      return new Promise((resolve) =>
        releases.push(() => resolve(bytes.length))
      );
    },
    closeWrite: () => Promise.resolve(),
  };
  const writer = new CompressingWriter(held, { mode: "on" });
  assertEquals(writer.unsent, 0);
  const block = logLike(64 << 10, 3);
  await writer.write(block);
  await writer.write(block);
  assertEquals(writer.unsent, 2);
  // Each write is let through as the connection is asked for it.
  const closing = writer.closeWrite();
  for (let i = 0; i < 100 && writer.unsent > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    releases.splice(0).forEach((release) => release());
  }
  await closing;
  assertEquals(writer.unsent, 0);
  let calls = 0;
  const failing = new CompressingWriter({
    write: (bytes: Uint8Array) =>
      ++calls === 2
        ? Promise.reject(new Error("link down"))
        : Promise.resolve(bytes.length),
    closeWrite: () => Promise.resolve(),
  }, { mode: "on" });
  await failing.write(block);
  await assertRejects(() => failing.closeWrite(), Error, /link down/);
  assertEquals(failing.unsent, 0);
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
  for (let i = 0; i < 20; i++) await writer.write(block);
  await writer.closeWrite();
  assertEquals(writer.stats.compressed, 20);
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

Deno.test("compressed stream: a block's buffers are reused, never while its write is pending; blocks of changing sizes round-trip", async () => {
  const parts: Uint8Array[] = [];
  const buffers = new Set<ArrayBufferLike>();
  let changed = 0;
  const slow = {
    async write(bytes: Uint8Array): Promise<number> {
      const seen = bytes.slice();
      buffers.add(bytes.buffer);
      // The writer goes on meanwhile (the next blocks compress).
      await new Promise((r) => setTimeout(r, 1 + parts.length % 3));
      if (bytes.some((b, i) => b !== seen[i])) changed++;
      parts.push(seen);
      return bytes.length;
    },
    closeWrite: () => Promise.resolve(),
  };
  const writer = new CompressingWriter(slow, { mode: "on" });
  const random = crypto.getRandomValues(new Uint8Array(60_000));
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    // Compressible and not, big and small, one after the other.
    const size = [1 << 20, 300_000, 700, 900_000][i % 4];
    const block = i % 3 === 0
      ? logLike(size, i + 1)
      : concat(random, Math.ceil(size / random.length)).subarray(0, size);
    sent.push(block.slice());
    await writer.write(block);
    block.fill(0xee); // the caller's buffer is its own again at once
  }
  await writer.closeWrite();
  assertEquals(changed, 0);
  // 40 blocks (and the marker) from a handful of buffers.
  assertEquals(buffers.size <= 10, true, `${buffers.size} buffers`);
  const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    wire.set(p, at);
    at += p.length;
  }
  const want = new Uint8Array(sent.reduce((n, p) => n + p.length, 0));
  at = 0;
  for (const p of sent) {
    want.set(p, at);
    at += p.length;
  }
  assertEquals(await readAll(decompressingReader(source(wire))), want);
  assertEquals(writer.stats.compressed > 0, true);
});

Deno.test("compressed stream (auto): the level follows the link: 6 on a slow one, 3 on a middling one, 1 on a fast one", async () => {
  // logLike compresses ~3x: a link of 10 MB/s takes ~30 MB/s of raw
  // bytes (level 6's compressor keeps up, taken at 70), 30 MB/s ~90
  // (level 3's, at 120), 500 MB/s more than any slower level's.
  const block = logLike(1 << 20, 8);
  for (
    const [bytesPerMs, level] of [[10e3, 6], [30e3, 3], [500e3, 1]] as const
  ) {
    const link = paced(bytesPerMs);
    const writer = new CompressingWriter(link, { mode: "auto", now: link.now });
    for (let i = 0; i < 12; i++) await writer.write(block);
    await writer.closeWrite();
    assertEquals(writer.stats.compressed, 12, `${bytesPerMs} B/ms`);
    assertEquals(writer.stats.level, level, `${bytesPerMs} B/ms`);
    assertEquals(
      await readAll(decompressingReader(source(link.wire.bytes))),
      concat(block, 12),
    );
  }
});

Deno.test("compressed stream (auto): writers made with one options object share what the link measured; others start at level 1", async () => {
  const block = logLike(1 << 20, 9);
  const link = paced(10e3);
  const options = { mode: "auto" as const, now: link.now };
  const first = new CompressingWriter(link, options);
  for (let i = 0; i < 8; i++) await first.write(block);
  await first.closeWrite();
  assertEquals(first.stats.level, 6);
  // One block each, on connections that never hold a write up: the
  // transfer's second connection knows the link from the first; a
  // writer of its own does not.
  for (const [opts, level] of [[options, 6], [{ ...options }, 1]] as const) {
    const wire = collector();
    const writer = new CompressingWriter(wire, opts);
    await writer.write(block);
    await writer.closeWrite();
    assertEquals(writer.stats.level, level);
    assertEquals(
      await readAll(decompressingReader(source(wire.bytes))),
      block,
    );
  }
});

Deno.test("link meter: only writes that waited count, each moment once across connections; a rate is forgotten once writes stop waiting", () => {
  const link = new LinkMeter();
  link.wrote(512 << 10, false, true, 0, 100);
  assertEquals(link.rateAt(100), undefined); // under 1 MiB: not known yet
  link.wrote(512 << 10, false, true, 50, 150); // overlaps the first
  link.wrote(512 << 10, false, true, 150, 150.5); // found room
  link.wrote(1000, false, true, 150, 400); // a few bytes the loop held up
  assertEquals(link.rateAt(150), (1 << 20) / 150);
  assertEquals(link.rateAt(651), undefined);
  // Whether to compress: held uncompressed writes only, 4 MiB of them.
  for (let i = 0; i < 4; i++) link.wrote(1 << 20, true, i !== 0, i, i + 1);
  assertEquals(link.raw.known, false);
  link.wrote(1 << 20, true, true, 10, 12);
  assertEquals(link.raw.known, true);
  assertEquals(link.raw.perMs, (4 << 20) / 5);
});

Deno.test("compressed stream (auto): a route's history alone slows the level only once the transfer took 4 MiB; less stays at level 1", async () => {
  // 10 MB/s from the history, on a connection that never holds a write
  // up: no measure of the stream's own.
  const block = logLike(1 << 20, 11);
  const wire = collector();
  const writer = new CompressingWriter(wire, {
    mode: "auto",
    linkBytesPerS: 10e6,
  });
  // A small transfer (3 MiB raw): not held up by any link, level 1.
  for (let i = 0; i < 3; i++) await writer.write(block);
  assertEquals(writer.stats.level, 1);
  // Past 4 MiB the history's slow link chooses level 6.
  for (let i = 0; i < 3; i++) await writer.write(block);
  assertEquals(writer.stats.level, 6);
  await writer.closeWrite();
  assertEquals(writer.stats.compressed, 6);
  assertEquals(
    await readAll(decompressingReader(source(wire.bytes))),
    concat(block, 6),
  );
});

Deno.test("compressed stream (auto): a route's history slows the level only for a stream that, compressed, would fill its link", async () => {
  // A 10 MB/s link from the history, never measured by the stream (its
  // writes take no time on the writer's clock, which moves on by each
  // block's share of the rate the stream is made at).
  const block = logLike(1 << 20, 14);
  for (
    const [madeBytesPerMs, level] of [
      // ~3x compressible, made at 11 MB/s: ~4 MB/s compressed, under the
      // link's 10: level 1 throughout.
      [11e3, 1],
      // Made at 200 MB/s: it would fill the link; level 6 past 4 MiB.
      [200e3, 6],
    ] as const
  ) {
    let clock = 0;
    const wire = collector();
    const writer = new CompressingWriter(wire, {
      mode: "auto",
      linkBytesPerS: 10e6,
      now: () => clock,
    });
    for (let i = 0; i < 6; i++) {
      await writer.write(block);
      clock += block.length / madeBytesPerMs;
    }
    await writer.closeWrite();
    assertEquals(writer.stats.level, level, `${madeBytesPerMs} B/ms made`);
    assertEquals(writer.stats.compressed, 6);
    assertEquals(
      await readAll(decompressingReader(source(wire.bytes))),
      concat(block, 6),
    );
  }
});

Deno.test("compressed stream (auto): the 4 MiB a route's history waits for are the transfer's, all its connections together", async () => {
  const block = logLike(1 << 20, 12);
  // Four connections with 2 MiB each: one transfer (one options object,
  // 8 MiB in all) and four transfers of one connection each.
  for (const shared of [true, false]) {
    const one = { mode: "auto" as const, linkBytesPerS: 10e6 };
    const wires = [collector(), collector(), collector(), collector()];
    const writers = wires.map((w) =>
      new CompressingWriter(w, shared ? one : { ...one })
    );
    for (let i = 0; i < 2; i++) {
      for (const writer of writers) await writer.write(block);
    }
    for (const writer of writers) await writer.closeWrite();
    // The last blocks: at the slow link's level once the transfer took
    // 4 MiB, though no connection did alone.
    assertEquals(
      writers.map((w) => w.stats.level),
      Array(4).fill(shared ? 6 : 1),
      shared ? "one transfer" : "four transfers",
    );
    for (const wire of wires) {
      assertEquals(
        await readAll(decompressingReader(source(wire.bytes))),
        concat(block, 2),
      );
    }
  }
});

Deno.test("compressed stream: the reader's buffers serve the next stream after a clean end, never after a failed one", async () => {
  const { keptBuffers, takeBuffer } = await import(
    "./buffer_pool.ts"
  );
  const wireOf = async (bytes: Uint8Array) => {
    const wire = collector();
    const writer = new CompressingWriter(wire, { mode: "on" });
    await writer.write(bytes);
    await writer.closeWrite();
    return wire.bytes;
  };
  const wire = await wireOf(text);
  for (let i = 0; i < 100 && keptBuffers() > 0; i++) takeBuffer(0);
  assertEquals(keptBuffers(), 0);
  // Cut inside its last block: refused, and nothing given back.
  await assertRejects(
    () =>
      readAll(decompressingReader(source(wire.subarray(0, wire.length - 3)))),
    FrameProtocolError,
    /cut inside a block/,
  );
  assertEquals(keptBuffers(), 0);
  // Read to its end: what it read into is kept (zeroed), and the next
  // stream reads the same bytes with it.
  assertEquals(await readAll(decompressingReader(source(wire, 4096))), text);
  const kept = keptBuffers();
  assert(kept >= 2, `kept ${kept}`);
  assertEquals(await readAll(decompressingReader(source(wire, 777))), text);
  assertEquals(keptBuffers(), kept);
  for (let i = 0; i < 100 && keptBuffers() > 0; i++) takeBuffer(0);
});
