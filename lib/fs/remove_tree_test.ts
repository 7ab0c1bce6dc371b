import { assertEquals } from "../../tests/_assert.ts";
import { removeTree } from "./remove_tree.ts";
import { PathTree } from "./path_tree.ts";
import { KernelTree } from "./kernel_tree.ts";

for (const kind of ["path", "kernel"] as const) {
  Deno.test({
    name:
      `removeTree (${kind} tree): depth first, links unlinked not followed, exact counts, the top kept`,
    ignore: kind === "kernel" && Deno.build.os !== "linux",
    fn() {
      const dir = Deno.realPathSync(
        Deno.makeTempDirSync({ prefix: "blit-rt-" }),
      );
      const root = `${dir}/root`;
      Deno.mkdirSync(`${root}/d/e`, { recursive: true });
      Deno.mkdirSync(`${dir}/outside`);
      Deno.writeTextFileSync(`${dir}/outside/keep`, "x");
      Deno.writeTextFileSync(`${root}/d/a`, "");
      Deno.writeTextFileSync(`${root}/d/e/b`, "");
      Deno.symlinkSync(`${dir}/outside`, `${root}/d/link`);
      Deno.writeTextFileSync(`${root}/top`, "");
      const tree = kind === "path"
        ? new PathTree(root)
        : KernelTree.open(root)!;
      try {
        const seen: string[] = [];
        assertEquals(removeTree(tree, "d", { dryRun: true }), {
          files: 3,
          dirs: 2,
        });
        assertEquals(Deno.statSync(`${root}/d/e/b`).isFile, true);
        assertEquals(
          removeTree(tree, "d", { onFile: (rel) => seen.push(rel) }),
          { files: 3, dirs: 2 },
        );
        assertEquals(seen.sort(), ["d/a", "d/e/b", "d/link"]);
        assertEquals(removeTree(tree, "missing"), { files: 0, dirs: 0 });
        assertEquals(removeTree(tree, ""), { files: 1, dirs: 0 });
        assertEquals([...Deno.readDirSync(root)], []);
        assertEquals(Deno.readTextFileSync(`${dir}/outside/keep`), "x");
      } finally {
        tree.close();
        Deno.removeSync(dir, { recursive: true });
      }
    },
  });
}
