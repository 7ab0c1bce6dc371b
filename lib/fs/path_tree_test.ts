import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { openLocalRead, PathTree, treeOf } from "./path_tree.ts";
import { KernelFile } from "./kernel_file.ts";
import { ContainmentError } from "./tree.ts";
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

Deno.test({
  name:
    "PathTree.openDir: names and single-name lstat through one handle, links as links",
  ignore: Deno.build.os !== "linux",
  fn() {
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    try {
      Deno.mkdirSync(`${root}/d`);
      Deno.writeTextFileSync(`${root}/d/f`, "hello");
      Deno.symlinkSync("/etc", `${root}/d/l`);
      Deno.symlinkSync(`${root}/d`, `${root}/ld`);
      const tree = new PathTree(root);
      const dir = tree.openDir("d");
      if (!dir) throw new Error("libc should be there with --allow-all");
      assertEquals([...dir.names].sort(), ["f", "l"]);
      assertEquals(dir.lstat("f")?.size, 5);
      assertEquals(
        dir.lstat("f")?.mtime?.getTime(),
        Deno.lstatSync(`${root}/d/f`).mtime?.getTime(),
      );
      assertEquals(dir.lstat("l")?.isSymlink, true);
      assertEquals(dir.lstat("gone"), undefined);
      assertThrows(() => dir.lstat("../d/f"), TypeError, /Not a single name/);
      assertThrows(() => dir.lstat(".."), TypeError, /Not a single name/);
      dir.close();
      dir.close();
      assertThrows(() => dir.lstat("f"), Error, /closed/);
      // A link where a directory is asked for is not opened.
      assertEquals(tree.openDir("ld"), undefined);
      assertEquals(tree.openDir("missing"), undefined);
      // The top the user named may itself be a link.
      const viaLink = new PathTree(`${root}/ld`).openDir("");
      assertEquals([...viaLink!.names].sort(), ["f", "l"]);
      viaLink!.close();
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("PathTree: files are created new only (never over a name or through a link), modes and times set on the open file", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const outside = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const tree = new PathTree(root);
    const file = tree.createFile("a", 0o600);
    file.writeSync(new TextEncoder().encode("hello"));
    file.chmodSync(0o4750);
    file.utimeSync(1_700_000_000_123, 456_789);
    assertEquals(file.statSync().size, 5);
    file.close();
    const info = Deno.lstatSync(`${root}/a`);
    assertEquals(info.mode! & 0o7777, 0o4750);
    assertEquals(info.mtime?.getTime(), 1_700_000_000_123);
    assertEquals(Deno.readTextFileSync(`${root}/a`), "hello");
    assertThrows(() => tree.createFile("a", 0o644), Deno.errors.AlreadyExists);
    Deno.symlinkSync(`${outside}/planted`, `${root}/l`);
    assertThrows(() => tree.createFile("l", 0o644), Deno.errors.AlreadyExists);
    assertEquals([...Deno.readDirSync(outside)].length, 0);
    assertThrows(
      () => tree.createFile("no/dir/f", 0o644),
      Deno.errors.NotFound,
    );
    // Renames replace files; a directory in the way is refused.
    tree.createFile("b", 0o644).close();
    tree.rename("b", "a");
    assertEquals(Deno.readTextFileSync(`${root}/a`), "");
    Deno.mkdirSync(`${root}/d/inner`, { recursive: true });
    assertThrows(() => tree.rename("a", "d"), Deno.errors.IsADirectory);
    assertEquals(Deno.lstatSync(`${root}/a`).isFile, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("openLocalRead: a regular file through libc; a link through Deno's open as before; a FIFO, a directory or a missing file refused at once", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "hello");
    const file = openLocalRead(`${dir}/f`);
    assertEquals(file instanceof KernelFile, true);
    const buf = new Uint8Array(16);
    assertEquals(file.readSync(buf), 5);
    assertEquals(new TextDecoder().decode(buf.subarray(0, 5)), "hello");
    assertEquals(file.readSync(buf), null);
    assertEquals(file.statSync().size, 5);
    file.close();
    // A link at the last name: libc refuses (O_NOFOLLOW), Deno's open
    // reads the target, as the sender always did.
    Deno.symlinkSync(`${dir}/f`, `${dir}/l`);
    const viaLink = openLocalRead(`${dir}/l`);
    assertEquals(viaLink instanceof KernelFile, false);
    assertEquals(viaLink.readSync(buf), 5);
    viaLink.close();
    // A FIFO: refused without blocking (Deno's open would wait for a
    // writer forever).
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${dir}/p`] })
      .output();
    assertEquals(mkfifo.code, 0);
    const fifo = assertThrows(
      () => openLocalRead(`${dir}/p`),
      ContainmentError,
    );
    assertEquals(
      fifo.message,
      `${
        JSON.stringify(`${dir}/p`)
      } is no longer a regular file; nothing was read or written through it`,
    );
    assertThrows(() => openLocalRead(dir), ContainmentError);
    const missing = assertThrows(
      () => openLocalRead(`${dir}/nope`),
      Deno.errors.NotFound,
    );
    assertEquals(missing.message.includes(`${dir}/nope`), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
