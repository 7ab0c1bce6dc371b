import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import {
  ensureDirectory,
  localCopy,
  NotADirectoryError,
  placeLocal,
  SourceNotFoundError,
} from "./local_copy.ts";

const MTIME_S = 1_600_000_000;

/** Every entry of a tree as one line: kind, path, mode, mtime s, content. */
function snapshot(root: string): string[] {
  const lines: string[] = [];
  const stack = [""];
  for (let guard = 0; stack.length > 0 && guard < 100_000; guard++) {
    const rel = stack.pop()!;
    const dir = rel === "" ? root : `${root}/${rel}`;
    for (const item of Deno.readDirSync(dir)) {
      const path = rel === "" ? item.name : `${rel}/${item.name}`;
      const abs = `${root}/${path}`;
      const info = Deno.lstatSync(abs);
      if (info.isSymlink) {
        lines.push(`link ${path} -> ${Deno.readLinkSync(abs)}`);
        continue;
      }
      const mode = (info.mode! & 0o7777).toString(8);
      const mtime = Math.floor(info.mtime!.getTime() / 1000);
      if (info.isDirectory) {
        lines.push(`dir ${path} ${mode} ${mtime}`);
        stack.push(path);
      } else {
        const text = Deno.readTextFileSync(abs);
        lines.push(`file ${path} ${mode} ${mtime} ${JSON.stringify(text)}`);
      }
    }
  }
  return lines.sort();
}

function write(path: string, text: string, mode = 0o644): void {
  Deno.writeTextFileSync(path, text);
  Deno.chmodSync(path, mode);
  Deno.utimeSync(path, MTIME_S, MTIME_S);
}

/** A small tree with every kind the contract promises to carry. */
function makeSource(root: string): void {
  Deno.mkdirSync(`${root}/nested/deeper`, { recursive: true });
  Deno.mkdirSync(`${root}/empty dir`);
  write(`${root}/café ü.txt`, "non-ascii name");
  write(`${root}/with space.txt`, "spaces");
  write(`${root}/nested/deeper/leaf.txt`, "leaf");
  write(`${root}/run.sh`, "#!/bin/sh\necho hi\n", 0o755);
  Deno.symlinkSync("café ü.txt", `${root}/link to café`);
  Deno.symlinkSync("../nowhere", `${root}/nested/dangling`);
  for (const dir of ["nested/deeper", "nested", "empty dir"]) {
    Deno.chmodSync(`${root}/${dir}`, 0o750);
    Deno.utimeSync(`${root}/${dir}`, MTIME_S - 60, MTIME_S - 60);
  }
}

function tempNames(root: string): string[] {
  return snapshot(root).filter((line) => line.includes(".blit-"));
}

