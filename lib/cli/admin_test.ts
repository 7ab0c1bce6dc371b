import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { captureIo, flagsOf } from "../../tests/_cli_io.ts";
import { formatMtime, list, modules, purge } from "./admin.ts";

Deno.test("blit list, purge and modules print what the daemon has, one line an entry", async () => {
  await withInProcessDaemon(async ({ module, address }) => {
    Deno.mkdirSync(`${module}/d`);
    Deno.writeTextFileSync(`${module}/d/a`, "abc");
    Deno.utimeSync(`${module}/d/a`, 1_000_000, 1_000_000);
    const io = captureIo();
    assertEquals(
      await list(address("d"), flagsOf(["list", "--json", "x"], io), io),
      0,
    );
    assertEquals(JSON.parse(io.out())[0].name, "a");
    const text = captureIo();
    await list(address("d"), flagsOf(["list", "x"], text), text);
    assertEquals(text.out().includes(formatMtime(1_000_000_000)), true);
    const purged = captureIo();
    assertEquals(
      await purge(
        address("d"),
        flagsOf(["purge", "--json", "--yes", "x"], purged),
        purged,
        "blit://x/d",
      ),
      0,
    );
    assertEquals(JSON.parse(purged.out()), {
      op: "purge",
      files_deleted: 1,
      dirs_deleted: 1,
      dry_run: false,
    });
    const listed = captureIo();
    const port = address().port;
    assertEquals(
      await modules(
        `blit://127.0.0.1:${port}`,
        flagsOf(["modules", "x"], listed),
        listed,
      ),
      0,
    );
    assertEquals(listed.out().startsWith("default"), true, listed.out());
  });
});
