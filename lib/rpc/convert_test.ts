import { create } from "../deps/protobuf.ts";
import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import {
  entriesOfBatch,
  entryToHeader,
  headerToEntry,
  manifestBatchOf,
  manifestCompleteOf,
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
