import { create } from "../deps/protobuf.ts";
import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import {
  entryToHeader,
  headerToEntry,
  ManifestProtocolError,
  manifestStream,
  ManifestTooLargeError,
  sendManifest,
} from "./convert.ts";
import {
  EntryKind,
  FileHeaderSchema,
  ManifestBatchSchema,
  ManifestCompleteSchema,
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

Deno.test("sendManifest batches; manifestStream reads batches, enforces order and limits", async () => {
  const entries = Array.from({ length: 1030 }, (_, i) => ({
    path: `f${i}`,
    kind: "file" as const,
    size: i,
    mtimeMs: 0,
    mode: 0o644,
  }));
  const sent: { case: string; value: unknown }[] = [];
  const files = await sendManifest(entries, (p) => {
    sent.push(p);
    return Promise.resolve();
  });
  assertEquals(sent.map((p) => p.case), [
    "manifestBatch",
    "manifestBatch",
    "manifestBatch",
    "manifestComplete",
  ]);
  assertEquals(files.size, 1030);
  const queue = [...sent];
  const back = await Array.fromAsync(
    manifestStream(() => Promise.resolve(queue.shift())),
  );
  assertEquals(back.length, 1030);
  assertEquals(back[1029].path, "f1029");

  const tooMany = [...sent];
  await assertRejects(
    () =>
      Array.fromAsync(
        manifestStream(() => Promise.resolve(tooMany.shift()), {
          maxEntries: 1000,
        }),
      ),
    ManifestTooLargeError,
    /more than 1000 entries/,
  );
  await assertRejects(
    () => Array.fromAsync(manifestStream(() => Promise.resolve(undefined))),
    ManifestProtocolError,
    /inside the manifest/,
  );
  await assertRejects(
    () =>
      Array.fromAsync(
        manifestStream(() => Promise.resolve({ case: "fileData", value: {} })),
      ),
    ManifestProtocolError,
    /got fileData/,
  );
  const hostile = [
    {
      case: "manifestBatch",
      value: create(ManifestBatchSchema, {
        entries: [
          create(FileHeaderSchema, { path: "../x", kind: EntryKind.FILE }),
        ],
      }),
    },
    { case: "manifestComplete", value: create(ManifestCompleteSchema, {}) },
  ];
  await assertRejects(
    () =>
      Array.fromAsync(manifestStream(() => Promise.resolve(hostile.shift()))),
    PathEscapeError,
  );
});

Deno.test("manifestStream: empty batches are skipped, not a stall", async () => {
  const queue = [
    { case: "manifestBatch", value: create(ManifestBatchSchema, {}) },
    { case: "manifestBatch", value: create(ManifestBatchSchema, {}) },
    {
      case: "manifestBatch",
      value: create(ManifestBatchSchema, {
        entries: [
          create(FileHeaderSchema, { path: "a", kind: EntryKind.FILE }),
        ],
      }),
    },
    { case: "manifestBatch", value: create(ManifestBatchSchema, {}) },
    { case: "manifestComplete", value: create(ManifestCompleteSchema, {}) },
  ];
  const back = await Array.fromAsync(
    manifestStream(() => Promise.resolve(queue.shift())),
  );
  assertEquals(back.map((e) => e.path), ["a"]);
  // Only empty batches, then the end: an empty manifest.
  const empty = [
    { case: "manifestBatch", value: create(ManifestBatchSchema, {}) },
    { case: "manifestComplete", value: create(ManifestCompleteSchema, {}) },
  ];
  assertEquals(
    await Array.fromAsync(manifestStream(() => Promise.resolve(empty.shift()))),
    [],
  );
});
