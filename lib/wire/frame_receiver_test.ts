import { assert, assertEquals } from "../../tests/_assert.ts";
import { xorshiftBytes } from "../../tests/_bytes.ts";
import { describeBasis } from "../delta/basis.ts";
import type { FileEntry } from "../fs/entry.ts";
import { hashBytes } from "../fs/hash.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import { COPY_LATER_MIN_BYTES } from "./file_assembly.ts";
import type { FrameEvent } from "./frame_codec.ts";
import { FrameReceiver } from "./frame_receiver.ts";

const file = (path: string, size: number): FileEntry => ({
  path,
  kind: "file",
  size,
  mtimeMs: 1_700_000_000_000,
  mode: 0o640,
});

/**
 * A kernel tree holding `log`, an old copy of `size` random bytes, and a
 * receiver for `log` grown by 3,000 bytes and a small `next`, its
 * description as the daemon makes it (its content hash and the hasher's
 * state come with it); skipped without openat2.
 */
async function withAppend(
  size: number,
  fn: (
    bed: {
      root: string;
      receiver: FrameReceiver;
      old: Uint8Array;
      tail: Uint8Array;
      grown: Uint8Array;
    },
  ) => Promise<void>,
): Promise<void> {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const tree = KernelTree.open(root);
  try {
    if (!tree) return;
    const old = xorshiftBytes(size, 5);
    const tail = xorshiftBytes(3000, 6);
    const grown = new Uint8Array(old.length + tail.length);
    grown.set(old);
    grown.set(tail, old.length);
    Deno.writeFileSync(`${root}/log`, old);
    const entries = new Map([
      ["log", file("log", grown.length)],
      ["next", file("next", 5)],
    ]);
    const copy = (await describeBasis(tree, "log"))!;
    assert(copy.content?.state !== undefined, "no hasher state here");
    const [receiver] = FrameReceiver.group(tree, entries, 1, {
      bases: new Map([["log", copy]]),
    });
    await receiver.write({ type: "delta", entry: file("log", grown.length) });
    await fn({ root, receiver, old, tail, grown });
  } finally {
    tree?.close();
    Deno.removeSync(root, { recursive: true });
  }
}

for (const end of ["closed", "aborted"] as const) {
  Deno.test(`FrameReceiver: an append to a big old copy is committed once the kernel has copied the old copy in (on another thread), the connection taking the next file meanwhile; ${end} before that, it still lands whole`, async () => {
    await withAppend(
      COPY_LATER_MIN_BYTES + 100_000,
      async ({ root, receiver, old, tail, grown }) => {
        const small = new TextEncoder().encode("next\n");
        const events: FrameEvent[] = [
          { type: "copy", offset: 0, length: old.length },
          { type: "data", bytes: tail },
          { type: "hash", digest: await hashBytes(grown) },
          { type: "file", entry: file("next", small.length) },
          { type: "data", bytes: small },
          { type: "hash", digest: await hashBytes(small) },
          { type: "end" },
        ];
        // Taken at once: the next file is in before the big one is.
        assertEquals(receiver.write(events), undefined);
        assertEquals(Deno.readTextFileSync(`${root}/next`), "next\n");
        assertEquals(Deno.readFileSync(`${root}/log`), old);
        await (end === "closed" ? receiver.close() : receiver.abort());
        assertEquals(Deno.readFileSync(`${root}/log`), grown);
        const info = Deno.statSync(`${root}/log`);
        assertEquals(info.mode! & 0o777, 0o640);
        assertEquals(info.mtime?.getTime(), 1_700_000_000_000);
        assertEquals(receiver.stats.matched, old.length);
        assertEquals(
          [...Deno.readDirSync(root)].map((e) => e.name).sort(),
          ["log", "next"],
        );
      },
    );
  });
}

Deno.test("FrameReceiver: a big append cut off while its old copy is being copied in leaves no temp file, and the old copy as it was", async () => {
  await withAppend(COPY_LATER_MIN_BYTES + 100_000, async (bed) => {
    const { root, receiver, old, tail } = bed;
    receiver.write([
      { type: "copy", offset: 0, length: old.length },
      { type: "data", bytes: tail.subarray(0, 1000) },
    ]);
    // The connection is gone: what it had begun is removed.
    await receiver.abort();
    assertEquals(Deno.readFileSync(`${root}/log`), old);
    assertEquals([...Deno.readDirSync(root)].map((e) => e.name), ["log"]);
  });
});
