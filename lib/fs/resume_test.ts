import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { AtomicFile, ResumeError } from "./atomic_file.ts";
import { findPartialCopy, RESUME_MIN_BYTES } from "./partial_copies.ts";
import { isTempName } from "./temp_names.ts";
import { sweepTemps } from "./sweep.ts";
import { ContainedRoot, fileIdentity } from "./contained_root.ts";
import { contentHasher } from "./hash.ts";
import {
  blockRuns,
  findResume,
  keptBlocks,
  MAX_RESUME_GAPS,
  type PartialCopy,
  resumeBlockSize,
  validOffer,
} from "./resume.ts";
import { receiveFrames, sendFrames } from "../wire/frame_io.ts";
import { ReceiveSink } from "../wire/receive_sink.ts";
import { encodeEnd, encodeResume } from "../wire/frame_codec.ts";
import { FrameDecoder } from "../wire/frame_decoder.ts";

const MiB = 1 << 20;

function entry(path: string, size: number): FileEntry {
  return { path, kind: "file", size, mtimeMs: 1_700_000_000_000, mode: 0o640 };
}

/** Bytes that differ in every MiB (so blocks have distinct hashes). */
function content(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) out[i] = (i >> 12) & 0xff;
  for (let m = 0; m < size; m += MiB) out[m + 1] = m / MiB;
  return out;
}

/** Temporary directories made by the test running now (removed after it). */
const made: string[] = [];

function tempDir(): string {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  made.push(dir);
  return dir;
}

function cleanup(): void {
  for (const dir of made.splice(0)) Deno.removeSync(dir, { recursive: true });
}

/** Sends `needed` from `src` to a ReceiveSink on `dst` over loopback TCP. */
async function transfer(
  src: string,
  dst: string,
  needed: FileEntry & { resume?: PartialCopy["offer"] },
  resumes: Map<string, PartialCopy>,
): Promise<{ resumedSent: number; stats: ReceiveSink["stats"] }> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { resume: _, ...plain } = needed;
  const sink = new ReceiveSink(dst, new Map([[needed.path, plain]]), {
    resumes,
  });
  const received = listener.accept().then(async (conn) => {
    try {
      await receiveFrames(conn, sink);
    } finally {
      conn.close();
    }
  });
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  let resumedSent = 0;
  try {
    await sendFrames([conn], src, [needed], {
      onResumed: (n) => resumedSent += n,
    });
  } finally {
    conn.close();
  }
  await received;
  listener.close();
  return { resumedSent, stats: sink.stats };
}

Deno.test("resume: matching blocks are kept, a corrupted one and the rest are sent, the file lands whole", async () => {
  try {
    const src = tempDir();
    const dst = tempDir();
    const size = 5 * 4 * MiB + 123; // 6 blocks, the last one short
    const bytes = content(size);
    Deno.writeFileSync(`${src}/big`, bytes);
    // An interrupted copy: 4 blocks and a bit, block 2 corrupted.
    const partial = bytes.slice(0, 16 * MiB + 5000);
    partial[9 * MiB] ^= 0xff;
    Deno.writeFileSync(`${dst}/.big.blit-partial.tmp`, partial);
    const e = entry("big", size);
    const hasher = await contentHasher();
    const copy = (await findResume(dst, e, hasher))!;
    assertEquals(copy.offer.blockSize, 4 * MiB);
    assertEquals(copy.offer.hashes.length, 4 * 16); // whole blocks only
    const kept = await keptBlocks(src, e, copy.offer, hasher);
    assertEquals([...kept.bitmap], [0b1011]);
    assertEquals(blockRuns(kept, size, false), [
      { offset: 8 * MiB, length: 4 * MiB },
      { offset: 16 * MiB, length: size - 16 * MiB },
    ]);
    const { resumedSent, stats } = await transfer(
      src,
      dst,
      { ...e, resume: copy.offer },
      new Map([["big", copy]]),
    );
    assertEquals(resumedSent, 12 * MiB);
    assertEquals(stats, {
      files: 1,
      bytes: size,
      resumed: 12 * MiB,
      matched: 0,
    });
    assertEquals(Deno.readFileSync(`${dst}/big`), bytes);
    assertEquals(Deno.statSync(`${dst}/big`).mode! & 0o777, 0o640);
    assertEquals(Deno.statSync(`${dst}/big`).mtime!.getTime(), e.mtimeMs);
    assertEquals([...Deno.readDirSync(dst)].map((d) => d.name), ["big"]);
  } finally {
    cleanup();
  }
});

