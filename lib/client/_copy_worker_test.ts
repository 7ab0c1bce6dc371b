import { assertEquals } from "../../tests/_assert.ts";
import { askWorker } from "../../tests/_worker.ts";
import type { CopyResult } from "./_copy_pool.ts";

Deno.test("the copy Worker copies a batch, skipping files already the same, and reports a failure with its error's name", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${dir}/src`);
    Deno.mkdirSync(`${dir}/dst`);
    Deno.writeTextFileSync(`${dir}/src/a`, "a");
    const entry = {
      path: "a",
      kind: "file" as const,
      size: 1,
      mtimeMs: 1_000_000,
      mode: 0o644,
    };
    const url = new URL("./_copy_worker.ts", import.meta.url);
    const item = { src: `${dir}/src/a`, entry, check: true };
    const first = await askWorker<CopyResult>(url, {
      id: 1,
      destRoot: `${dir}/dst`,
      items: [item],
    });
    assertEquals([first.done, first.skipped, first.bytes], [1, 0, 1]);
    const again = await askWorker<CopyResult>(url, {
      id: 2,
      destRoot: `${dir}/dst`,
      items: [item],
    });
    assertEquals([again.done, again.skipped], [1, 1]);
    const missing = await askWorker<CopyResult>(url, {
      id: 3,
      destRoot: `${dir}/dst`,
      items: [{ ...item, src: `${dir}/src/none`, check: false }],
    });
    assertEquals([missing.done, missing.errorName], [0, "NotFound"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
