import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import {
  abortAllOpen,
  AtomicFile,
  SizeMismatchError,
  writeFileAtomic,
} from "./atomic_file.ts";
import { EntryConflictError } from "./_replace.ts";
import { PathEscapeError } from "./safe_path.ts";

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

const entry = (
  path: string,
  size: number,
  mode = 0o640,
  mtimeMs = 1_500_000_000_000,
): FileEntry => ({
  path,
  kind: "file",
  size,
  mtimeMs,
  mode,
});

Deno.test("AtomicFile: nothing under the final name until commit; mode and mtime applied", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const f = AtomicFile.open(root, entry("sub/a.bin", 4));
  f.write(new Uint8Array([1, 2]));
  assertEquals(names(`${root}/sub`).length, 1);
  assertEquals(names(`${root}/sub`)[0].startsWith(".a.bin.blit-"), true);
  f.write(new Uint8Array([3, 4]));
  f.commit();
  assertEquals(names(`${root}/sub`), ["a.bin"]);
  const info = Deno.statSync(`${root}/sub/a.bin`);
  assertEquals([info.mode! & 0o7777, info.mtime!.getTime()], [
    0o640,
    1_500_000_000_000,
  ]);
  assertEquals(
    Deno.readFileSync(`${root}/sub/a.bin`),
    new Uint8Array([1, 2, 3, 4]),
  );
  Deno.removeSync(root, { recursive: true });
});

Deno.test("AtomicFile: short, long and aborted bodies leave nothing behind", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const short = AtomicFile.open(root, entry("a", 4));
  short.write(new Uint8Array(3));
  assertThrows(
    () => short.commit(),
    SizeMismatchError,
    /^File a ended after 3 of 4 bytes$/,
  );
  const long = AtomicFile.open(root, entry("b", 1));
  assertThrows(
    () => long.write(new Uint8Array(2)),
    SizeMismatchError,
    /more than its declared 1 bytes/,
  );
  long.abort();
  const open = AtomicFile.open(root, entry("c", 1));
  assertEquals(abortAllOpen(), { removed: 1, kept: 0 });
  open.abort();
  assertEquals(names(root), []);
  Deno.removeSync(root, { recursive: true });
});

Deno.test("writes refuse escapes and directory replacement", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const outside = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.symlinkSync(outside, `${root}/out`);
  Deno.mkdirSync(`${root}/dir`);
  assertThrows(() => AtomicFile.open(root, entry("out/x", 1)), PathEscapeError);
  assertThrows(
    () => writeFileAtomic(root, entry("out/x", 1), new Uint8Array(1)),
    PathEscapeError,
  );
  assertThrows(
    () => writeFileAtomic(root, entry("dir", 1), new Uint8Array(1)),
    EntryConflictError,
  );
  assertThrows(
    () => writeFileAtomic(root, entry("x", 2), new Uint8Array(1)),
    SizeMismatchError,
  );
  assertEquals(names(outside), []);
  assertEquals(names(root), ["dir", "out"]);
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(outside, { recursive: true });
});

Deno.test("writeFileAtomic replaces a link without following it", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.writeTextFileSync(`${root}/target`, "keep");
  Deno.symlinkSync("target", `${root}/l1`);
  writeFileAtomic(root, entry("l1", 3, 0o600), new TextEncoder().encode("new"));
  assertEquals(Deno.readTextFileSync(`${root}/target`), "keep");
  assertEquals(Deno.lstatSync(`${root}/l1`).isFile, true);
  assertEquals(Deno.readTextFileSync(`${root}/l1`), "new");
  assertEquals(Deno.statSync(`${root}/l1`).mode! & 0o777, 0o600);
  Deno.removeSync(root, { recursive: true });
});
