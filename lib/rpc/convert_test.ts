import { create } from "./codec.ts";
import { assert, assertEquals, assertThrows } from "../../tests/_assert.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import type { BasisOffer } from "../delta/basis.ts";
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
} from "./gen/blit.ts";
import { loadZstd } from "../wire/zstd.ts";

// The packing functions compress synchronously once node:zlib is loaded.
await loadZstd();

/** A 5,000-byte old copy described in two chunks, with its whole hash. */
function twoChunks(): BasisOffer {
  return {
    avgBits: 11,
    seed: 0xffffffff,
    size: 5000,
    lengths: Uint32Array.of(2048, 2952),
    digests: new Uint8Array(8).fill(3),
    whole: new Uint8Array(16).fill(5),
  };
}

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

Deno.test("packedNeeds: need batches compress and come back exact; hostile packed batches are refused", async () => {
  const { basisMessages, packedNeeds, unpackedFileList } = await import(
    "./convert.ts"
  );
  const { FileListSchema, ResumeOfferSchema } = await import("./gen/blit.ts");
  const { toBinary } = await import("./codec.ts");
  const zlib = await import("node:zlib");
  const paths = Array.from({ length: 200 }, (_, i) => `lib/module_${i}.py`);
  const resumes = new Map([
    [paths[0], { blockSize: 4096, hashes: new Uint8Array(32).fill(7) }],
  ]);
  const bases = new Map<string, BasisOffer>(
    paths.slice(1).map((path, i) => [path, {
      avgBits: 11,
      seed: i,
      size: 4096,
      lengths: Uint32Array.of(2048, 2048),
      digests: new Uint8Array(12).fill(i),
    }]),
  );
  const list = create(FileListSchema, {
    paths,
    decided: 400n,
    last: true,
    resumes: [...resumes].map(([path, offer]) =>
      create(ResumeOfferSchema, { path, ...offer })
    ),
    bases: basisMessages(bases),
  });
  const packed = packedNeeds(paths, resumes, bases, true, 400n);
  if (!packed) throw new Error("a need batch of 200 files did not compress");
  assertEquals(packed.paths, []);
  assertEquals(packed.bases, []);
  assertEquals(packed.last, true);
  assertEquals(packed.decided, 400n);
  if (packed.packedZstd.length * 2 > toBinary(FileListSchema, list).length) {
    throw new Error("a need batch of repeated paths did not shrink by half");
  }
  const back = unpackedFileList(packed);
  assertEquals(
    toBinary(FileListSchema, back),
    toBinary(FileListSchema, list),
  );
  // A small batch is not packed (it goes plain); a plain one passes through.
  const small = create(FileListSchema, { paths: ["a"] });
  assertEquals(packedNeeds(["a"], new Map(), new Map(), false, 0n), undefined);
  assertEquals(unpackedFileList(small), small);
  // Hostile: sizes out of range, lies, garbage, mixed, packed twice.
  const zip = (bytes: Uint8Array) => zlib.zstdCompressSync(bytes);
  const inner = toBinary(FileListSchema, create(FileListSchema, { paths }));
  const hostile = [
    { packedZstd: zip(inner), packedSize: 0 },
    { packedZstd: zip(inner), packedSize: MAX_PACKED_BYTES + 1 },
    { packedZstd: zip(inner), packedSize: inner.length - 1 },
    { packedZstd: zip(inner), packedSize: inner.length + 1 },
    { packedZstd: new Uint8Array([1, 2, 3, 4]), packedSize: 10 },
    { packedZstd: zip(new Uint8Array(64).fill(0xff)), packedSize: 64 },
    { packedZstd: zip(inner), packedSize: inner.length, paths: ["x"] },
    {
      packedZstd: zip(toBinary(FileListSchema, packed)),
      packedSize: toBinary(FileListSchema, packed).length,
    },
  ];
  for (const fields of hostile) {
    assertThrows(
      () => unpackedFileList(create(FileListSchema, fields)),
      RangeError,
    );
  }
  // A bomb: a small packed batch claiming the most it may unpack to is
  // refused as soon as it unpacks past it.
  const bomb = zip(new Uint8Array(MAX_PACKED_BYTES + 4096));
  assertThrows(
    () =>
      unpackedFileList(
        create(FileListSchema, {
          packedZstd: bomb,
          packedSize: MAX_PACKED_BYTES,
        }),
      ),
    RangeError,
  );
});

