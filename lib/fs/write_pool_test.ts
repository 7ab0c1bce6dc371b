import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { FileEntry } from "./entry.ts";
import { WritePool } from "./write_pool.ts";

function entry(path: string, size: number, i: number): FileEntry {
  return {
    path,
    kind: "file",
    size,
    mtimeMs: 1_600_000_000_000 + i * 1000,
    mode: i % 2 ? 0o600 : 0o644,
  };
}

function body(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 7 + seed) & 0xff);
}

Deno.test("WritePool: 1,000 files (inline, then two workers) land whole with their modes and mtimes", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    const entries = Array.from(
      { length: 1000 },
      (_, i) => entry(`d/f${i}`, i % 5 === 0 ? 0 : 100 + i, i),
    );
    const seen: string[] = [];
    const pool = new WritePool(root, { onFile: (e) => seen.push(e.path) });
    // One reused buffer: the pool must copy at add().
    const scratch = new Uint8Array(4096);
    for (const [i, e] of entries.entries()) {
      scratch.set(body(e.size, i));
      await pool.add(e, scratch.subarray(0, e.size));
      scratch.fill(0);
    }
    await pool.finish();
    assertEquals(seen.sort(), entries.map((e) => e.path).sort());
    for (const [i, e] of entries.entries()) {
      assertEquals(Deno.readFileSync(`${root}/${e.path}`), body(e.size, i));
      const info = Deno.statSync(`${root}/${e.path}`);
      assertEquals(info.mode! & 0o777, e.mode);
      assertEquals(info.mtime!.getTime(), e.mtimeMs);
    }
    assertEquals(Deno.readDirSync(`${root}/d`).toArray().length, 1000);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("WritePool: a worker's failure surfaces from finish, and no temp file stays", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d/f700`, { recursive: true }); // a directory in the way
    const pool = new WritePool(root);
    const entries = Array.from(
      { length: 900 },
      (_, i) => entry(`d/f${i}`, 3, i),
    );
    await assertRejects(
      async () => {
        for (const e of entries) await pool.add(e, new Uint8Array([1, 2, 3]));
        await pool.finish();
      },
      Error,
      /Cannot replace directory "d\/f700" with a file/,
    );
    await pool.close();
    const names = Deno.readDirSync(`${root}/d`).toArray().map((e) => e.name);
    assertEquals(names.filter((n) => n.endsWith(".tmp")), []);
    assertEquals(Deno.statSync(`${root}/d/f700`).isDirectory, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
