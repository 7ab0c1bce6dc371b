import {
  assertEquals,
  assertMatch,
  assertThrows,
} from "../../tests/_assert.ts";
import {
  ContainedRoot,
  ContainmentError,
  openForRead,
} from "./contained_root.ts";
import { PathEscapeError } from "./safe_path.ts";
import { removeTree } from "./remove_tree.ts";

// ContainedRoot moves the process's working directory: every test puts it
// back, so other tests in this process never see it moved.
function tree(): { dir: string; module: string; outside: string } {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  const module = `${dir}/module`;
  const outside = `${dir}/outside`;
  Deno.mkdirSync(module);
  Deno.mkdirSync(outside);
  Deno.writeTextFileSync(`${outside}/secret`, "secret");
  return { dir, module, outside };
}

function withCwd(fn: () => void): void {
  const cwd = Deno.cwd();
  try {
    fn();
  } finally {
    Deno.chdir(cwd);
  }
}

Deno.test("ContainedRoot: names valid for the next call; parents made on request", () => {
  const { dir, module } = tree();
  withCwd(() => {
    const root = new ContainedRoot(module);
    Deno.writeTextFileSync(root.at("a/b/c.txt", { create: true }), "abc");
    assertEquals(Deno.readTextFileSync(`${module}/a/b/c.txt`), "abc");
    assertEquals(root.lstat("a/b/c.txt")?.size, 3);
    assertEquals(root.lstat("a/missing/x"), undefined);
    assertEquals(root.lstat("a/b/c.txt/below"), undefined);
    assertEquals(root.dir("a/b"), ".");
    assertEquals([...Deno.readDirSync(".")].map((e) => e.name), ["c.txt"]);
    using file = root.openRead("a/b/c.txt");
    assertEquals(file.statSync().size, 3);
    assertThrows(() => root.at("../x"), PathEscapeError, /contains '\.\.'/);
    assertThrows(() => root.at("a/missing/x"), Deno.errors.NotFound);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ContainedRoot: a symlinked directory on the way is refused, wherever it points", () => {
  const { dir, module, outside } = tree();
  Deno.symlinkSync(outside, `${module}/out`);
  Deno.mkdirSync(`${module}/real`);
  Deno.symlinkSync("real", `${module}/in`);
  withCwd(() => {
    const root = new ContainedRoot(module);
    for (const path of ["out/secret", "out/new", "in/x"]) {
      assertThrows(
        () => root.at(path, { create: true }),
        PathEscapeError,
        /goes through a symlink/,
      );
    }
    assertThrows(() => root.dir("out"), PathEscapeError, /"out"/);
    // The link itself is a name like any other: lstat, never followed.
    assertEquals(root.lstat("out")?.isSymlink, true);
    assertThrows(
      () => root.openRead("out"),
      ContainmentError,
      /"out" is no longer a regular file/,
    );
    assertThrows(
      () => new ContainedRoot(module, "out").pin({ create: true }),
      PathEscapeError,
    );
  });
  assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["secret"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ContainedRoot: a pinned session directory swapped for another fails every later call", async () => {
  const { dir, module, outside } = tree();
  const cwd = Deno.cwd();
  try {
    const session = new ContainedRoot(module, "x");
    session.pin({ create: true });
    Deno.writeTextFileSync(session.at("one", { create: true }), "1");
    // Clients act between event-loop turns: the swap lands in a later one.
    await new Promise((r) => setTimeout(r, 0));
    // Swapped for a new directory: same name, another inode.
    Deno.removeSync(`${module}/x`, { recursive: true });
    Deno.mkdirSync(`${module}/x`);
    assertThrows(
      () => session.at("two", { create: true }),
      ContainmentError,
      /"x" was replaced during the transfer/,
    );
    // Swapped for a link leading out.
    Deno.removeSync(`${module}/x`);
    Deno.symlinkSync(outside, `${module}/x`);
    assertThrows(
      () => session.at("two", { create: true }),
      PathEscapeError,
      /goes through a symlink/,
    );
    assertThrows(() => session.verify(), PathEscapeError);
  } finally {
    Deno.chdir(cwd);
  }
  assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["secret"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ContainedRoot: the module directory replaced or gone fails with a path-free message", () => {
  const { dir, module } = tree();
  withCwd(() => {
    const root = new ContainedRoot(module);
    Deno.renameSync(module, `${dir}/moved`);
    const error = assertThrows(
      () => root.at("a"),
      ContainmentError,
      /^The module directory is missing; nothing was read or written/,
    );
    assertEquals(error.message.includes(dir), false);
    Deno.mkdirSync(module);
    assertThrows(() => root.at("a"), ContainmentError, /was replaced/);
  });
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("ContainedRoot: the working-directory cache does not outlive the event-loop turn", async () => {
  const { dir, module, outside } = tree();
  const cwd = Deno.cwd();
  try {
    Deno.mkdirSync(`${module}/x`);
    const root = new ContainedRoot(module);
    Deno.writeTextFileSync(root.at("x/a"), "a");
    // A later turn of the event loop: the walk must run again.
    await new Promise((r) => setTimeout(r, 0));
    Deno.removeSync(`${module}/x`, { recursive: true });
    Deno.symlinkSync(outside, `${module}/x`);
    assertThrows(() => root.at("x/b"), PathEscapeError);
  } finally {
    Deno.chdir(cwd);
  }
  assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["secret"]);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("removeTree on the walk tree: never follows a link, counts exactly, keeps the root", () => {
  const { dir, module, outside } = tree();
  Deno.mkdirSync(`${module}/d/sub`, { recursive: true });
  Deno.writeTextFileSync(`${module}/d/sub/f`, "f");
  Deno.writeTextFileSync(`${module}/d/g`, "g");
  Deno.symlinkSync(outside, `${module}/d/out`);
  Deno.symlinkSync(`${outside}/secret`, `${module}/top-link`);
  withCwd(() => {
    const root = new ContainedRoot(module);
    assertEquals(removeTree(root, "d", { dryRun: true }), {
      files: 3,
      dirs: 2,
    });
    assertEquals(Deno.lstatSync(`${module}/d/out`).isSymlink, true);
    assertEquals(removeTree(root, "top-link"), { files: 1, dirs: 0 });
    assertEquals(removeTree(root, "d"), { files: 3, dirs: 2 });
    assertEquals(removeTree(root, "missing"), { files: 0, dirs: 0 });
    Deno.writeTextFileSync(`${module}/last`, "");
    assertEquals(removeTree(root, ""), { files: 1, dirs: 0 });
  });
  assertEquals([...Deno.readDirSync(module)], []);
  assertEquals(Deno.readTextFileSync(`${outside}/secret`), "secret");
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("openForRead: a string root opens by path; a contained one checks the handle", () => {
  const { dir, module, outside } = tree();
  Deno.writeTextFileSync(`${module}/f`, "ff");
  Deno.symlinkSync(`${outside}/secret`, `${module}/l`);
  withCwd(() => {
    const plain = openForRead(module, "f");
    assertEquals(plain.statSync().size, 2);
    const root = new ContainedRoot(module);
    const checked = openForRead(root, "f");
    assertEquals(checked.statSync().size, 2);
    plain.close();
    checked.close();
    const error = assertThrows(() => openForRead(root, "l"), ContainmentError);
    assertMatch(error.message, /^"l" is no longer a regular file/);
  });
  Deno.removeSync(dir, { recursive: true });
});
