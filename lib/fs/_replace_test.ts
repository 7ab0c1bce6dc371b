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

Deno.test("createIn makes a missing parent; renameInto puts a file in place; a directory in the way is a conflict", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const tree = treeOf(root);
    const handle = createIn(tree, "a/b/.t.tmp", 0o600);
    writeAll(handle, new TextEncoder().encode("hi"));
    handle.close();
    renameInto(tree, "a/b/.t.tmp", "a/b/t");
    assertEquals(Deno.readTextFileSync(`${root}/a/b/t`), "hi");
    Deno.mkdirSync(`${root}/a/dir/inner`, { recursive: true });
    const other = createIn(tree, "a/.u.tmp", 0o600);
    other.close();
    assertThrows(
      () => renameInto(tree, "a/.u.tmp", "a/dir"),
      EntryConflictError,
      /^Cannot replace directory "a\/dir" with a file; delete it first or use --mirror$/,
    );
    removeQuietly(tree, "a/.u.tmp");
    removeQuietly(tree, "a/.u.tmp"); // already gone: quiet
    assertEquals([...Deno.readDirSync(`${root}/a`)].map((e) => e.name).sort(), [
      "b",
      "dir",
    ]);
    assertEquals(umask() >= 0 && umask() <= 0o777, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
