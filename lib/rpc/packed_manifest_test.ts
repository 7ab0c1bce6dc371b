import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { create } from "./codec.ts";
import type { FileEntry } from "../fs/entry.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { entriesOfBatch } from "./convert.ts";
import { ManifestBatchSchema } from "./gen/blit.ts";
import {
  decodeEntries,
  encodeEntries,
  PackedManifestError,
  type RawEntry,
} from "./packed_manifest.ts";
import { loadZstd } from "../wire/zstd.ts";

// The packing functions compress synchronously once node:zlib is loaded.
await loadZstd();

const sample: FileEntry[] = [
  {
    path: "a.txt",
    kind: "file",
    size: 1_000_000_007,
    mtimeMs: 1_650_000_000_123,
    mode: 0o640,
  },
  { path: "dir/ünï cödé", kind: "dir", size: 0, mtimeMs: 5000, mode: 0o755 },
  {
    path: "dir/link",
    kind: "symlink",
    size: 0,
    mtimeMs: 0,
    mode: 0o777,
    linkTarget: "../a.txt",
  },
  {
    path: "h",
    kind: "file",
    size: 0,
    mtimeMs: -1000,
    mode: 0o600,
    hash: new Uint8Array([1, 2, 3]),
  },
  {
    path: Array(370).fill("abcdefghij").join("/"),
    kind: "file",
    size: 3,
    mtimeMs: 1,
    mode: 0o644,
  },
];

function decodeAll(bytes: Uint8Array): RawEntry[] {
  const out: RawEntry[] = [];
  decodeEntries(bytes, (raw) => out.push(raw));
  return out;
}

// deno-lint-ignore require-await
async function streamOf(packed: Uint8Array): Promise<FileEntry[]> {
  return entriesOfBatch(create(ManifestBatchSchema, { packed }));
}

Deno.test("packed manifest: entries round-trip exactly (mtime to the millisecond)", async () => {
  const back = await streamOf(encodeEntries(sample));
  assertEquals(back, sample);
  assertEquals(encodeEntries([]).length, 0);
});

Deno.test("packed manifest: every truncation is a PackedManifestError, never a crash", () => {
  const bytes = encodeEntries(sample);
  for (let cut = 1; cut < bytes.length; cut += 7) {
    try {
      decodeAll(bytes.subarray(0, cut));
    } catch (error) {
      if (!(error instanceof PackedManifestError)) throw error;
    }
  }
  assertThrows(
    () => decodeAll(bytes.subarray(0, 5)),
    PackedManifestError,
    /truncated/,
  );
  // Bad UTF-8 in a path.
  const bad = encodeEntries([{
    path: "ab",
    kind: "file",
    size: 0,
    mtimeMs: 0,
    mode: 0,
  }]);
  bad[3] = 0xff;
  assertThrows(() => decodeAll(bad), PackedManifestError, /not UTF-8/);
  // Random bytes: only our errors.
  for (let i = 0; i < 200; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(1 + (i % 90)));
    try {
      decodeAll(junk);
    } catch (error) {
      if (!(error instanceof PackedManifestError)) throw error;
    }
  }
});

Deno.test("packed manifest: hostile entries are refused like single messages", async () => {
  const hostile: [Partial<FileEntry>, unknown, RegExp][] = [
    [{ path: "../up" }, PathEscapeError, /contains '\.\.'/],
    [{ path: "/abs" }, PathEscapeError, /absolute/],
    [{ path: "." }, PathEscapeError, /transfer root/],
    [{ size: -1 }, RangeError, /out of range/],
    [{ size: 2 ** 60 }, RangeError, /out of range/],
    [{ size: 1.5 }, RangeError, /out of range/],
    [{ mtimeMs: NaN }, RangeError, /Mtime/],
    [{ kind: "symlink", linkTarget: "" }, RangeError, /invalid target/],
    [{ kind: "symlink", linkTarget: "a\0b" }, RangeError, /invalid target/],
  ];
  for (const [change, errorClass, message] of hostile) {
    const entry = {
      path: "ok",
      kind: "file",
      size: 1,
      mtimeMs: 0,
      mode: 0o644,
      ...change,
    } as FileEntry;
    await assertRejects(
      () => streamOf(encodeEntries([entry])),
      errorClass as new () => Error,
      message,
    );
  }
  // An unknown kind byte and nanoseconds out of range, written by hand.
  const bytes = encodeEntries([{
    path: "k",
    kind: "file",
    size: 0,
    mtimeMs: 0,
    mode: 0,
  }]);
  const kind = bytes.slice();
  kind[0] = 9;
  await assertRejects(() => streamOf(kind), RangeError, /unknown kind 9/);
  const ns = bytes.slice();
  new DataView(ns.buffer).setUint32(
    1 + 2 + 1 + 16,
    (1_000_000 << 12) | 0o644,
    true,
  );
  await assertRejects(
    () => streamOf(ns),
    RangeError,
    /Mtime nanoseconds of k are out of range/,
  );
});

Deno.test("packed manifest: nanoseconds travel with the mode bits, both round trip", () => {
  const entries: FileEntry[] = [
    {
      path: "a",
      kind: "file",
      size: 1,
      mtimeMs: 1_700_000_000_123,
      mtimeNs: 999_999,
      mode: 0o7777,
    },
    {
      path: "b",
      kind: "symlink",
      size: 1,
      mtimeMs: 5,
      mtimeNs: 1,
      mode: 0o777,
      linkTarget: "a",
    },
    { path: "c", kind: "dir", size: 0, mtimeMs: 7, mode: 0o755 },
  ];
  const back: [string, number, number, number][] = [];
  decodeEntries(
    encodeEntries(entries),
    (raw) => back.push([raw.path, raw.mtimeMs, raw.mtimeNs, raw.mode]),
  );
  assertEquals(back, [
    ["a", 1_700_000_000_123, 999_999, 0o7777],
    ["b", 5, 1, 0o777],
    ["c", 7, 0, 0o755],
  ]);
  assertThrows(
    () => encodeEntries([{ ...entries[0], mtimeNs: 1_000_000 }]),
    RangeError,
    /nanoseconds/,
  );
});
