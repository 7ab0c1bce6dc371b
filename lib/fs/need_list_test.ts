import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { hashBytes } from "./hash.ts";
import { NeedListStream } from "./need_list_stream.ts";
import { modeDiffers, NeedList } from "./need_list.ts";
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
  Deno.chmodSync(`${dest}/same`, 0o644); // the entries' mode, whatever the umask
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
  Deno.chmodSync(`${dest}/a`, 0o644); // the entries' mode, whatever the umask
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

Deno.test("NeedListStream: a link listed where a checked directory was is checked again (no lookups outside)", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const outside = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    Deno.writeTextFileSync(`${root}/d/x`, "local!");
    Deno.writeTextFileSync(`${outside}/x`, "12345");
    Deno.utimeSync(`${outside}/x`, 1_600_000_000, 1_600_000_000);
    const guess = {
      path: "d/x",
      kind: "file" as const,
      size: 5,
      mtimeMs: 1_600_000_000_000,
      mode: 0o644,
    };
    const stage = new NeedListStream(root);
    const writer = stage.writable.getWriter();
    const reader = stage.readable.getReader();
    // Writes resolve as the reader pulls: not awaited, the reads drive.
    const write = (entry: FileEntry) =>
      void writer.write(entry).catch(() => {});
    write({ path: "d", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 });
    assertEquals((await reader.read()).value?.path, "d");
    write(guess); // checks (and remembers) d
    assertEquals((await reader.read()).value?.path, "d/x");
    // What a receiver does with a hostile manifest's next entry: d becomes
    // a link out (already there, so that entry itself is up to date), then
    // d/x is asked about again.
    Deno.removeSync(`${root}/d`, { recursive: true });
    Deno.symlinkSync(outside, `${root}/d`);
    write({
      path: "d",
      kind: "symlink",
      size: 0,
      mtimeMs: 0,
      mode: 0o777,
      linkTarget: outside,
    });
    write(guess);
    await assertRejects(() => reader.read(), PathEscapeError);
    assertEquals(stage.skipped, 1);
  } finally {
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(outside, { recursive: true });
  }
});

Deno.test("NeedListStream: onEntry sees each entry first (it may rename it; its promise is waited for; its error errors the stream)", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${root}/same`, "x");
    Deno.chmodSync(`${root}/same`, 0o644); // the entries' mode, whatever the umask
    Deno.utimeSync(`${root}/same`, 1000, 1000);
    const seen: string[] = [];
    const stage = new NeedListStream(root, {
      onEntry: async (entry) => {
        seen.push(entry.path);
        await Promise.resolve();
        // Renamed to the file that is up to date: skipped.
        if (entry.path === "offered") entry.path = "same";
      },
    });
    const out = await Array.fromAsync(
      ReadableStream.from<FileEntry>([
        {
          path: "offered",
          kind: "file",
          size: 1,
          mtimeMs: 1000000,
          mode: 0o644,
        },
        { path: "new", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 },
      ]).pipeThrough(stage),
    );
    assertEquals(seen, ["offered", "new"]);
    assertEquals(out.map((e) => e.path), ["new"]);
    assertEquals(stage.skipped, 1);
    const failing = new NeedListStream(root, {
      onEntry: (entry) => {
        if (entry.path === "b") throw new RangeError("one entry only");
      },
    });
    await assertRejects(
      () =>
        Array.fromAsync(
          ReadableStream.from<FileEntry>([
            { path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 },
            { path: "b", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 },
          ]).pipeThrough(failing),
        ),
      RangeError,
      /^one entry only$/,
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("NeedListStream.take decides as the stream does, without it", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    Deno.writeTextFileSync(`${root}/d/same`, "x");
    Deno.chmodSync(`${root}/d/same`, 0o644); // whatever the umask
    Deno.utimeSync(`${root}/d/same`, 1000, 1000);
    Deno.writeTextFileSync(`${root}/d/other`, "xy");
    const entries = (): FileEntry[] => [
      { path: "d", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 },
      file("d/same", 1, 1000000),
      file("d/other", 1, 1000000),
      { path: "n", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 },
      file("n/new", 1, 0),
    ];
    const streamed = await run(root, entries());
    const stage = new NeedListStream(root);
    const taken: string[] = [];
    for (const entry of entries()) {
      const deciding = stage.take(entry, (e) => taken.push(e.path));
      if (deciding) await deciding;
    }
    assertEquals(taken, streamed.paths);
    assertEquals(taken, ["d", "d/other", "n", "n/new"]);
    assertEquals(stage.skipped, 1);
    assertEquals(stage.decided, 5);
    assertEquals(stage.passed, 4);
    // A hostile path is refused the same way.
    await assertRejects(
      async () => {
        await stage.take(file("../x", 1, 0), () => {});
      },
      PathEscapeError,
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("NeedList: a file up to date but for its mode goes to onModeOnly; passed on when it can't be given the mode there (or there is no onModeOnly)", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    for (const name of ["a", "b", "c", "d"]) {
      Deno.writeTextFileSync(`${root}/${name}`, "x");
      Deno.chmodSync(`${root}/${name}`, 0o644);
      Deno.utimeSync(`${root}/${name}`, 1000, 1000);
    }
    const entry = (path: string, mode: number): FileEntry => ({
      ...file(path, 1, 1000000),
      mode,
    });
    const seen: [string, number][] = [];
    const list = new NeedList(root, {
      onModeOnly: (e, info) => {
        seen.push([e.path, info.mode! & 0o7777]);
        return e.path !== "c";
      },
    });
    const passed: string[] = [];
    for (
      const e of [
        entry("a", 0o644), // the same mode: skipped, not asked
        entry("b", 0o600), // taken in place: skipped
        entry("c", 0o600), // refused: passed on
        { ...entry("d", 0o600), size: 2 }, // changed anyway: not asked
      ]
    ) await list.take(e, (p) => passed.push(p.path));
    assertEquals(seen, [["b", 0o644], ["c", 0o644]]);
    assertEquals(passed, ["c", "d"]);
    assertEquals([list.skipped, list.passed, list.decided], [2, 2, 4]);
    // Without the callback such a file is passed on (sent again).
    const plain = new NeedList(root);
    const sent: string[] = [];
    await plain.take(entry("b", 0o600), (p) => sent.push(p.path));
    assertEquals(sent, ["b"]);
    // Only regular files' bits are compared.
    const info = Deno.lstatSync(`${root}/a`);
    assertEquals(modeDiffers(info, entry("a", 0o644)), false);
    assertEquals(modeDiffers(info, entry("a", 0o4644)), true);
    assertEquals(modeDiffers(Deno.lstatSync(root), entry("a", 0o600)), false);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
