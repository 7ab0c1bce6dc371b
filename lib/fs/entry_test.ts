import { assertEquals } from "../../tests/_assert.ts";
import type { EntryKind, FileEntry, TransferStats } from "./entry.ts";
import { entryFromPath } from "./enumerate.ts";

Deno.test("a FileEntry is what enumeration makes of a file, a directory and a link", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "abc");
    Deno.chmodSync(`${dir}/f`, 0o640);
    Deno.symlinkSync("f", `${dir}/l`);
    const kinds: EntryKind[] = [];
    for (const name of ["f", "l"]) {
      const entry: FileEntry = entryFromPath(`${dir}/${name}`, name);
      kinds.push(entry.kind);
      if (name === "f") assertEquals([entry.size, entry.mode], [3, 0o640]);
      else assertEquals([entry.linkTarget, entry.size], ["f", 1]);
    }
    assertEquals(kinds, ["file", "symlink"]);
    const stats: TransferStats = {
      filesTransferred: 0,
      bytesTransferred: 0,
      filesDeleted: 0,
      filesSkipped: 0,
    };
    assertEquals(Object.keys(stats).length, 4);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
