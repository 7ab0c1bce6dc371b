import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { hashBytes } from "./hash.ts";
import { NeedListStream } from "./need_list.ts";
import { PathEscapeError } from "./safe_path.ts";

function file(
  path: string,
  size: number,
  mtimeMs: number,
  hash?: Uint8Array,
): FileEntry {
  return { path, kind: "file", size, mtimeMs, mode: 0o644, hash };
}

async function run(dest: string, entries: FileEntry[], checksum = false) {
  const stage = new NeedListStream(dest, { checksum });
  const out = await Array.fromAsync(
    ReadableStream.from(entries).pipeThrough(stage),
  );
  return { paths: out.map((e) => e.path), skipped: stage.skipped };
}

Deno.test("NeedListStream: size, whole-second mtime, kind and link target decide", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeTextFileSync(`${dest}/same`, "abc");
  Deno.utimeSync(`${dest}/same`, 100, 100.4);
  Deno.writeTextFileSync(`${dest}/older`, "abc");
  Deno.utimeSync(`${dest}/older`, 100, 99);
  Deno.writeTextFileSync(`${dest}/bigger`, "abcd");
  Deno.mkdirSync(`${dest}/was-dir`);
  Deno.symlinkSync("t1", `${dest}/link`);
  Deno.mkdirSync(`${dest}/d`);
  const result = await run(dest, [
    file("same", 3, 100_900),
    file("older", 3, 100_000),
    file("bigger", 3, 100_000),
    file("missing", 1, 0),
    file("was-dir", 1, 0),
    {
      path: "link",
      kind: "symlink",
      size: 2,
      mtimeMs: 0,
      mode: 0o777,
      linkTarget: "t2",
    },
    { path: "d", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 },
    { path: "new", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 },
    file("new/inside", 1, 0),
  ]);
  assertEquals(result.paths, [
    "older",
    "bigger",
    "missing",
    "was-dir",
    "link",
    "d",
    "new",
    "new/inside",
  ]);
  assertEquals(result.skipped, 1);
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("NeedListStream: checksum compares content when sizes match", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeTextFileSync(`${dest}/a`, "abc");
  Deno.writeTextFileSync(`${dest}/b`, "abc");
  const enc = new TextEncoder();
  const result = await run(dest, [
    file("a", 3, 0, await hashBytes(enc.encode("abc"))),
    file("b", 3, 0, await hashBytes(enc.encode("abd"))),
  ], true);
  assertEquals(result.paths, ["b"]);
  assertEquals(result.skipped, 1);
  Deno.removeSync(dest, { recursive: true });
});

Deno.test("NeedListStream: hostile paths error the stream", async () => {
  const dest = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.symlinkSync("/etc", `${dest}/evil`);
  await assertRejects(
    () => run(dest, [file("../x", 1, 0)]),
    PathEscapeError,
    /contains '\.\.'/,
  );
  await assertRejects(
    () => run(dest, [file("evil/passwd", 1, 0)]),
    PathEscapeError,
    /leaves the module/,
  );
  Deno.removeSync(dest, { recursive: true });
});
