import { assertEquals } from "../../tests/_assert.ts";
import { askWorker } from "../../tests/_worker.ts";
import type { WriteAnswer } from "./write_pool.ts";

Deno.test("the write Worker writes a batch of whole files and says how many it committed", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const file = (path: string, size: number) => ({
      path,
      kind: "file" as const,
      size,
      mtimeMs: 1_000_000,
      mode: 0o640,
    });
    const body = new TextEncoder().encode("abcde").buffer;
    const answer = await askWorker<WriteAnswer>(
      new URL("./_write_worker.ts", import.meta.url),
      {
        id: 7,
        root,
        entries: [file("a", 2), file("d/b", 3)],
        ends: [2, 5],
        body,
      },
    );
    assertEquals([answer.id, answer.files, answer.error], [7, 2, undefined]);
    assertEquals([
      Deno.readTextFileSync(`${root}/a`),
      Deno.readTextFileSync(`${root}/d/b`),
    ], ["ab", "cde"]);
    assertEquals(Deno.statSync(`${root}/d/b`).mode! & 0o777, 0o640);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
