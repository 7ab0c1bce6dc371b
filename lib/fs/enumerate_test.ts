import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { entryFromPath, enumerate } from "./enumerate.ts";

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
