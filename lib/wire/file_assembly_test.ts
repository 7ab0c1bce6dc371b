import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { FileTable } from "../fs/path_table.ts";
import {
  BasisChangedError,
  COPY_LATER_MIN_BYTES,
  DeltaTarget,
  FileAssembly,
} from "./file_assembly.ts";
import { AT, cString, loadLibc, O } from "../fs/_libc.ts";
import { KernelFile } from "../fs/kernel_file.ts";
import { contentStamp, openedStatus } from "../fs/tree.ts";
import { AtomicFile } from "../fs/atomic_file.ts";
import { hashBytes } from "../fs/hash.ts";
import { FrameProtocolError } from "./frame_codec.ts";

const file = (path: string, size: number) => ({
  path,
  kind: "file" as const,
  size,
  mtimeMs: 0,
  mode: 0o644,
});

Deno.test("FileAssembly.take: a negotiated file once, at its negotiated size; anything else is a protocol error", () => {
  const a = file("a", 3);
  const assembly = new FileAssembly("/nonexistent", new Map([["a", a]]), {}, 1);
  assertEquals(assembly.take(file("a", 3)), a);
  assertThrows(
    () => assembly.take(file("a", 4)),
    FrameProtocolError,
    /^File a has 4 bytes, negotiated 3$/,
  );
  assertThrows(
    () => assembly.take(file("b", 1)),
    FrameProtocolError,
    /^File b was not asked for$/,
  );
  assembly.committed("a", a);
  assertThrows(
    () => assembly.take(file("a", 3)),
    FrameProtocolError,
    /^File a was sent twice$/,
  );
  assertEquals(assembly.stats, { files: 1, bytes: 3, resumed: 0, matched: 0 });
  const table = new FileTable();
  table.set("t", file("t", 1));
  const compact = new FileAssembly("/nonexistent", table, {}, 1);
  compact.take(file("t", 1));
  assertThrows(
    () => compact.take(file("t", 1)),
    FrameProtocolError,
    /^File t was sent twice$/,
  );
});

