import { assertEquals } from "../tests/_assert.ts";
import { asciiInto, asciiText } from "./text.ts";

Deno.test("asciiText decodes short ASCII, and leaves everything else to a TextDecoder", () => {
  const bytes = new TextEncoder().encode("xx/dir/file-1.txt\u00e9");
  assertEquals(asciiText(bytes, 2, 17), "/dir/file-1.txt");
  assertEquals(asciiText(bytes, 0, 0), "");
  assertEquals(asciiText(bytes, 0, bytes.length), undefined);
  assertEquals(asciiText(Uint8Array.of(0x7f, 0x00, 0x41), 0, 3), "\x7f\0A");
  const long = new Uint8Array(257).fill(0x61);
  assertEquals(asciiText(long, 0, 256), "a".repeat(256));
  assertEquals(asciiText(long, 0, 257), undefined);
});

Deno.test("asciiInto writes ASCII in place, and refuses NUL, non-ASCII and what doesn't fit", () => {
  const out = new Uint8Array(8);
  assertEquals(asciiInto("abc", out, 2), 3);
  assertEquals([...out], [0, 0, 0x61, 0x62, 0x63, 0, 0, 0]);
  assertEquals(asciiInto("", out, 8), 0);
  assertEquals(asciiInto("a\0b", out, 0), -1);
  assertEquals(asciiInto("caf\u00e9", out, 0), -1);
  assertEquals(asciiInto("\u{1f600}", out, 0), -1);
  assertEquals(asciiInto("abcdefgh", out, 1), -1);
  assertEquals(asciiInto("abcdefgh", out, 0), 8);
});
