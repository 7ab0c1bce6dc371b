import { assertEquals } from "../../tests/_assert.ts";
import { AT, cString, ERRNO, loadLibc, O, RESOLVE } from "./_libc.ts";

Deno.test("libc's openat2 beneath a directory: a name inside opens; a link or a climb out is refused by the kernel", () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI: the walk fallback is used there
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    Deno.symlinkSync("/etc", `${dir}/l`);
    const top = libc.openat2(
      AT.FDCWD,
      cString(dir),
      O.RDONLY | O.DIRECTORY,
      0,
      0,
    );
    assertEquals(top >= 0, true);
    const beneath = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS;
    const f = libc.openat2(top, cString("f"), O.RDONLY, 0, beneath);
    assertEquals(f >= 0, true);
    libc.fn.close(f);
    assertEquals(
      libc.openat2(top, cString("l/passwd"), O.RDONLY, 0, beneath),
      -ERRNO.ELOOP,
    );
    assertEquals(
      libc.openat2(top, cString("../x"), O.RDONLY, 0, beneath),
      -ERRNO.EXDEV,
    );
    const info = libc.statx(top, cString("f"), AT.SYMLINK_NOFOLLOW);
    assertEquals(typeof info === "object" && [info.isFile, info.size], [
      true,
      1,
    ]);
    libc.fn.close(top);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
