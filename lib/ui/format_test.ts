import { assertEquals } from "../../tests/_assert.ts";
import { formatBytes } from "./format.ts";

Deno.test("formatBytes: whole bytes, then binary units to one decimal, up to TiB", () => {
  assertEquals(
    [0, 1023, 1024, 1536, 5 << 20, 3 * 2 ** 40, 2 ** 52].map(formatBytes),
    ["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "3.0 TiB", "4096.0 TiB"],
  );
});
