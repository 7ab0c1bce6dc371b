import { assertEquals } from "../../tests/_assert.ts";
import { hashBytes, hashFile, sameHash } from "./hash.ts";

Deno.test("hash: file and bytes agree; different content differs", async () => {
  const path = Deno.makeTempFileSync();
  const data = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => i & 0xff);
  Deno.writeFileSync(path, data);
  const a = await hashFile(path);
  const b = await hashBytes(data);
  assertEquals(a.length, 16);
  assertEquals(sameHash(a, b), true);
  data[7] ^= 1;
  assertEquals(sameHash(a, await hashBytes(data)), false);
  assertEquals(sameHash(a, a.subarray(1)), false);
  Deno.removeSync(path);
});