Deno.test("FileAssembly.range: ranges of one file may come on several streams, never overlapping; the last sink to close checks nothing is missing", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const big = file("big", 8);
    const assembly = new FileAssembly(root, new Map([["big", big]]), {}, 2);
    const part = assembly.range(big, { offset: 0, length: 4 });
    assertEquals(assembly.range(big, { offset: 4, length: 4 }), part);
    assertThrows(
      () => assembly.range(big, { offset: 2, length: 4 }),
      FrameProtocolError,
      /^Range 2\+4 of big overlaps one already sent$/,
    );
    await assembly.close(); // one of two sinks: nothing checked yet
    await assertRejects(() => assembly.close(), FrameProtocolError);
    await assembly.abort();
    assertEquals(
      [...Deno.readDirSync(root)].filter((e) => !e.name.includes("blit-")),
      [],
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

for (const kind of ["kernel tree", "local directory"] as const) {
  Deno.test(`FileAssembly.delta (${kind}): an old copy's known content hash is used only while its status is as described`, async () => {
    const { KernelTree } = await import("../fs/kernel_tree.ts");
    const { describeBasis } = await import("../delta/basis.ts");
    const { hashBytes } = await import("../fs/hash.ts");
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    const kernel = KernelTree.open(root);
    // A local directory (a pulling client's) opens its old copies through
    // libc too: their status to the nanosecond, so known without reading.
    const tree = kernel && (kind === "kernel tree" ? kernel : root);
    try {
      if (!tree) return; // no openat2 here: no status to the nanosecond
      const old = new Uint8Array(5000).map((_, i) => i * 13);
      Deno.writeFileSync(`${root}/a`, old);
      Deno.writeFileSync(`${root}/b`, old);
      const bases = new Map();
      for (const name of ["a", "b"]) {
        bases.set(name, (await describeBasis(tree, name))!);
      }
      const entries = new Map([["a", file("a", 5000)], ["b", file("b", 5000)]]);
      const assembly = new FileAssembly(tree, entries, { bases }, 1);
      // Untouched: the hash taken when described.
      const a = assembly.delta(file("a", 5000));
      assertEquals([...a.known!], [...await hashBytes(old)]);
      a.basis.close();
      // Written in place since (same size, same inode), its mtime then set
      // back (to the millisecond): its status moved, so it is read back.
      // (A pause past a coarse clock's tick first: a kernel without
      // fine-grained change times would otherwise give the same one.)
      const before = Deno.statSync(`${root}/b`).mtime!;
      await new Promise((resolve) => setTimeout(resolve, 30));
      const changed = old.slice();
      changed[10] ^= 1;
      using f = Deno.openSync(`${root}/b`, { write: true });
      f.writeSync(changed);
      Deno.utimeSync(`${root}/b`, before, before);
      const b = assembly.delta(file("b", 5000));
      assertEquals(b.known, undefined);
      b.basis.close();
    } finally {
      kernel?.close();
      Deno.removeSync(root, { recursive: true });
    }
  });
}

Deno.test("DeltaTarget.appendBasis: the old copy's bytes appended by the kernel count only while its status is the one its hash was taken under; a write to it since fails the file", async () => {
  const libc = loadLibc();
  if (!libc) return;
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${dir}/old`, new Uint8Array(5000).fill(7));
    const fd = libc.openat2(
      AT.FDCWD,
      cString(`${dir}/old`),
      O.RDONLY,
      0,
      0,
    );
    const basis = KernelFile.regular(libc, fd, "old", false);
    const info = openedStatus(basis);
    const stamp = contentStamp(info)!;
    const entry = {
      path: "new",
      kind: "file" as const,
      size: 6000,
      mtimeMs: 1_700_000_000_000,
      mode: 0o644,
    };
    const target = new DeltaTarget(
      entry,
      basis,
      info,
      () => AtomicFile.open(dir, entry),
      undefined,
      { digest: await hashBytes(new Uint8Array(5000).fill(7)), stamp },
    );
    try {
      // Unchanged: copied (here by the kernel, or 0 where the temp file is
      // not a kernel handle: the caller writes them).
      const n = target.appendBasis(0, 2000);
      assertEquals(n === 0 || n === 2000, true);
      // Written to since (its change time moves): refused.
      await new Promise((r) => setTimeout(r, 20));
      Deno.writeFileSync(`${dir}/old`, new Uint8Array(1).fill(8), {
        append: true,
      });
      assertThrows(
        () => target.appendBasis(2000, 1000),
        BasisChangedError,
        /^new changed at the destination during the transfer; run the command again$/,
      );
    } finally {
      target.opened?.abort();
      basis.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("DeltaTarget.appendBasisLater: a big old copy is copied into the new file by the kernel on another thread while what follows is written after it; the file lands whole once that settles; an old copy written to since fails the file; a small copy is left to appendBasis", async () => {
  const { KernelTree } = await import("../fs/kernel_tree.ts");
  const { openForRead } = await import("../fs/contained_root.ts");
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const tree = KernelTree.open(root);
  try {
    if (!tree) return; // no openat2 here
    const old = new Uint8Array(COPY_LATER_MIN_BYTES + 4096).map((_, i) =>
      (i * 7) ^ (i >> 9)
    );
    Deno.writeFileSync(`${root}/old`, old);
    const tail = new TextEncoder().encode("appended\n");
    const target = (name: string) => {
      const basis = openForRead(tree, "old");
      const info = openedStatus(basis);
      const entry = {
        path: name,
        kind: "file" as const,
        size: old.length + tail.length,
        mtimeMs: 1_700_000_000_000,
        mode: 0o644,
      };
      return new DeltaTarget(
        entry,
        basis,
        info,
        () => AtomicFile.open(tree, entry),
        undefined,
        { digest: new Uint8Array(16), stamp: contentStamp(info)! },
      );
    };
    const a = target("a");
    try {
      assertEquals(a.appendBasisLater(0, COPY_LATER_MIN_BYTES - 1), undefined);
      const copying = a.appendBasisLater(0, old.length)!;
      assertEquals(copying instanceof Promise, true);
      // Counted at once: what comes next goes after it.
      assertEquals(a.file.written, old.length);
      a.file.write(tail);
      await copying;
      a.file.commit();
    } finally {
      a.basis.close();
    }
    const landed = Deno.readFileSync(`${root}/a`);
    assertEquals(landed.length, old.length + tail.length);
    assertEquals(landed.subarray(0, old.length), old);
    assertEquals(
      new TextDecoder().decode(landed.subarray(old.length)),
      "appended\n",
    );
    // Written to after it was opened (a pause past a coarse clock's tick
    // first): the copy is made, then refused, and nothing lands.
    const b = target("b");
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      Deno.writeFileSync(`${root}/old`, Uint8Array.of(1), { append: true });
      await assertRejects(
        () => b.appendBasisLater(0, old.length)!,
        BasisChangedError,
        /^b changed at the destination during the transfer; run the command again$/,
      );
    } finally {
      b.opened?.abort();
      b.basis.close();
    }
    assertEquals(
      Deno.readDirSync(root).map((e) => e.name).toArray().sort(),
      ["a", "old"],
    );
  } finally {
    tree?.close();
    Deno.removeSync(root, { recursive: true });
  }
});
