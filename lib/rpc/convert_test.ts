import { create } from "../deps/protobuf.ts";
import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import {
  entriesOfBatch,
  entryToHeader,
  headerToEntry,
  manifestBatchOf,
  manifestCompleteOf,
  MAX_PACKED_BYTES,
} from "./convert.ts";
import {
  EntryKind,
  FileHeaderSchema,
  ManifestBatchSchema,
} from "./gen/blit_pb.ts";

Deno.test("headerToEntry: round trip and hostile peers refused", () => {
  const entry = {
    path: "a/b",
    kind: "symlink" as const,
    size: 1,
    mtimeMs: 1234,
    mode: 0o777,
    linkTarget: "../c",
  };
  assertEquals(headerToEntry(entryToHeader(entry)), entry);
  const bad = (fields: Record<string, unknown>) => () =>
    headerToEntry(
      create(FileHeaderSchema, { path: "x", kind: EntryKind.FILE, ...fields }),
    );
  assertThrows(bad({ path: "../etc/passwd" }), PathEscapeError);
  assertThrows(bad({ path: "/abs" }), PathEscapeError);
  assertThrows(bad({ path: "" }), PathEscapeError, /transfer root itself/);
  assertThrows(
    bad({ kind: EntryKind.UNSPECIFIED }),
    RangeError,
    /unknown kind/,
  );
  assertThrows(bad({ mode: 0o10000 }), RangeError, /Mode/);
  assertThrows(bad({ size: 2n ** 60n }), RangeError, /out of range/);
  assertThrows(
    bad({ kind: EntryKind.SYMLINK, linkTarget: "" }),
    RangeError,
    /invalid target/,
  );
  assertThrows(
    bad({ kind: EntryKind.SYMLINK, linkTarget: "a\0b" }),
    RangeError,
    /invalid target/,
  );
});

Deno.test("manifestBatchOf packs a batch; entriesOfBatch reads packed and single headers back, validating each", () => {
  const entries = Array.from({ length: 512 }, (_, i) => ({
    path: `f${i}`,
    kind: "file" as const,
    size: i,
    mtimeMs: 0,
    mode: 0o644,
  }));
  const batch = manifestBatchOf(entries);
  assertEquals(batch.entries.length, 0);
  assertEquals(entriesOfBatch(batch), entries);
  assertEquals(manifestCompleteOf(512).entries, 512n);
  const mixed = create(ManifestBatchSchema, {
    entries: [create(FileHeaderSchema, { path: "h", kind: EntryKind.DIR })],
    packed: batch.packed,
  });
  const back = entriesOfBatch(mixed);
  assertEquals(back.length, 513);
  assertEquals([back[0].path, back[0].kind], ["h", "dir"]);
  const hostile = create(ManifestBatchSchema, {
    entries: [create(FileHeaderSchema, { path: "../x", kind: EntryKind.FILE })],
  });
  assertThrows(() => entriesOfBatch(hostile), PathEscapeError);
});

Deno.test("manifestBatchOf: compressed when asked and smaller; hostile compressed batches are refused", () => {
  const entries = Array.from({ length: 300 }, (_, i) => ({
    path: `dir/sub/file-${i}.txt`,
    kind: "file" as const,
    size: i,
    mtimeMs: 1_700_000_000_000,
    mode: 0o644,
  }));
  const plain = manifestBatchOf(entries);
  const zipped = manifestBatchOf(entries, true);
  assertEquals(zipped.packed.length, 0);
  assertEquals(zipped.packedSize, plain.packed.length);
  assertEquals(zipped.packedZstd.length < plain.packed.length / 3, true);
  assertEquals(entriesOfBatch(zipped), entriesOfBatch(plain));
  const refused = (batch: Parameters<typeof entriesOfBatch>[0], text: RegExp) =>
    assertThrows(() => entriesOfBatch(batch), RangeError, text);
  refused(
    create(ManifestBatchSchema, {
      packedZstd: zipped.packedZstd,
      packedSize: MAX_PACKED_BYTES + 1,
    }),
    /out of range/,
  );
  refused(
    create(ManifestBatchSchema, {
      packedZstd: zipped.packedZstd,
      packedSize: 100,
    }),
    /does not decompress|unpacked to/,
  );
  refused(
    create(ManifestBatchSchema, {
      packedZstd: new Uint8Array([1, 2, 3]),
      packedSize: 10,
    }),
    /does not decompress/,
  );
});
