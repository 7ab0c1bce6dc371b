import {
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../tests/_assert.ts";
import { KernelTree } from "./kernel_tree.ts";
import { PathEscapeError } from "./safe_path.ts";
import { ContainmentError } from "./tree.ts";

const linux = Deno.build.os === "linux";

function setup(): { dir: string; module: string; outside: string } {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-kt-" }));
  const module = `${dir}/module`;
  const outside = `${dir}/outside`;
  Deno.mkdirSync(`${module}/a`, { recursive: true });
  Deno.mkdirSync(outside);
  Deno.writeTextFileSync(`${outside}/secret`, "secret");
  Deno.chmodSync(`${outside}/secret`, 0o600);
  Deno.writeTextFileSync(`${module}/a/f`, "inside");
  Deno.symlinkSync(outside, `${module}/out`);
  Deno.symlinkSync(`${outside}/secret`, `${module}/a/lnk`);
  return { dir, module, outside };
}

Deno.test({
  name: "KernelTree: names never resolve through a link or above the top",
  ignore: !linux,
  fn() {
    const { dir, module } = setup();
    const tree = KernelTree.open(module)!;
    try {
      assertEquals(tree.lstat("a/f")?.size, 6);
      assertEquals(tree.lstat("out")?.isSymlink, true);
      assertEquals(tree.lstat("missing/x"), undefined);
      // Through a link: refused, never followed (no "secret" seen).
      assertThrows(() => tree.lstat("out/secret"), PathEscapeError, /symlink/);
      assertThrows(() => tree.readDir("out"), PathEscapeError, /symlink/);
      assertThrows(() => tree.createFile("out/new", 0o644), PathEscapeError);
      assertThrows(() => tree.mkdirs("out/d"), PathEscapeError);
      assertThrows(() => tree.lstat("../module"), PathEscapeError, /'\.\.'/);
      // A final link is acted on as a link: read refused, removed as a link.
      assertThrows(
        () => tree.openRead("a/lnk"),
        ContainmentError,
        /is no longer a regular file/,
      );
      assertEquals(tree.readLink("a/lnk").endsWith("/outside/secret"), true);
      tree.remove("a/lnk");
      assertEquals(Deno.readTextFileSync(`${dir}/outside/secret`), "secret");
      assertEquals(tree.readDir("a").sort(), ["f"]);
    } finally {
      tree.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "KernelTree: files are created O_EXCL, moded and timed on the descriptor, renamed, removed",
  ignore: !linux,
  fn() {
    const { dir, module, outside } = setup();
    const tree = KernelTree.open(module)!;
    try {
      tree.mkdirs("x/y");
      const file = tree.createFile("x/y/.t.tmp", 0o600);
      file.writeSync(new TextEncoder().encode("hello"));
      file.chmodSync(0o640);
      file.utimeSync(1_700_000_000_123);
      assertEquals(file.statSync().size, 5);
      file.close();
      tree.rename("x/y/.t.tmp", "x/y/t");
      const info = Deno.lstatSync(`${module}/x/y/t`);
      assertEquals(info.mode! & 0o777, 0o640);
      assertEquals(info.mtime!.getTime(), 1_700_000_000_123);
      // An existing name (even a link) is never opened by a create.
      Deno.symlinkSync(`${outside}/secret`, `${module}/x/planted`);
      assertThrows(
        () => tree.createFile("x/planted", 0o777),
        Deno.errors.AlreadyExists,
      );
      assertEquals(Deno.statSync(`${outside}/secret`).mode! & 0o777, 0o600);
      tree.setDirAttrs("x/y", { mode: 0o700, mtimeMs: 1_000 });
      assertEquals(Deno.statSync(`${module}/x/y`).mtime!.getTime(), 1_000);
      tree.symlink("t", "x/y/l");
      assertEquals(Deno.readLinkSync(`${module}/x/y/l`), "t");
      tree.remove("x/y/l");
      tree.remove("x/y/t");
      tree.remove("x/y");
      assertEquals(tree.lstat("x/y"), undefined);
    } finally {
      tree.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "KernelTree: a FIFO or a hard-linked file is refused without blocking",
  ignore: !linux,
  fn() {
    const { dir, module } = setup();
    const mk = new Deno.Command("mkfifo", { args: [`${module}/fifo`] })
      .outputSync();
    assertEquals(mk.code, 0);
    Deno.linkSync(`${module}/a/f`, `${module}/hard`);
    const tree = KernelTree.open(module)!;
    try {
      assertThrows(
        () => tree.openRead("fifo"),
        ContainmentError,
        /is no longer a regular file/,
      );
      assertThrows(() => tree.openWrite("fifo"), ContainmentError);
      assertThrows(
        () => tree.openWrite("hard"),
        ContainmentError,
        /hard links/,
      );
      // Reading a hard-linked file is fine (it is a regular file here).
      const handle = tree.openRead("hard");
      const buf = new Uint8Array(16);
      assertEquals(handle.readSync(buf), 6);
      assertEquals(handle.readSync(buf), null);
      handle.close();
    } finally {
      tree.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "KernelTree: a pinned top keeps every call beneath it; a replaced one is reported",
  ignore: !linux,
  fn() {
    const { dir, module, outside } = setup();
    const tree = KernelTree.open(module)!;
    const session = tree.sub("s/t");
    try {
      session.pin({ create: true });
      assertEquals(Deno.statSync(`${module}/s/t`).isDirectory, true);
      session.mkdirs("d");
      // The session directory is swapped for a link out: nothing goes there.
      Deno.renameSync(`${module}/s/t`, `${dir}/moved`);
      Deno.symlinkSync(outside, `${module}/s/t`);
      assertThrows(() => session.verify(), PathEscapeError, /symlink/);
      // The next call checks the top first: refused, nothing written in the
      // moved directory or through the link.
      assertThrows(
        () => session.createFile("d/new", 0o644),
        PathEscapeError,
        /symlink/,
      );
      assertEquals([...Deno.readDirSync(`${dir}/moved/d`)], []);
      assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), [
        "secret",
      ]);
      // Gone altogether: the error says so.
      Deno.removeSync(`${dir}/moved`, { recursive: true });
      const error = assertThrows(() => session.createFile("x", 0o644), Error);
      assertMatch(String(error), /symlink|replaced/);
    } finally {
      session.close();
      tree.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "KernelTree: no descriptor is left open after close",
  ignore: !linux,
  fn() {
    const { dir, module } = setup();
    // Only descriptors on this test's own tree: the suite runs other test
    // files in this process at the same time, opening and closing theirs.
    const fds = () =>
      [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`).startsWith(dir);
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    const before = fds();
    const tree = KernelTree.open(module)!;
    const sub = tree.sub("a");
    sub.pin();
    sub.lstat("f");
    sub.readDir("");
    tree.lstat("a/f");
    assertEquals(fds() > before, true, "the open tree holds descriptors");
    sub.close();
    tree.close();
    assertEquals(fds(), before);
    Deno.removeSync(dir, { recursive: true });
  },
});
