import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  encodeHeaders,
  HpackDecoder,
  HpackError,
  huffmanCodes,
  huffmanDecode,
} from "./hpack.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return new Uint8Array(
    clean.match(/../g)!.map((byte) => parseInt(byte, 16)),
  );
}

Deno.test("huffman: the canonical codes are RFC 7541's (spot checks), and decode its example", () => {
  const codes = new Map(huffmanCodes().map(([s, c, l]) => [s, [c, l]]));
  assertEquals(codes.get(48), [0x0, 5]); // '0'
  assertEquals(codes.get(97), [0x3, 5]); // 'a'
  assertEquals(codes.get(32), [0x14, 6]); // ' '
  assertEquals(codes.get(58), [0x5c, 7]); // ':'
  assertEquals(codes.get(0), [0x1ff8, 13]);
  assertEquals(codes.get(256), [0x3fffffff, 30]); // EOS
  // RFC 7541 C.4.1: "www.example.com".
  assertEquals(
    new TextDecoder().decode(
      huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")),
    ),
    "www.example.com",
  );
  // C.4.2: "no-cache".
  assertEquals(
    new TextDecoder().decode(huffmanDecode(hex("a8eb 1064 9cbf"))),
    "no-cache",
  );
});

Deno.test("huffman: the codes are prefix-free and ordered, and every symbol decodes from its own code", () => {
  const codes = huffmanCodes();
  assertEquals(codes.length, 257);
  // Canonical: by length, then symbol; each code one past the last,
  // shifted left when the length grows.
  for (let i = 1; i < codes.length; i++) {
    const [, code, length] = codes[i];
    const [, before, beforeLength] = codes[i - 1];
    assertEquals(code, (before + 1) * 2 ** (length - beforeLength));
  }
  // Every byte value: its code, padded with ones to a byte boundary.
  for (const [symbol, code, length] of codes) {
    if (symbol === 256) continue;
    const bits = code.toString(2).padStart(length, "0");
    const padded = bits.padEnd(Math.ceil(length / 8) * 8, "1");
    const bytes = new Uint8Array(padded.length / 8).map((_, i) =>
      parseInt(padded.slice(8 * i, 8 * i + 8), 2)
    );
    assertEquals(huffmanDecode(bytes), new Uint8Array([symbol]));
  }
});

Deno.test("huffman: bad padding, a padding of a byte or more, and EOS are errors", () => {
  // "a" is 00011; padded with zeros instead of ones.
  assertThrows(() => huffmanDecode(new Uint8Array([0b00011000])), HpackError);
  // "a" then a whole byte of ones.
  assertThrows(
    () => huffmanDecode(new Uint8Array([0b00011111, 0xff])),
    HpackError,
  );
  // EOS (30 ones) spelled out.
  assertThrows(
    () => huffmanDecode(new Uint8Array([0xff, 0xff, 0xff, 0xfc])),
    HpackError,
  );
  assertEquals(
    huffmanDecode(new Uint8Array([0b00011111])),
    new Uint8Array([97]),
  );
});

Deno.test("HpackDecoder: RFC 7541 C.3's three requests, sharing the dynamic table", () => {
  const d = new HpackDecoder();
  assertEquals(
    d.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")),
    [
      [":method", "GET"],
      [":scheme", "http"],
      [":path", "/"],
      [":authority", "www.example.com"],
    ],
  );
  assertEquals(d.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865")), [
    [":method", "GET"],
    [":scheme", "http"],
    [":path", "/"],
    [":authority", "www.example.com"],
    ["cache-control", "no-cache"],
  ]);
  assertEquals(
    d.decode(
      hex(
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
      ),
    ),
    [
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ],
  );
});

Deno.test("HpackDecoder: hostile blocks are errors, not allocations", () => {
  const cases: [string, Uint8Array][] = [
    ["index 0", new Uint8Array([0x80])],
    ["an index past both tables", new Uint8Array([0xff, 0x10])],
    ["a truncated integer", new Uint8Array([0xff])],
    ["an integer of five continuation bytes", hex("ff ff ff ff ff 0f")],
    ["a string longer than the block", new Uint8Array([0x00, 0x7f, 0x10])],
    ["a table size over the announced limit", hex("3f e2 1f")],
  ];
  for (const [what, block] of cases) {
    let threw = false;
    try {
      new HpackDecoder().decode(block);
    } catch (error) {
      threw = error instanceof HpackError;
    }
    assertEquals(threw, true, what);
  }
  // A header list over the limit.
  const big = encodeHeaders([["x", "y".repeat(70_000)]]);
  assertThrows(
    () => new HpackDecoder().decode(big),
    HpackError,
    /header list too large/,
  );
  // A table resized to 0 drops its entries: index 62 is gone.
  const d = new HpackDecoder();
  d.decode(
    hex("400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65"),
  );
  assertEquals(d.decode(new Uint8Array([0xbe])), [[
    "custom-key",
    "custom-value",
  ]]);
  assertThrows(() => d.decode(new Uint8Array([0x20, 0xbe])), HpackError);
});

Deno.test("encodeHeaders: literals a decoder reads back, long values and static names included", () => {
  const headers: [string, string][] = [
    [":method", "POST"],
    [":path", "/blit.v2.Blit/Push"],
    ["content-type", "application/grpc"],
    ["blit-secret", "s".repeat(300)],
    ["te", "trailers"],
  ];
  assertEquals(new HpackDecoder().decode(encodeHeaders(headers)), headers);
});
