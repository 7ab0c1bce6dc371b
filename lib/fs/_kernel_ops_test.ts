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

Deno.test("listDir: a directory longer than one getdents64 buffer, then a short one, each listed whole (the buffer is shared)", () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    // ~3,000 names of ~40 bytes: ~150 KB of entries, three buffers' worth.
    const many = Array.from(
      { length: 3000 },
      (_, i) => `${String(i).padStart(5, "0")}-${"n".repeat(30)}`,
    );
    Deno.mkdirSync(`${dir}/many`);
    Deno.mkdirSync(`${dir}/few`);
    for (const name of many) Deno.writeTextFileSync(`${dir}/many/${name}`, "");
    Deno.writeTextFileSync(`${dir}/few/only`, "");
    const open = (rel: string) =>
      libc.openat2(
        AT.FDCWD,
        cString(`${dir}/${rel}`),
        O.RDONLY | O.DIRECTORY,
        0,
        0,
      );
    for (let round = 0; round < 2; round++) {
      const a = open("many");
      assertEquals(listDir(libc, a, "many").sort(), many);
      libc.fn.close(a);
      const b = open("few");
      assertEquals(listDir(libc, b, "few"), ["only"]);
      libc.fn.close(b);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