function workspace(): { src: string; dst: string; work: string } {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${work}/src`);
  makeSource(`${work}/src`);
  return { work, src: `${work}/src`, dst: `${work}/dst` };
}

Deno.test("localCopy: an identical tree, then a second run copies nothing", async () => {
  const { work, src, dst } = workspace();
  for (const workers of [0, 2]) {
    const target = `${dst}-${workers}`;
    const first = await localCopy(src, target, { workers });
    assertEquals(first, {
      filesTransferred: 6,
      bytesTransferred: 14 + 6 + 4 + 18,
      filesDeleted: 0,
      filesSkipped: 0,
    });
    assertEquals(snapshot(target), snapshot(src));
    assertEquals(snapshot(target).length, 9);
    assertEquals(tempNames(target), []);
    const second = await localCopy(src, target, { workers });
    assertEquals(second, {
      filesTransferred: 0,
      bytesTransferred: 0,
      filesDeleted: 0,
      filesSkipped: 6,
    });
  }
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: a changed size or mtime is copied again; checksum sees content", async () => {
  const { work, src, dst } = workspace();
  await localCopy(src, dst);
  write(`${src}/with space.txt`, "spaces!");
  const bySize = await localCopy(src, dst);
  assertEquals([bySize.filesTransferred, bySize.filesSkipped], [1, 5]);
  // Same size and mtime, other bytes: only --checksum notices.
  write(`${dst}/run.sh`, "#!/bin/sh\necho HI\n", 0o755);
  const quick = await localCopy(src, dst);
  assertEquals([quick.filesTransferred, quick.filesSkipped], [0, 6]);
  const checked = await localCopy(src, dst, { checksum: true });
  assertEquals([checked.filesTransferred, checked.filesSkipped], [1, 5]);
  assertEquals(snapshot(dst), snapshot(src));
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: many files go through the worker pool intact", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  for (let d = 0; d < 3; d++) {
    Deno.mkdirSync(`${work}/src/d${d}`, { recursive: true });
    for (let i = 0; i < 150; i++) {
      write(`${work}/src/d${d}/f${i}.txt`, `file ${d}/${i}`);
    }
  }
  const stats = await localCopy(`${work}/src`, `${work}/dst`, { workers: 2 });
  assertEquals(stats.filesTransferred, 450);
  assertEquals(snapshot(`${work}/dst`), snapshot(`${work}/src`));
  write(`${work}/src/d1/f7.txt`, "changed");
  const again = await localCopy(`${work}/src`, `${work}/dst`, { workers: 2 });
  assertEquals([again.filesTransferred, again.filesSkipped], [1, 449]);
  assertEquals(Deno.readTextFileSync(`${work}/dst/d1/f7.txt`), "changed");
  assertEquals(tempNames(`${work}/dst`), []);
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: mirror deletes what the source lost, keeping excluded paths", async () => {
  const { work, src, dst } = workspace();
  await localCopy(src, dst);
  Deno.removeSync(`${src}/with space.txt`);
  Deno.removeSync(`${src}/nested`, { recursive: true });
  write(`${dst}/notes.bak`, "kept: excluded");
  const stats = await localCopy(src, dst, {
    mirror: true,
    exclude: ["*.bak"],
  });
  // The file, nested/deeper/leaf.txt and nested/dangling, and the
  // directories nested and nested/deeper (rsync counts those too).
  assertEquals(stats.filesDeleted, 5);
  assertEquals(stats.filesTransferred, 0);
  assertEquals(
    snapshot(dst).filter((line) => !line.includes("notes.bak")),
    snapshot(src),
  );
  assertEquals(Deno.readTextFileSync(`${dst}/notes.bak`), "kept: excluded");
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: dry run reports the same counts and changes nothing", async () => {
  const { work, src, dst } = workspace();
  const dryFresh = await localCopy(src, dst, { dryRun: true });
  assertEquals(dryFresh.filesTransferred, 6);
  assertEquals(dryFresh.bytesTransferred, 42);
  assertThrows(() => Deno.statSync(dst), Deno.errors.NotFound);

  await localCopy(src, dst);
  Deno.removeSync(`${src}/run.sh`);
  write(`${src}/new.txt`, "new");
  const before = snapshot(dst);
  const dry = await localCopy(src, dst, { dryRun: true, mirror: true });
  assertEquals(dry, {
    filesTransferred: 1,
    bytesTransferred: 3,
    filesDeleted: 1,
    filesSkipped: 5,
  });
  assertEquals(snapshot(dst), before);
  const real = await localCopy(src, dst, { mirror: true });
  assertEquals(real, dry);
  assertEquals(snapshot(dst), snapshot(src));
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: a file source lands by the placement rules", async () => {
  const { work, src } = workspace();
  Deno.mkdirSync(`${work}/existing`);
  await localCopy(`${src}/run.sh`, `${work}/existing`);
  await localCopy(`${src}/run.sh`, `${work}/fresh/`);
  await localCopy(`${src}/run.sh`, `${work}/renamed.sh`);
  for (
    const path of ["existing/run.sh", "fresh/run.sh", "renamed.sh"]
  ) {
    const info = Deno.statSync(`${work}/${path}`);
    assertEquals(
      [info.mode! & 0o777, info.mtime!.getTime(), info.size],
      [0o755, MTIME_S * 1000, 18],
    );
  }
  const again = await localCopy(`${src}/run.sh`, `${work}/renamed.sh`);
  assertEquals([again.filesTransferred, again.filesSkipped], [0, 1]);
  Deno.removeSync(work, { recursive: true });
});

Deno.test("localCopy: a missing source or a destination inside the source is refused", async () => {
  const { work, src } = workspace();
  const error = await assertRejects(
    () => localCopy(`${work}/missing`, `${work}/dst`),
    SourceNotFoundError,
    /^source not found: .*\/missing$/,
  );
  assertEquals(error instanceof Deno.errors.NotFound, true);
  await assertRejects(
    () => localCopy(src, `${src}/inner`),
    RangeError,
    /is inside the source/,
  );
  assertThrows(() => Deno.statSync(`${work}/dst`), Deno.errors.NotFound);
  Deno.removeSync(work, { recursive: true });
});

Deno.test("placeLocal and ensureDirectory", () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  assertEquals(placeLocal(`${work}/x`, true, "src"), { root: `${work}/x` });
  assertEquals(placeLocal(`${work}/`, false, "a"), {
    root: `${work}/`,
    name: "a",
  });
  assertEquals(placeLocal(`${work}/b.txt`, false, "a"), {
    root: work,
    name: "b.txt",
  });
  Deno.writeTextFileSync(`${work}/file`, "");
  assertThrows(
    () => ensureDirectory(`${work}/file`),
    NotADirectoryError,
    /exists and is not a directory/,
  );
  Deno.removeSync(work, { recursive: true });
});
