import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  encodeEnd,
  encodeFileHeader,
  fileHeaderSize,
  type FrameEvent,
  FrameProtocolError,
  writeCopy,
  writeDeltaHeader,
  writeFileHeader,
  writeLiteralHeader,
} from "./frame_codec.ts";
import { FrameDecoder } from "./frame_decoder.ts";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function wire(): Uint8Array {
  return concat([
    encodeFileHeader({
      path: "a/ü.txt",
      kind: "file",
      size: 5,
      mtimeMs: 1234.5,
      mode: 0o755,
    }),
    new TextEncoder().encode("hello"),
    encodeFileHeader({
      path: "empty",
      kind: "file",
      size: 0,
      mtimeMs: 0,
      mode: 0o600,
    }),
    encodeEnd(),
  ]);
}

function summarize(events: FrameEvent[]): string[] {
  const out: string[] = [];
  let data = "";
  for (const e of events) {
    if (e.type === "data") {
      data += new TextDecoder().decode(e.bytes);
      continue;
    }
    if (data) out.push(`data:${data}`);
    data = "";
    out.push(
      e.type === "file"
        ? `file:${e.entry.path}:${e.entry.size}:${e.entry.mtimeMs}:${
          e.entry.mode.toString(8)
        }`
        : "end",
    );
  }
  return out;
}

Deno.test("FrameDecoder: same events whole, byte by byte and in random splits", () => {
  const bytes = wire();
  const expected = [
    "file:a/ü.txt:5:1234.5:755",
    "data:hello",
    "file:empty:0:0:600",
    "end",
  ];
  const whole = new FrameDecoder();
  assertEquals(summarize(whole.push(bytes)), expected);
  whole.finish();
  const single = new FrameDecoder();
  const events: FrameEvent[] = [];
  for (let i = 0; i < bytes.length; i++) {
    events.push(...single.push(bytes.subarray(i, i + 1)));
  }
  assertEquals(summarize(events), expected);
  for (let seed = 1; seed < 50; seed++) {
    const d = new FrameDecoder();
    const ev: FrameEvent[] = [];
    let i = 0;
    while (i < bytes.length) {
      const n = 1 + ((seed * 7919 + i * 31) % 9);
      ev.push(...d.push(bytes.subarray(i, i + n)));
      i += n;
    }
    d.finish();
    assertEquals(summarize(ev), expected);
  }
});

