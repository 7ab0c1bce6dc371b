import { assertEquals } from "../../tests/_assert.ts";
import { ContainedRoot } from "./contained_root.ts";
import { loadNativeStat } from "./native_stat.ts";

const linux = Deno.build.os === "linux";

Deno.test({
  name:
    "native lstat: the same answers as Deno's, relative names stay relative",
  ignore: !linux,
  fn() {
    const native = loadNativeStat();
    if (!native) throw new Error("should load on Linux with --allow-all");
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    const cwd = Deno.cwd();
    try {
      Deno.writeTextFileSync(`${root}/f`, "hello");
      Deno.utimeSync(`${root}/f`, 1_600_000_000.25, 1_600_000_000.5);
      Deno.chmodSync(`${root}/f`, 0o640);
      Deno.mkdirSync(`${root}/d`);
      Deno.symlinkSync("f", `${root}/l`);
      for (const name of ["f", "d", "l"]) {
        const mine = native.lstat(`${root}/${name}`)!;
        const deno = Deno.lstatSync(`${root}/${name}`);
        for (
          const key of [
            "isFile",
            "isDirectory",
            "isSymlink",
            "size",
            "mode",
            "ino",
            "dev",
            "nlink",
            "uid",
            "gid",
            "rdev",
            "blksize",
            "blocks",
          ] as const
        ) {
          assertEquals(mine[key], deno[key], `${name}.${key}`);
        }
        assertEquals(mine.mtime?.getTime(), deno.mtime?.getTime(), name);
        assertEquals(mine.birthtime?.getTime(), deno.birthtime?.getTime());
        assertEquals(mine.atime?.getTime(), deno.atime?.getTime(), name);
        // Deno's ctime has whole seconds here; ours the milliseconds too.
        assertEquals(
          Math.floor(mine.ctime!.getTime() / 1000),
          Math.floor(deno.ctime!.getTime() / 1000),
        );
      }
      assertEquals(native.lstat(`${root}/missing`), undefined);
      assertEquals(native.lstat(`${root}/f/under-a-file`), undefined);
      // Relative to the working directory, not to a path string.
      Deno.chdir(root);
      assertEquals(native.lstat("f")?.size, 5);
      // Through a contained root: the link is a link, not followed.
      const contained = new ContainedRoot(root, "", { nativeStat: native });
      assertEquals(contained.lstat("l")?.isSymlink, true);
      assertEquals(contained.lstat("d")?.isDirectory, true);
      assertEquals(contained.lstat("nope/x"), undefined);
    } finally {
      Deno.chdir(cwd);
      Deno.removeSync(root, { recursive: true });
    }
  },
});
