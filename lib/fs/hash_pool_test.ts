import { assertEquals } from "../../tests/_assert.ts";
import { hashPool } from "./hash_pool.ts";
import { hashBytes, hashFile } from "./hash.ts";
import { KernelTree } from "./kernel_tree.ts";

Deno.test({
  name:
    "hash pool: a tree's descriptor is hashed on a worker, the same digests as on this thread",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = Deno.makeTempDirSync({ prefix: "blit-hp-" });
    const bytes = new Uint8Array(3 * 1024 * 1024 + 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    Deno.writeFileSync(`${dir}/f`, bytes);
    const tree = KernelTree.open(dir)!;
    const pool = hashPool()!;
    try {
      // Whole file, by descriptor, on the worker.
      const whole = await hashFile(tree.openRead("f"));
      assertEquals(whole, await hashBytes(bytes));
      // Ranges; one running past the end is left out.
      const handle = tree.openRead("f") as unknown as {
        fd: number;
        close(): void;
      };
      const { digests } = await pool.hash(handle.fd, [
        { offset: 0, length: 1024 * 1024 },
        { offset: 1024 * 1024, length: 1024 * 1024 },
        { offset: 3 * 1024 * 1024, length: 1024 * 1024 },
      ]);
      handle.close();
      assertEquals(digests.length, 2);
      assertEquals(
        digests[1],
        await hashBytes(bytes.subarray(1 << 20, 2 << 20)),
      );
      assertEquals(pool.broken, false);
    } finally {
      pool.close();
      tree.close();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
