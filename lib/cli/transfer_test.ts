import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { captureIo, flagsOf } from "../../tests/_cli_io.ts";
import { transfer } from "./transfer.ts";

Deno.test("blit copy, push and pull print their summary (JSON when asked) and move the tree", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.mkdirSync(`${work}/src`);
    Deno.writeTextFileSync(`${work}/src/a`, "abc");
    const url = `blit://127.0.0.1:${address().port}/default/t`;
    const copied = captureIo();
    await transfer(
      "copy",
      `${work}/src`,
      `${work}/copy`,
      flagsOf(["copy", "--json", "a", "b"], copied),
      copied,
    );
    assertEquals(JSON.parse(copied.out()).files_transferred, 1);
    const pushed = captureIo();
    assertEquals(
      await transfer(
        "push",
        `${work}/src`,
        url,
        flagsOf(["push", "a", "b"], pushed),
        pushed,
      ),
      0,
    );
    assertEquals(
      pushed.out().startsWith(
        "push: 1 file transferred (3 B), 0 unchanged, via tcp",
      ),
      true,
      pushed.out(),
    );
    assertEquals(Deno.readTextFileSync(`${module}/t/a`), "abc");
    const pulled = captureIo();
    await transfer(
      "pull",
      url,
      `${work}/back`,
      flagsOf(["pull", "-q", "a", "b"], pulled),
      pulled,
    );
    assertEquals([pulled.out(), Deno.readTextFileSync(`${work}/back/a`)], [
      "",
      "abc",
    ]);
  });
});