Deno.test("resume: a complete partial copy is committed without a body byte sent", async () => {
  try {
    const src = tempDir();
    const dst = tempDir();
    const size = 17 * MiB;
    const bytes = content(size);
    Deno.writeFileSync(`${src}/f`, bytes);
    Deno.writeFileSync(`${dst}/.f.blit-partial.tmp`, bytes);
    const e = entry("f", size);
    const copy = (await findResume(dst, e, await contentHasher()))!;
    assertEquals(copy.offer.hashes.length, 5 * 16);
    const { resumedSent, stats } = await transfer(
      src,
      dst,
      { ...e, resume: copy.offer },
      new Map([["f", copy]]),
    );
    assertEquals(resumedSent, size);
    assertEquals(stats.resumed, size);
    assertEquals(Deno.readFileSync(`${dst}/f`), bytes);
  } finally {
    cleanup();
  }
});

Deno.test("resume: a partial copy that is a link, a hard link or a directory is never offered", async () => {
  try {
    const dst = tempDir();
    const outside = tempDir();
    const hasher = await contentHasher();
    Deno.writeFileSync(`${outside}/secret`, new Uint8Array(8 * MiB).fill(7));
    Deno.symlinkSync(`${outside}/secret`, `${dst}/.a.blit-partial.tmp`);
    assertEquals(
      await findResume(dst, entry("a", 64 * MiB), hasher),
      undefined,
    );
    Deno.linkSync(`${outside}/secret`, `${dst}/.b.blit-partial.tmp`);
    assertEquals(
      await findResume(dst, entry("b", 64 * MiB), hasher),
      undefined,
    );
    Deno.mkdirSync(`${dst}/.c.blit-partial.tmp`);
    assertEquals(
      await findResume(dst, entry("c", 64 * MiB), hasher),
      undefined,
    );
    // Shorter than one block: nothing worth offering.
    Deno.writeFileSync(`${dst}/.d.blit-partial.tmp`, new Uint8Array(MiB));
    assertEquals(
      await findResume(dst, entry("d", 64 * MiB), hasher),
      undefined,
    );
    // Writing the link's file through a fresh transfer replaces the link.
    const file = AtomicFile.open(dst, entry("a", RESUME_MIN_BYTES));
    file.abort();
    assertEquals(Deno.readFileSync(`${outside}/secret`)[0], 7);
    assertEquals(
      [...Deno.readDirSync(dst)].map((d) => d.name).filter((n) =>
        n.startsWith(".a.")
      ),
      [],
    );
  } finally {
    cleanup();
  }
});

Deno.test("resume: a partial copy replaced after it was offered is refused, not written", () => {
  try {
    const dst = tempDir();
    const outside = tempDir();
    Deno.writeFileSync(`${dst}/.a.blit-partial.tmp`, new Uint8Array(8 * MiB));
    const found = findPartialCopy(dst, "a")!;
    const identity = fileIdentity(found.info);
    Deno.removeSync(`${dst}/.a.blit-partial.tmp`);
    Deno.writeFileSync(`${outside}/victim`, new Uint8Array([1, 2, 3]));
    Deno.symlinkSync(`${outside}/victim`, `${dst}/.a.blit-partial.tmp`);
    assertThrows(
      () =>
        AtomicFile.resume(dst, entry("a", 32 * MiB), identity, [{
          offset: 0,
          length: 4 * MiB,
        }]),
      ResumeError,
      /changed before it could be resumed/,
    );
    assertEquals(
      Deno.readFileSync(`${outside}/victim`),
      new Uint8Array([1, 2, 3]),
    );
  } finally {
    cleanup();
  }
});

