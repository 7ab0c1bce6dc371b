import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { PathTree, treeOf } from "./path_tree.ts";
import { PathEscapeError } from "./safe_path.ts";

Deno.test("PathTree: a link made during the run is never written through, even where a directory was checked", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-pt-" }));
  const root = `${dir}/root`;
  Deno.mkdirSync(`${root}/d`, { recursive: true });
  Deno.mkdirSync(`${dir}/outside`);
  const tree = new PathTree(root);
  try {
    tree.createFile("d/a", 0o644).close(); // d checked and remembered
    tree.remove("d/a");
    tree.remove("d");
    tree.symlink(`${dir}/outside`, "d"); // a hostile peer's link entry
    assertThrows(() => tree.createFile("d/b", 0o644), PathEscapeError);
    assertEquals([...Deno.readDirSync(`${dir}/outside`)], []);
    assertEquals(tree.lstat("d")?.isSymlink, true);
    assertEquals(treeOf(root).containment, "local");
    assertEquals(treeOf(tree), tree);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
