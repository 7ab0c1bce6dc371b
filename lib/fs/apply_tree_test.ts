import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import {
  applyDir,
  applyFileMode,
  applySymlink,
  setDirTimes,
} from "./apply_tree.ts";
import { KernelTree } from "./kernel_tree.ts";
import { EntryConflictError } from "./_replace.ts";

Deno.test("applyDir, applySymlink, setDirTimes: a file in the way of a directory goes, a link is replaced, a link over a directory refused", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeTextFileSync(`${root}/d`, "a file in the way");
  const dir: FileEntry = {
    path: "d",
    kind: "dir",
    size: 0,
    mtimeMs: 1_000_000,
    mode: 0o750,
  };
  applyDir(root, dir);
  applyDir(root, { ...dir, path: "d/e" });
  applySymlink(root, {
    path: "d/link",
    kind: "symlink",
    size: 1,
    mtimeMs: 0,
    mode: 0o777,
    linkTarget: "../t",
  });
  applySymlink(root, {
    path: "d/link",
    kind: "symlink",
    size: 1,
    mtimeMs: 0,
    mode: 0o777,
    linkTarget: "../u",
  });
  assertEquals(Deno.readLinkSync(`${root}/d/link`), "../u");
  setDirTimes(root, [dir, { ...dir, path: "d/e", mtimeMs: 2_000_000 }]);
  assertEquals(Deno.statSync(`${root}/d`).mtime!.getTime(), 1_000_000);
  assertEquals(Deno.statSync(`${root}/d/e`).mtime!.getTime(), 2_000_000);
  assertEquals(Deno.statSync(`${root}/d`).mode! & 0o7777, 0o750);
  assertThrows(
    () =>
      applySymlink(root, {
        path: "d/e",
        kind: "symlink",
        size: 1,
        mtimeMs: 0,
        mode: 0o777,
        linkTarget: "x",
      }),
    EntryConflictError,
  );
  Deno.removeSync(root, { recursive: true });
});

Deno.test("applyFileMode: the mode set through the open file, only on the very file described; never through a link", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const tree = KernelTree.open(root);
  try {
    const entry = (path: string, mode: number): FileEntry => ({
      path,
      kind: "file",
      size: 1,
      mtimeMs: 0,
      mode,
    });
    const modeOf = (path: string) => Deno.lstatSync(path).mode! & 0o7777;
    Deno.writeTextFileSync(`${root}/ro`, "x");
    Deno.chmodSync(`${root}/ro`, 0o444);
    Deno.utimeSync(`${root}/ro`, 1000, 1000);
    const before = Deno.lstatSync(`${root}/ro`);
    // A read-only file takes its new mode (and keeps content and mtime),
    // through a local directory and through a kernel tree alike.
    for (const [where, mode] of [[root, 0o640], [tree, 0o4750]] as const) {
      if (!where) continue; // no openat2 here
      assertEquals(
        applyFileMode(where, entry("ro", mode), Deno.lstatSync(`${root}/ro`)),
        true,
      );
      assertEquals(modeOf(`${root}/ro`), mode);
    }
    const after = Deno.lstatSync(`${root}/ro`);
    assertEquals(after.ino, before.ino);
    assertEquals(after.mtime, before.mtime);
    assertEquals(Deno.readTextFileSync(`${root}/ro`), "x");
    // Another file put in its place since the status was taken: untouched.
    Deno.writeTextFileSync(`${root}/other`, "y");
    Deno.chmodSync(`${root}/other`, 0o644);
    Deno.renameSync(`${root}/other`, `${root}/ro`);
    assertEquals(applyFileMode(root, entry("ro", 0o600), before), false);
    assertEquals(modeOf(`${root}/ro`), 0o644);
    // A link at the name: refused, and its target left alone.
    Deno.writeTextFileSync(`${root}/target`, "t");
    Deno.chmodSync(`${root}/target`, 0o644);
    const target = Deno.lstatSync(`${root}/target`);
    Deno.symlinkSync("target", `${root}/link`);
    for (const where of [root, tree]) {
      if (!where) continue;
      assertEquals(applyFileMode(where, entry("link", 0o600), target), false);
    }
    assertEquals(modeOf(`${root}/target`), 0o644);
    // Missing: false.
    assertEquals(applyFileMode(root, entry("gone", 0o600), target), false);
  } finally {
    tree?.close();
    Deno.removeSync(root, { recursive: true });
  }
});
