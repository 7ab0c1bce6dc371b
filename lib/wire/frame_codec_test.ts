import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  encodeEnd,
  encodeFileHeader,
  encodeHash,
  encodeHello,
  fileHeaderSize,
  FrameProtocolError,
  HASH_BYTES,
  helloTokenLength,
  MAX_TOKEN_BYTES,
  writeFileHeader,
} from "./frame_codec.ts";

Deno.test("hello: round trip and bounds", () => {
  const hello = encodeHello("token");
  assertEquals(helloTokenLength(hello.subarray(0, 8)), 5);
  assertThrows(
    () => helloTokenLength(new TextEncoder().encode("GET / HT")),
    FrameProtocolError,
    /Not a blit/,
  );
  const huge = encodeHello("x");
  new DataView(huge.buffer).setUint32(4, MAX_TOKEN_BYTES + 1);
  assertThrows(
    () => helloTokenLength(huge.subarray(0, 8)),
    FrameProtocolError,
    /out of range/,
  );
  assertThrows(() => encodeHello("x".repeat(MAX_TOKEN_BYTES + 1)), RangeError);
});

Deno.test("frames as bytes: a header written in place is the encoded one; end and hash frames have their fixed sizes", () => {
  const entry = {
    path: "d/ü",
    kind: "file" as const,
    size: 7,
    mtimeMs: 1.5,
    mode: 0o640,
  };
  const encoded = encodeFileHeader(entry);
  const path = new TextEncoder().encode(entry.path);
  assertEquals(fileHeaderSize(path), encoded.length);
  const buffer = new Uint8Array(encoded.length + 3);
  assertEquals(writeFileHeader(buffer, 3, path, entry), encoded.length);
  assertEquals(buffer.subarray(3), encoded);
  assertEquals([encodeEnd().length, encodeEnd()[0]], [1, 0]);
  assertEquals(encodeHash(new Uint8Array(HASH_BYTES)).length, 1 + HASH_BYTES);
});