Deno.test("FrameDecoder: hostile input is refused before allocation", () => {
  const bad = (bytes: number[]) => () =>
    new FrameDecoder().push(new Uint8Array(bytes));
  assertThrows(bad([0x09]), FrameProtocolError, /^Unknown frame type 9$/);
  assertThrows(
    bad([0x07, 0x01, 0x00, 0x00, 0x01]),
    FrameProtocolError,
    /^Literal of 16777217 bytes is out of range \(1-16777216\)$/,
  );
  assertThrows(
    bad([0x06, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    FrameProtocolError,
    /^Copy of 1 at 9007199254740992 is invalid$/,
  );
  assertThrows(
    bad([0x01, 0xff, 0xff]),
    FrameProtocolError,
    /^Frame path length 65535 is out of range$/,
  );
  assertThrows(
    bad([0x01, 0x00, 0x00]),
    FrameProtocolError,
    /^Frame path length 0 is out of range$/,
  );
  const dotdot = encodeFileHeader({
    path: "x",
    kind: "file",
    size: 0,
    mtimeMs: 0,
    mode: 0,
  });
  dotdot[3] = 0x2f; // "/" -> an absolute path
  assertThrows(
    () => new FrameDecoder().push(dotdot),
    FrameProtocolError,
    /^Unsafe path "\/": is absolute$/,
  );
  const up = (path: string) =>
    encodeFileHeader({ path, kind: "file", size: 0, mtimeMs: 0, mode: 0 });
  assertThrows(
    () => new FrameDecoder().push(up("a/../../x")),
    FrameProtocolError,
    /^Unsafe path "a\/..\/..\/x": contains '..'$/,
  );
  const notUtf8 = up("ab");
  notUtf8[3] = 0xff;
  assertThrows(
    () => new FrameDecoder().push(notUtf8),
    FrameProtocolError,
    /^Frame path is not valid UTF-8$/,
  );
  assertThrows(
    () =>
      encodeFileHeader({
        path: "x".repeat(4097),
        kind: "file",
        size: 0,
        mtimeMs: 0,
        mode: 0,
      }),
    RangeError,
    /^entry.path must be 1-4096 bytes, got 4097$/,
  );
  assertThrows(
    () =>
      encodeFileHeader({
        path: "x",
        kind: "file",
        size: -1,
        mtimeMs: 0,
        mode: 0,
      }),
    RangeError,
    /^entry.size must be a non-negative integer, got -1$/,
  );
  const trailing = new FrameDecoder();
  assertThrows(
    () => trailing.push(concat([encodeEnd(), new Uint8Array([1])])),
    FrameProtocolError,
    /^1 bytes after the end frame$/,
  );
  const short = new FrameDecoder();
  short.push(wire().subarray(0, 33));
  assertThrows(
    () => short.finish(),
    FrameProtocolError,
    /^Stream ended 3 bytes short of a file body$/,
  );
  const midHeader = new FrameDecoder();
  midHeader.push(wire().subarray(0, 10));
  assertThrows(
    () => midHeader.finish(),
    FrameProtocolError,
    /^Stream ended inside a frame header$/,
  );
  const noEnd = new FrameDecoder();
  assertThrows(
    () => noEnd.finish(),
    FrameProtocolError,
    /^Stream ended without an end frame$/,
  );
});

Deno.test("FrameDecoder: random bytes only ever raise FrameProtocolError", () => {
  let state = 12345;
  function next(): number {
    // xorshift32: deterministic, so a failure reproduces.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return state >>> 0;
  }
  let refused = 0;
  for (let round = 0; round < 500; round++) {
    const input = new Uint8Array(next() % 64).map(() => next() & 0xff);
    if (input.length > 0) input[0] = next() % 3; // mostly valid frame types
    if (input.length > 2) input[1] = 0; // short paths, so headers complete
    const decoder = new FrameDecoder();
    try {
      decoder.push(input);
      decoder.finish();
    } catch (error) {
      if (!(error instanceof FrameProtocolError)) throw error;
      refused++;
    }
  }
  assertEquals(refused > 0, true);
});

Deno.test("FrameDecoder: range frames round-trip; a range outside the file is refused", () => {
  const entry = {
    path: "d/big",
    kind: "file" as const,
    size: 100,
    mtimeMs: 1234,
    mode: 0o640,
  };
  const path = new TextEncoder().encode(entry.path);
  const range = { offset: 40, length: 3 };
  const out = new Uint8Array(fileHeaderSize(path, range) + 3 + 1);
  let at = writeFileHeader(out, 0, path, entry, range);
  out.set([1, 2, 3], at);
  at += 3;
  out[at] = 0;
  const decoder = new FrameDecoder();
  const events = decoder.push(out);
  decoder.finish();
  assertEquals(events.length, 3);
  assertEquals(events[0], { type: "file", entry, range });
  assertEquals(events[1], { type: "data", bytes: new Uint8Array([1, 2, 3]) });
  for (const bad of [{ offset: 98, length: 3 }, { offset: 0, length: 0 }]) {
    const frame = new Uint8Array(fileHeaderSize(path, bad));
    writeFileHeader(frame, 0, path, entry, bad);
    assertThrows(
      () => new FrameDecoder().push(frame),
      FrameProtocolError,
      /outside its 100 bytes/,
    );
  }
});

Deno.test("FrameDecoder: delta, copy and literal frames decode as delta, copy and data events", () => {
  const path = new TextEncoder().encode("f");
  const entry = {
    path: "f",
    kind: "file" as const,
    size: 7,
    mtimeMs: 0,
    mode: 0o644,
  };
  const out = new Uint8Array(64);
  let n = writeDeltaHeader(out, 0, path, entry);
  n += writeCopy(out, n, 4096, 4);
  n += writeLiteralHeader(out, n, 3);
  out.set([1, 2, 3], n);
  n += 3;
  const frames = out.subarray(0, n);
  // Whole and byte by byte: the same events.
  for (const step of [frames.length, 1]) {
    const decoder = new FrameDecoder();
    const events = [];
    for (let at = 0; at < frames.length; at += step) {
      events.push(...decoder.push(frames.subarray(at, at + step)));
    }
    const data = events.filter((e) => e.type === "data")
      .flatMap((e) => e.type === "data" ? [...e.bytes] : []);
    assertEquals(events[0].type, "delta");
    assertEquals(events[1], { type: "copy", offset: 4096, length: 4 });
    assertEquals(data, [1, 2, 3]);
  }
});
