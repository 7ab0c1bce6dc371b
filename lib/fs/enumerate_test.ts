import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { entryFromPath, enumerate, walkEntries } from "./enumerate.ts";
import { hashBytes } from "./hash.ts";
import { PathEscapeError } from "./safe_path.ts";
import { PathTree } from "./path_tree.ts";
import type { Tree } from "./tree.ts";

function tree(): string {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${root}/b/empty`, { recursive: true });
  Deno.writeTextFileSync(`${root}/b/z.txt`, "zz");
  Deno.writeTextFileSync(`${root}/a.log`, "a");
  Deno.writeTextFileSync(`${root}/é.txt`, "e");
  Deno.writeTextFileSync(`${root}/x.sh`, "#!", { mode: 0o755 });
  Deno.chmodSync(`${root}/x.sh`, 0o755);
  Deno.utimeSync(`${root}/x.sh`, 1000, 1234.5);
  Deno.symlinkSync("../outside", `${root}/link`);
  return root;
}

Deno.test("enumerate: depth-first, byte-ordered, every kind, root excluded", async () => {
  const root = tree();
  const entries = await Array.fromAsync(enumerate(root));
  assertEquals(entries.map((e) => `${e.kind}:${e.path}`), [
    "file:a.log",
    "dir:b",
    "dir:b/empty",
    "file:b/z.txt",
    "symlink:link",
    "file:x.sh",
    "file:é.txt",
  ]);
  const x = entries.find((e) => e.path === "x.sh")!;
  assertEquals([x.size, x.mode, x.mtimeMs], [2, 0o755, 1234500]);
  const link = entries.find((e) => e.path === "link")!;
  assertEquals([link.linkTarget, link.size], ["../outside", 10]);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("enumerate: excludes by name anywhere and by anchored path, not descending", async () => {
  const root = tree();
  const paths =
    (await Array.fromAsync(enumerate(root, { exclude: ["*.log", "/b"] }))).map((
      e,
    ) => e.path);
  assertEquals(paths, ["link", "x.sh", "é.txt"]);
  const named = (await Array.fromAsync(enumerate(root, { exclude: ["z.txt"] })))
    .map((e) => e.path);
  assertEquals(named.includes("b/z.txt"), false);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("enumerate: hashes files on request", async () => {
  const root = tree();
  const entries = await Array.fromAsync(enumerate(root, { hash: true }));
  assertEquals(
    entries.filter((e) => e.kind === "file").every((e) =>
      e.hash?.length === 16
    ),
    true,
  );
  assertEquals(
    entries.filter((e) => e.kind !== "file").every((e) => e.hash === undefined),
    true,
  );
  Deno.removeSync(root, { recursive: true });
});

Deno.test("enumerate: streams with bounded buffering and can be cancelled", async () => {
  const root = Deno.makeTempDirSync();
  for (let i = 0; i < 500; i++) Deno.writeTextFileSync(`${root}/f${i}`, "");
  const stream = enumerate(root, { highWaterMark: 8 });
  const reader = stream.getReader();
  const first = await reader.read();
  assertEquals(first.done, false);
  await reader.cancel();
  Deno.removeSync(root, { recursive: true });
});

Deno.test("enumerate: a missing root errors the stream with NotFound", async () => {
  let caught: unknown;
  try {
    await Array.fromAsync(enumerate("/definitely/not/here"));
  } catch (error) {
    caught = error;
  }
  assertEquals(caught instanceof Deno.errors.NotFound, true);
  assertThrows(
    () => enumerate("/tmp", { highWaterMark: 0 }),
    RangeError,
    /highWaterMark/,
  );
});

Deno.test("entryFromPath: lstat semantics", () => {
  const root = tree();
  assertEquals(entryFromPath(`${root}/link`, "l").kind, "symlink");
  assertEquals(entryFromPath(`${root}/b`, "b").kind, "dir");
  assertThrows(() => entryFromPath(`${root}/nope`, "n"), Deno.errors.NotFound);
  Deno.removeSync(root, { recursive: true });
});

/** `inner` with its directory handles counted: opened, and still open. */
function counting(
  inner: PathTree,
): { tree: Tree; opened: number; open: number } {
  const counts = { tree: undefined as unknown as Tree, opened: 0, open: 0 };
  counts.tree = new Proxy(inner, {
    get(target, prop) {
      if (prop === "openDir") {
        return (rel: string) => {
          const dir = target.openDir(rel);
          if (!dir) return dir;
          counts.opened++;
          counts.open++;
          let closed = false;
          return {
            names: dir.names,
            lstat: (name: string) => dir.lstat(name),
            close: () => {
              if (!closed) counts.open--;
              closed = true;
              dir.close();
            },
          };
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return counts;
}

Deno.test({
  name:
    "enumerate: directories are held open only while walked (done, cancelled, failed)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const root = Deno.realPathSync(Deno.makeTempDirSync());
    try {
      // Deeper than the walk keeps open: the deep levels go by path.
      let deep = root;
      const expected: string[] = [];
      let rel = "";
      for (let level = 0; level < 40; level++) {
        rel = rel === "" ? "d" : `${rel}/d`;
        deep = `${deep}/d`;
        Deno.mkdirSync(deep);
        Deno.writeTextFileSync(`${deep}/f`, String(level));
        expected.push(`dir:${rel}`, `file:${rel}/f`);
      }
      const done = counting(new PathTree(root));
      const all = await Array.fromAsync(enumerate(done.tree));
      assertEquals(
        all.map((e) => `${e.kind}:${e.path}`).sort(),
        expected.sort(),
      );
      assertEquals(all.find((e) => e.path === `${rel}/f`)?.size, 2);
      // The top and 31 levels under it held open; none left open.
      assertEquals(done.opened, 32);
      assertEquals(done.open, 0);
      // Cancelled deep inside.
      const cancelled = counting(new PathTree(root));
      const reader = enumerate(cancelled.tree, { highWaterMark: 1 })
        .getReader();
      for (let i = 0; i < 50; i++) await reader.read();
      assertEquals(cancelled.open > 0, true);
      await reader.cancel();
      assertEquals(cancelled.open, 0);
      // Failed: a directory that can't be listed ends the walk.
      Deno.chmodSync(`${root}/d/d/d`, 0o000);
      try {
        if (Deno.uid() !== 0) {
          const failed = counting(new PathTree(root));
          let caught: unknown;
          try {
            await Array.fromAsync(enumerate(failed.tree));
          } catch (error) {
            caught = error;
          }
          assertEquals(caught instanceof Deno.errors.PermissionDenied, true);
          assertEquals(failed.opened > 0, true);
          assertEquals(failed.open, 0);
        }
      } finally {
        Deno.chmodSync(`${root}/d/d/d`, 0o755);
      }
    } finally {
      Deno.removeSync(root, { recursive: true });
    }
  },
});

Deno.test("enumerate: a directory swapped for a link while walked is not walked through", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const outside = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/a`);
    Deno.writeTextFileSync(`${root}/a/mine`, "m");
    Deno.mkdirSync(`${root}/a/sub`);
    Deno.writeTextFileSync(`${root}/a/sub/deeper`, "d");
    Deno.writeTextFileSync(`${outside}/secret`, "s");
    Deno.mkdirSync(`${outside}/sub`);
    Deno.writeTextFileSync(`${outside}/sub/secret2`, "s");
    const counted = counting(new PathTree(root));
    const reader = enumerate(counted.tree, { highWaterMark: 1 }).getReader();
    const first = await reader.read();
    assertEquals(first.value?.path, "a");
    // The walk has "a" open; it becomes a link to somewhere else.
    Deno.renameSync(`${root}/a`, `${root}/moved`);
    Deno.symlinkSync(outside, `${root}/a`);
    const rest: string[] = [];
    let caught: unknown;
    try {
      for (let i = 0; i < 20; i++) {
        const next = await reader.read();
        if (next.done) break;
        rest.push(`${next.value.kind}:${next.value.path}`);
      }
    } catch (error) {
      caught = error;
    }
    // What "a" held when it was opened, never what the link points at;
    // "a/sub" is looked up by path again: through the link, refused.
    assertEquals(rest, ["file:a/mine", "dir:a/sub"]);
    assertEquals(caught instanceof PathEscapeError, true);
    // The failed walk let go of what it held.
    assertEquals(counted.opened, 2);
    assertEquals(counted.open, 0);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("walkEntries: what enumerate streams, without a stream; leaving early lets go of what is open", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    for (const d of ["a", "a/b", "c"]) Deno.mkdirSync(`${root}/${d}`);
    Deno.writeTextFileSync(`${root}/a/b/f`, "hello");
    Deno.writeTextFileSync(`${root}/a/g`, "x");
    Deno.writeTextFileSync(`${root}/c/skip.o`, "o");
    Deno.symlinkSync("a/g", `${root}/link`);
    const options = { exclude: ["*.o"], hash: true };
    const walked = await Array.fromAsync(walkEntries(root, options));
    assertEquals(walked, await Array.fromAsync(enumerate(root, options)));
    assertEquals(walked.map((e) => `${e.kind}:${e.path}`), [
      "dir:a",
      "dir:a/b",
      "file:a/b/f",
      "file:a/g",
      "dir:c",
      "symlink:link",
    ]);
    assertEquals(
      walked[2].hash?.join(),
      (await hashBytes(new TextEncoder().encode("hello"))).join(),
    );
    // Out after two entries ("a", "a/b": the root and both opened, each
    // before its entry was handed on): all three are closed.
    const left = counting(new PathTree(root));
    let n = 0;
    for await (const _ of walkEntries(left.tree)) if (++n === 2) break;
    assertEquals([left.opened, left.open], [3, 0]);
    // Run to the end: none left open either.
    const all = counting(new PathTree(root));
    assertEquals((await Array.fromAsync(walkEntries(all.tree))).length, 7);
    assertEquals(all.open, 0);
    // A missing root fails on the first step; bad options at once.
    await assertRejects(
      () => walkEntries(`${root}/missing`).next(),
      Deno.errors.NotFound,
    );
    assertEquals(
      assertThrows(() => walkEntries(root, { highWaterMark: 0 }), RangeError)
        .message,
      "highWaterMark must be a positive integer, got 0",
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
