import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { applyDir, applySymlink, setDirTimes } from "./apply_tree.ts";
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
