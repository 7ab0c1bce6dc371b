import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { copyFileAtomic } from "./copy_file.ts";
import { EntryConflictError } from "./_replace.ts";

const entry = (path: string, size: number, mode = 0o644): FileEntry => ({
  path,
  kind: "file",
  size,
  mtimeMs: 1_500_000_000_000,
  mode,
});

Deno.test("copyFileAtomic replaces a link without following it; mode and mtime applied", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${root}/target`, "keep");
    Deno.symlinkSync("target", `${root}/l2`);
    Deno.writeTextFileSync(`${root}/src`, "copied");
    Deno.chmodSync(`${root}/src`, 0o640);
    copyFileAtomic(`${root}/src`, root, entry("l2", 6, 0o640));
    assertEquals(Deno.readTextFileSync(`${root}/target`), "keep");
    assertEquals(Deno.lstatSync(`${root}/l2`).isFile, true);
    assertEquals(Deno.readTextFileSync(`${root}/l2`), "copied");
    const info = Deno.statSync(`${root}/l2`);
    assertEquals([info.mode! & 0o777, info.mtime!.getTime()], [
      0o640,
      1_500_000_000_000,
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("copyFileAtomic: big and small files, a missing parent made, a directory in the way refused", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    Deno.writeFileSync(`${root}/big`, big);
    copyFileAtomic(`${root}/big`, root, entry("a/b/big", big.length));
    assertEquals(Deno.readFileSync(`${root}/a/b/big`), big);
    Deno.mkdirSync(`${root}/dir`);
    assertThrows(
      () => copyFileAtomic(`${root}/big`, root, entry("dir", big.length)),
      EntryConflictError,
    );
    assertEquals(
      [...Deno.readDirSync(root)].map((e) => e.name).sort(),
      ["a", "big", "dir"],
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
