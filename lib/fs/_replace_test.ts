import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { treeOf } from "./path_tree.ts";
import {
  createIn,
  EntryConflictError,
  removeQuietly,
  renameInto,
  umask,
  writeAll,
} from "./_replace.ts";

Deno.test("createIn makes a missing parent; renameInto puts the file in place", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const tree = treeOf(root);
    const handle = createIn(tree, "a/b/.t.tmp", 0o600);
    writeAll(handle, new TextEncoder().encode("hi"));
    handle.close();
    renameInto(tree, "a/b/.t.tmp", "a/b/t");
    assertEquals(Deno.readTextFileSync(`${root}/a/b/t`), "hi");
    assertEquals([...Deno.readDirSync(`${root}/a/b`)].map((e) => e.name), [
      "t",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("renameInto over a directory is a conflict; removeQuietly then clears the temp file, twice without a word", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const tree = treeOf(root);
    Deno.mkdirSync(`${root}/a/dir/inner`, { recursive: true });
    createIn(tree, "a/.u.tmp", 0o600).close();
    assertThrows(
      () => renameInto(tree, "a/.u.tmp", "a/dir"),
      EntryConflictError,
      /^Cannot replace directory "a\/dir" with a file; delete it first or use --mirror$/,
    );
    removeQuietly(tree, "a/.u.tmp");
    removeQuietly(tree, "a/.u.tmp");
    assertEquals([...Deno.readDirSync(`${root}/a`)].map((e) => e.name), [
      "dir",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("umask is the process's, a permission mask", () => {
  assertEquals(umask() >= 0 && umask() <= 0o777, true);
});