Deno.test("needListBytes: a need batch's FileList written by hand is the generic encoder's bytes, whatever it holds", async () => {
  const { needListBytes, packedNeeds, unpackedFileList, basisMessages } =
    await import("./convert.ts");
  const { FileListSchema, ResumeOfferSchema } = await import("./gen/blit.ts");
  const { toBinary } = await import("./codec.ts");
  await loadZstd();
  const generic = (
    paths: string[],
    resumes: Map<string, { blockSize: number; hashes: Uint8Array }>,
    bases: Map<string, BasisOffer>,
  ) =>
    toBinary(
      FileListSchema,
      create(FileListSchema, {
        paths,
        resumes: [...resumes].map(([path, offer]) =>
          create(ResumeOfferSchema, { path, ...offer })
        ),
        bases: basisMessages(bases),
      }),
    );
  const paths = [
    "a",
    "dir/é-ü.txt",
    "深/文件",
    "x".repeat(300),
    ...Array.from({ length: 50 }, (_, i) => `lib/m${i}.py`),
  ];
  const resumes = new Map([
    [paths[1], { blockSize: 4 << 20, hashes: new Uint8Array(48).fill(9) }],
    [paths[2], { blockSize: 0, hashes: new Uint8Array(0) }],
  ]);
  const bases = new Map<string, BasisOffer>([
    [paths[0], twoChunks()],
    [paths[3], {
      avgBits: 24,
      seed: 0,
      size: 2 ** 40 + 3,
      lengths: Uint32Array.of(2 ** 28 + 1, 127, 128, 16383, 16384, 0),
      digests: new Uint8Array(24).fill(1),
    }],
    [paths[4], {
      avgBits: 0,
      seed: 7,
      size: 0,
      lengths: new Uint32Array(0),
      digests: new Uint8Array(0),
    }],
    // In fixed blocks: its lengths are not written.
    [paths[5], fixedBlocks()],
  ]);
  for (
    const [p, r, b] of [
      [paths, resumes, bases],
      [paths, new Map(), new Map()],
      [[], new Map(), bases],
      [[], new Map(), new Map()],
      // More than the kept buffer holds at first (it grows).
      [
        Array.from({ length: 5000 }, (_, i) => `deep/dir/é${i}/file-${i}.txt`),
        new Map(),
        new Map(),
      ],
    ] as const
  ) {
    assertEquals(
      needListBytes(p, r, b),
      generic([...p], new Map(r), new Map(b)),
    );
  }
  // Compressed and back: the same batch.
  const packed = packedNeeds(paths, resumes, bases, true, 77n);
  if (!packed) throw new Error("a batch of 54 paths did not compress");
  assertEquals([packed.last, packed.decided, packed.paths], [true, 77n, []]);
  const back = unpackedFileList(packed);
  assertEquals([back.last, back.decided], [true, 77n]);
  assertEquals(
    toBinary(
      FileListSchema,
      create(FileListSchema, {
        paths: back.paths,
        resumes: back.resumes,
        bases: back.bases,
      }),
    ),
    generic(paths, resumes, bases),
  );
});

/**
 * An old copy of 16 MiB and 1,000 bytes in fixed blocks of 2 KiB, with
 * the digests of its 128 whole runs of 64 blocks.
 */
function fixedBlocks(): BasisOffer {
  const size = (16 << 20) + 1000;
  const count = Math.ceil(size / 2048);
  const lengths = new Uint32Array(count).fill(2048);
  lengths[count - 1] = 1000;
  return {
    avgBits: 11,
    seed: 3,
    size,
    lengths,
    digests: new Uint8Array(count * 4).map((_, i) => i),
    weak: new Uint8Array(count * 4).map((_, i) => i * 3),
    runs: new Uint8Array(128 * 4).map((_, i) => i * 5),
  };
}

Deno.test("fixed blocks on the wire: no lengths sent, the same lengths read back by every decoder; a peer's absurd block size allocates nothing", async () => {
  const { basesOf, basisMessages, needEntriesOf, needListBytes, packedNeeds } =
    await import("./convert.ts");
  const { FileListSchema } = await import("./gen/blit.ts");
  const { basisProblem } = await import("../delta/basis.ts");
  await loadZstd();
  const offer = fixedBlocks();
  assertEquals(basisProblem(offer), undefined);
  const bases = new Map([["big", offer]]);
  // 8 bytes a block (digest and sum), no varint of a length each; 4 a run.
  const bytes = needListBytes([], new Map(), bases);
  assert(
    bytes.length < offer.lengths.length * 8 + 128 * 4 + 64,
    `${bytes.length} bytes`,
  );
  const plain = create(FileListSchema, { bases: basisMessages(bases) });
  assertEquals(plain.bases[0].lengths, []);
  for (
    const got of [
      basesOf(plain).get("big")!,
      needEntriesOf(plain).bases.get("big")!,
      needEntriesOf(packedNeeds(["big"], new Map(), bases, true, 0n)!).bases
        .get("big")!,
    ]
  ) {
    assertEquals([...got.lengths], [...offer.lengths]);
    assertEquals(got.digests, offer.digests);
    assertEquals(got.weak, offer.weak);
    assertEquals(got.runs, offer.runs);
    assertEquals(basisProblem(got), undefined);
  }
  // Without runs (they are optional), and with the wrong number of them.
  assertEquals(basisProblem({ ...offer, runs: undefined }), undefined);
  assertEquals(
    basisProblem({ ...offer, runs: offer.runs!.subarray(4) }),
    "it has 508 bytes of run hashes, not 512 or none",
  );
  // A block size out of range, 2^53 bytes in 2 KiB blocks, or 512 MiB
  // (262,144 blocks) with one sum: no lengths are made (nothing bigger than
  // what was sent is allocated), and the check refuses it.
  for (
    const hostile of [
      { ...offer, avgBits: 99 },
      { ...offer, avgBits: 0 },
      { ...offer, size: Number.MAX_SAFE_INTEGER },
      { ...offer, size: 512 << 20, weak: new Uint8Array(4) },
    ]
  ) {
    const list = create(FileListSchema, {
      bases: basisMessages(new Map([["big", hostile]])),
    });
    const got = needEntriesOf(list).bases.get("big")!;
    assertEquals(got.lengths.length, 0);
    assert(basisProblem(got) !== undefined);
  }
});

