import { assertEquals } from "../../tests/_assert.ts";
import { askWorker } from "../../tests/_worker.ts";
import { hashBytes } from "./hash.ts";
import type { HashAnswer } from "./hash_pool.ts";
import { descriptorOf } from "./tree.ts";
import { loadLibc } from "./_libc.ts";

Deno.test("the hash Worker hashes ranges of a descriptor this thread holds open", async () => {
  if (!loadLibc()) return; // the Worker reads with pread through libc
  const dir = Deno.makeTempDirSync();
  try {
    const bytes = new Uint8Array(10).map((_, i) => i);
    Deno.writeFileSync(`${dir}/f`, bytes);
    using file = Deno.openSync(`${dir}/f`);
    const fd = descriptorOf(file);
    if (fd === undefined) return; // this Deno gives no descriptor
    const answer = await askWorker<HashAnswer>(
      new URL("./_hash_worker.ts", import.meta.url),
      { id: 1, fd, ranges: [0, 4, 4, -1] },
    );
    assertEquals(answer.complete, 2);
    assertEquals(
      answer.digests?.subarray(0, 16),
      await hashBytes(bytes.subarray(0, 4)),
    );
    assertEquals(
      answer.digests?.subarray(16, 32),
      await hashBytes(bytes.subarray(4)),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
