import { assertEquals } from "../../tests/_assert.ts";
import {
  findPartialCopy,
  holdPartial,
  partialKey,
  releasePartial,
} from "./partial_copies.ts";
import { treeOf } from "./path_tree.ts";

Deno.test("findPartialCopy: a plain partial copy is found; a link, a hard link or one this process writes is not", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    Deno.writeTextFileSync(`${root}/d/.big.blit-partial.tmp`, "abc");
    assertEquals(
      findPartialCopy(root, "d/big")?.rel,
      "d/.big.blit-partial.tmp",
    );
    assertEquals(findPartialCopy(root, "d/big")?.info.size, 3);
    assertEquals(findPartialCopy(root, "d/none"), undefined);
    assertEquals(findPartialCopy(root, "nodir/big"), undefined);
    const key = partialKey(treeOf(root), "d/big")!;
    holdPartial(key);
    assertEquals(findPartialCopy(root, "d/big"), undefined);
    releasePartial(key);
    Deno.linkSync(`${root}/d/.big.blit-partial.tmp`, `${root}/d/hard`);
    assertEquals(findPartialCopy(root, "d/big"), undefined);
    Deno.removeSync(`${root}/d/hard`);
    Deno.removeSync(`${root}/d/.big.blit-partial.tmp`);
    Deno.symlinkSync("/etc/passwd", `${root}/d/.big.blit-partial.tmp`);
    assertEquals(findPartialCopy(root, "d/big"), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
