import { assertEquals } from "../../tests/_assert.ts";
import { CopyPool } from "./_copy_pool.ts";

Deno.test("CopyPool: workers copy the files it is given, skipping those already the same", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${dir}/src`);
    Deno.mkdirSync(`${dir}/dst`);
    const entries = [0, 1, 2].map((i) => {
      Deno.writeTextFileSync(`${dir}/src/f${i}`, `${i}`);
      Deno.utimeSync(`${dir}/src/f${i}`, 1000, 1000);
      return {
        path: `f${i}`,
        kind: "file" as const,
        size: 1,
        mtimeMs: 1_000_000,
        mode: 0o644,
      };
    });
    Deno.writeTextFileSync(`${dir}/dst/f0`, "0");
    Deno.utimeSync(`${dir}/dst/f0`, 1000, 1000);
    const pool = new CopyPool(`${dir}/dst`, { workers: 2 });
    try {
      for (const entry of entries) {
        await pool.add({ src: `${dir}/src/${entry.path}`, entry, check: true });
      }
      await pool.finish();
    } finally {
      await pool.close();
    }
    assertEquals([pool.copied, pool.skipped], [2, 1]);
    assertEquals(Deno.readTextFileSync(`${dir}/dst/f2`), "2");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
