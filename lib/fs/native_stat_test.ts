import { assertEquals } from "../../tests/_assert.ts";
import { ContainedRoot } from "./contained_root.ts";
import { loadLibc } from "./_libc.ts";
import {
  loadNativeStat,
  mtimeMsOf,
  type NativeStat,
  nativeStatOn,
} from "./native_stat.ts";

const linux = Deno.build.os === "linux";

for (
  const [binding, make] of [
    ["loaded", () => loadNativeStat()],
    ["over the shared libc", () => nativeStatOn(loadLibc())],
    ["over a binding of its own", () => nativeStatOn(undefined)],
  ] as const
) {
  Deno.test({
    name:
      `native lstat (${binding}): the same answers as Deno's, relative names stay relative`,
    ignore: !linux,
    fn: () => sameAsDeno(make()),
  });
}

Deno.test({
  name: "native utimens sets the time to the nanosecond, a link's own too",
  ignore: !linux,
  fn() {
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    try {
      Deno.writeTextFileSync(`${root}/f`, "x");
      Deno.symlinkSync("f", `${root}/l`);
      for (
        const native of [nativeStatOn(loadLibc()), nativeStatOn(undefined)]
      ) {
        native.utimens(`${root}/f`, 1_600_000_000_123, 456_789, false);
        native.utimens(`${root}/l`, 1_500_000_000_001, 2, true);
        const f = native.lstat(`${root}/f`) as Deno.FileInfo & {
          mtimeNs: number;
        };
        const l = native.lstat(`${root}/l`) as Deno.FileInfo & {
          mtimeNs: number;
        };
        assertEquals([f.mtime?.getTime(), f.mtimeNs], [
          1_600_000_000_123,
          456_789,
        ]);
        assertEquals([l.mtime?.getTime(), l.mtimeNs], [1_500_000_000_001, 2]);
        let error = "";
        try {
          native.utimens(`${root}/missing`, 0, 0, false);
        } catch (e) {
          error = String(e);
        }
        assertEquals(
          error,
          `SyscallError: utimensat "${root}/missing" failed: no such file or directory (ENOENT, errno 2)`,
        );
      }
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

function sameAsDeno(native: NativeStat | undefined): void {
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
      // The number beside the Date, and what reads either kind of stat.
      assertEquals(
        (mine as { mtimeMs?: number }).mtimeMs,
        deno.mtime?.getTime(),
        name,
      );
      assertEquals(mtimeMsOf(mine), mtimeMsOf(deno), name);
      assertEquals(mtimeMsOf(deno), deno.mtime!.getTime(), name);
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
}
