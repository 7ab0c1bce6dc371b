import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { AT, cString, loadLibc, O } from "./_libc.ts";
import { PathEscapeError } from "./safe_path.ts";
import {
  BENEATH,
  listDir,
  mkdirsBeneath,
  readLinkAt,
  removeAt,
  resolveError,
} from "./_kernel_ops.ts";

Deno.test("kernel ops beneath a directory handle: list, make levels, read a link, remove; a climb or a link is a PathEscapeError", () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const top = libc.openat2(
      AT.FDCWD,
      cString(dir),
      O.PATH | O.DIRECTORY,
      0,
      0,
    );
    mkdirsBeneath(libc, top, "a/b/c");
    assertEquals(Deno.statSync(`${dir}/a/b/c`).isDirectory, true);
    Deno.symlinkSync("/etc", `${dir}/a/l`);
    assertThrows(
      () => mkdirsBeneath(libc, top, "a/l/x"),
      PathEscapeError,
      /goes through a symlink/,
    );
    const a = libc.openat2(
      top,
      cString("a"),
      O.RDONLY | O.DIRECTORY,
      0,
      BENEATH,
    );
    assertEquals(listDir(libc, a, "a").sort(), ["b", "l"]);
    assertEquals(readLinkAt(libc, a, cString("l"), "a/l"), "/etc");
    removeAt(libc, a, cString("l"), "a/l");
    libc.fn.close(a);
    assertEquals([...Deno.readDirSync(`${dir}/a`)].map((e) => e.name), ["b"]);
    assertEquals(
      resolveError("open", "x", 18) instanceof PathEscapeError,
      true,
    );
    libc.fn.close(top);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