Deno.test("resume: a sink takes a resume frame only as offered", async () => {
  try {
    const dst = tempDir();
    const e = entry("big", 32 * MiB);
    const kept = { blockSize: 4 * MiB, blocks: 2, bitmap: new Uint8Array([3]) };
    const decode = async (
      resumes: Map<string, PartialCopy>,
      frame: Uint8Array,
    ) => {
      const decoder = new FrameDecoder();
      const events = [...decoder.push(frame), ...decoder.push(encodeEnd())];
      const sink = new ReceiveSink(dst, new Map([["big", e]]), { resumes });
      await ReadableStream.from(events).pipeTo(sink);
    };
    await assertRejects(
      () => decode(new Map(), encodeResume(e, kept)),
      Error,
      /was resumed, but no partial copy of it was offered/,
    );
    Deno.writeFileSync(`${dst}/.big.blit-partial.tmp`, new Uint8Array(8 * MiB));
    const copy = (await findResume(dst, e, await contentHasher()))!;
    await assertRejects(
      () =>
        decode(
          new Map([["big", copy]]),
          encodeResume(e, { ...kept, blocks: 1, bitmap: new Uint8Array([1]) }),
        ),
      Error,
      /does not match the blocks offered/,
    );
    // The refused session kept the partial copy for a later one.
    assertEquals(Deno.statSync(`${dst}/.big.blit-partial.tmp`).size, 8 * MiB);
  } finally {
    cleanup();
  }
});

Deno.test("resume: offers a sender can't use are ignored; too many gaps keep the first run only", async () => {
  try {
    assertEquals(
      validOffer({ blockSize: 4 * MiB, hashes: new Uint8Array(16) }, 1),
      true,
    );
    assertEquals(
      validOffer({ blockSize: 1024, hashes: new Uint8Array(16) }, MiB),
      false,
    );
    assertEquals(
      validOffer({ blockSize: 4 * MiB, hashes: new Uint8Array(15) }, MiB),
      false,
    );
    assertEquals(
      validOffer({ blockSize: 4 * MiB, hashes: new Uint8Array(0) }, MiB),
      false,
    );
    assertEquals(resumeBlockSize(2 ** 40), 16 * MiB);
    // A sender whose file matches every other block of the offer.
    const src = tempDir();
    const blocks = 2 * MAX_RESUME_GAPS + 8;
    const blockSize = 65_536;
    const size = blocks * blockSize;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < blocks; i++) bytes[i * blockSize] = i & 0xff;
    Deno.writeFileSync(`${src}/f`, bytes);
    const hasher = await contentHasher();
    const hashes = new Uint8Array(blocks * 16);
    for (let i = 0; i < blocks; i++) {
      const block = bytes.slice(i * blockSize, (i + 1) * blockSize);
      if (i % 2 === 1 && i > 3) block[1] = 9; // differs
      hasher.init();
      hasher.update(block);
      hashes.set(hasher.digest("binary"), i * 16);
    }
    const kept = await keptBlocks(
      src,
      entry("f", size),
      { blockSize, hashes },
      hasher,
    );
    assertEquals(blockRuns(kept, size, true), [
      { offset: 0, length: 5 * blockSize },
    ]);
  } finally {
    cleanup();
  }
});

Deno.test("resume: the sweep keeps recent partial copies and removes old ones and other temp files", () => {
  try {
    const module = tempDir();
    const now = Date.now() / 1000;
    Deno.writeTextFileSync(`${module}/.new.blit-partial.tmp`, "x");
    Deno.writeTextFileSync(`${module}/.old.blit-partial.tmp`, "x");
    Deno.utimeSync(
      `${module}/.old.blit-partial.tmp`,
      now - 90_000,
      now - 90_000,
    );
    Deno.writeTextFileSync(`${module}/.small.blit-0123456789ab.tmp`, "x");
    assertEquals(isTempName(".new.blit-partial.tmp"), true);
    const cwd = Deno.cwd();
    const kept: string[] = [];
    try {
      const removed = sweepTemps(new ContainedRoot(module), [""], {
        keepPartialsMs: 24 * 3600 * 1000,
        onKept: (dir) => kept.push(dir),
      });
      assertEquals(removed, 2);
    } finally {
      Deno.chdir(cwd);
    }
    assertEquals(kept, [""]);
    assertEquals([...Deno.readDirSync(module)].map((d) => d.name), [
      ".new.blit-partial.tmp",
    ]);
  } finally {
    cleanup();
  }
});
