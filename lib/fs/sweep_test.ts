import { assertEquals } from "../../tests/_assert.ts";
import { cleanupTemps, sweepTemps } from "./sweep.ts";
import { treeOf } from "./path_tree.ts";

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("cleanupTemps removes our temp files anywhere in a tree, nothing else", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d/e`, { recursive: true });
    Deno.writeTextFileSync(`${root}/d/e/.x.blit-0123456789ab.tmp`, "");
    Deno.writeTextFileSync(`${root}/.y.blit-partial.tmp`, "");
    Deno.writeTextFileSync(`${root}/d/.z.blit-other.tmp`, "");
    Deno.writeTextFileSync(`${root}/d/keep`, "");
    assertEquals(cleanupTemps(root), 2);
    assertEquals(names(`${root}/d/e`), []);
    assertEquals(names(`${root}/d`), [".z.blit-other.tmp", "e", "keep"]);
    assertEquals(names(root), ["d"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("sweepTemps keeps a young partial copy for a rerun, removes an old one and every temp file", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    Deno.writeTextFileSync(`${root}/d/.young.blit-partial.tmp`, "");
    Deno.writeTextFileSync(`${root}/d/.old.blit-partial.tmp`, "");
    const day = Date.now() / 1000 - 2 * 86400;
    Deno.utimeSync(`${root}/d/.old.blit-partial.tmp`, day, day);
    Deno.writeTextFileSync(`${root}/d/.t.blit-0123456789ab.tmp`, "");
    sweepTemps(treeOf(root), new Set(["d"]), { keepPartialsMs: 86_400_000 });
    assertEquals(names(`${root}/d`), [".young.blit-partial.tmp"]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
