import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { contentHasher, hashBytes } from "../fs/hash.ts";
import {
  hashBody,
  readEvents,
  readFull,
  SourceChangedError,
} from "./file_reader.ts";
import type { FrameEvent } from "./frame_codec.ts";

const entry = (size: number) => ({
  path: "f",
  kind: "file" as const,
  size,
  mtimeMs: 0,
  mode: 0o644,
});

/** Events with their data copied (the reader reuses its buffer). */
function collect(events: Iterable<FrameEvent>): FrameEvent[] {
  const out: FrameEvent[] = [];
  for (const e of events) {
    out.push(e.type === "data" ? { type: "data", bytes: e.bytes.slice() } : e);
  }
  return out;
}

Deno.test("readEvents: a whole file in pieces of the scratch buffer, then its hash; a range reads only its bytes", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const body = new Uint8Array(10).map((_, i) => i);
    Deno.writeFileSync(`${root}/f`, body);
    const hasher = await contentHasher();
    const whole = collect(
      readEvents(root, { entry: entry(10) }, hasher, new Uint8Array(4)),
    );
    assertEquals(whole.map((e) => e.type), [
      "file",
      "data",
      "data",
      "data",
      "hash",
    ]);
    assertEquals(
      whole.flatMap((e) => e.type === "data" ? [...e.bytes] : []),
      [...body],
    );
    assertEquals(
      (whole.at(-1) as { digest: Uint8Array }).digest,
      await hashBytes(body),
    );
    const range = collect(
      readEvents(
        root,
        { entry: entry(10), range: { offset: 3, length: 4 } },
        hasher,
        new Uint8Array(8),
      ),
    );
    assertEquals(range[0], {
      type: "file",
      entry: entry(10),
      range: { offset: 3, length: 4 },
    });
    assertEquals(range[1], { type: "data", bytes: body.subarray(3, 7) });
    assertEquals(
      hashBody(
        root,
        entry(10),
        { offset: 3, length: 4 },
        hasher,
        new Uint8Array(2),
      ),
      await hashBytes(body.subarray(3, 7)),
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("readEvents: a resumed file names the blocks kept, then sends only the others as ranges", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${root}/f`, new Uint8Array(12).fill(1));
    const hasher = await contentHasher();
    // Blocks of 4 bytes: the first and last kept, the middle one sent.
    const kept = { blockSize: 4, blocks: 3, bitmap: new Uint8Array([0b101]) };
    const events = collect(
      readEvents(root, { entry: entry(12), kept }, hasher, new Uint8Array(16)),
    );
    assertEquals(events.map((e) => e.type), ["resume", "file", "data", "hash"]);
    assertEquals(events[1], {
      type: "file",
      entry: entry(12),
      range: { offset: 4, length: 4 },
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("readFull and readEvents: a file that shrank since it was listed is a SourceChangedError", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${root}/f`, new Uint8Array(3));
    const hasher = await contentHasher();
    assertThrows(
      () => [
        ...readEvents(root, { entry: entry(5) }, hasher, new Uint8Array(8)),
      ],
      SourceChangedError,
      /^File f shrank during the transfer \(declared 5 bytes\); run the command again$/,
    );
    using file = Deno.openSync(`${root}/f`);
    assertThrows(
      () => readFull(file, new Uint8Array(4), "f", 4),
      SourceChangedError,
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