Deno.test("needEntriesOf: a packed need batch reads as the generic decoder reads it, however it is encoded; hostile ones are refused alike", async () => {
  const { basesOf, needEntriesOf, offersOf, packedNeeds, unpackedFileList } =
    await import("./convert.ts");
  const { FileListSchema } = await import("./gen/blit.ts");
  const { FrameProtocolError } = await import("../wire/frame_codec.ts");
  const zlib = await import("node:zlib");
  // Protobuf by hand: any field order, unpacked repeats, unknown fields.
  const varint = (n: number | bigint): number[] => {
    let v = BigInt(n);
    const out: number[] = [];
    while (v > 0x7fn) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    return out;
  };
  const text = new TextEncoder();
  const len = (field: number, body: number[] | Uint8Array) => [
    ...varint(field * 8 + 2),
    ...varint(body.length),
    ...body,
  ];
  const num = (field: number, n: number | bigint) => [
    ...varint(field * 8),
    ...varint(n),
  ];
  const str = (field: number, s: string) => len(field, text.encode(s));
  const packedOf = (inner: number[]) => {
    const bytes = Uint8Array.from(inner);
    return create(FileListSchema, {
      packedZstd: zlib.zstdCompressSync(bytes),
      packedSize: bytes.length,
      decided: 9n,
      last: true,
    });
  };
  const generic = (list: ReturnType<typeof packedOf>) => {
    const plain = unpackedFileList(list);
    return {
      paths: plain.paths,
      offers: offersOf(plain),
      bases: basesOf(plain),
    };
  };
  const same = (list: ReturnType<typeof packedOf>) =>
    assertEquals(needEntriesOf(list), generic(list));
  // What the daemon writes.
  const paths = Array.from({ length: 120 }, (_, i) => `lib/é${i}/m.py`);
  same(
    packedNeeds(
      paths,
      new Map([[paths[0], { blockSize: 4096, hashes: new Uint8Array(8) }]]),
      new Map<string, BasisOffer>([
        [paths[1], twoChunks()],
        [paths[2], {
          avgBits: 10,
          seed: 1,
          size: 4000,
          lengths: new Uint32Array(0),
          digests: new Uint8Array(0),
          whole: new Uint8Array(16).fill(6),
        }],
      ]),
      false,
      3n,
    )!,
  );
  // Another encoder's: bases first, lengths unpacked and packed both,
  // unknown fields of every wire type, a second offer for one path (the
  // first counts), fields past 32 bits (their low bits), a non-UTF-8 path.
  const basis = (path: string, extra: number[] = []) =>
    len(5, [
      ...num(12, 1),
      ...num(4, 5000),
      ...num(5, 2048),
      ...len(5, [...varint(1000), ...varint(1952)]),
      ...str(1, path),
      ...num(2, 2n ** 35n + 11n),
      ...num(3, 7),
      ...len(6, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
      ...[0x7d, 1, 2, 3, 4], // field 15, fixed32
      ...extra,
    ]);
  same(packedOf([
    ...basis("b"),
    ...basis("b", num(4, 1)),
    ...str(1, "b"),
    ...len(1, [0x61, 0xff, 0x62]),
    ...[0x49, 1, 2, 3, 4, 5, 6, 7, 8], // field 9, fixed64
    ...num(3, 5),
    ...len(4, [...num(2, 64), ...str(1, "r"), ...len(3, [9, 9])]),
    ...len(6, []),
    ...str(1, "r"),
  ]));
  // Too big an old copy: the same error.
  const big = packedOf([
    ...str(1, "z"),
    ...len(5, [...str(1, "z"), ...num(4, 2n ** 60n)]),
  ]);
  assertThrows(() => generic(big), FrameProtocolError);
  assertThrows(() => needEntriesOf(big), FrameProtocolError);
  // Hostile: truncated, a group, a wrong wire type, a field past its
  // message, packed again, a varint of eleven bytes.
  const again = packedOf([...str(1, "a")]).packedZstd;
  for (
    const inner of [
      [...str(1, "abc")].slice(0, -1),
      [0x0b, 0x0c],
      [...num(1, 3)],
      [...len(4, [...num(1, 3)])],
      [...len(5, [...num(6, 3)])],
      [...len(5, [...varint(1 * 8 + 2), ...varint(9), 0x61])],
      [...len(6, Array.from(again))],
      [0x08, ...new Array(10).fill(0xff), 0x01],
    ]
  ) {
    const list = packedOf(inner);
    assertThrows(() => generic(list), RangeError);
    assertThrows(() => needEntriesOf(list), RangeError);
  }
});
