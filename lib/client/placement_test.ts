import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  dirname,
  ensureDirectory,
  NotADirectoryError,
  placeLocal,
  sourceIsDirectory,
  SourceNotFoundError,
} from "./placement.ts";

Deno.test("placeLocal: a tree goes into the destination; a file into an existing directory or one named with a slash, else to the new name", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    assertEquals(placeLocal(`${dir}/x`, true, "src"), { root: `${dir}/x` });
    assertEquals(placeLocal(dir, false, "a.txt"), { root: dir, name: "a.txt" });
    assertEquals(placeLocal(`${dir}/new/`, false, "a.txt"), {
      root: `${dir}/new/`,
      name: "a.txt",
    });
    assertEquals(placeLocal(`${dir}/b.txt`, false, "a.txt"), {
      root: dir,
      name: "b.txt",
    });
    assertEquals([dirname("a/b"), dirname("a")], ["a", "."]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sourceIsDirectory and ensureDirectory: a missing source, a file where a directory must be", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "");
    assertEquals([sourceIsDirectory(dir), sourceIsDirectory(`${dir}/f`)], [
      true,
      false,
    ]);
    assertThrows(() => sourceIsDirectory(`${dir}/none`), SourceNotFoundError);
    ensureDirectory(`${dir}/made/deep`);
    assertEquals(Deno.statSync(`${dir}/made/deep`).isDirectory, true);
    assertThrows(() => ensureDirectory(`${dir}/f`), NotADirectoryError);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
