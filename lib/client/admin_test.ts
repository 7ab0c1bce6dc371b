import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { parseRemote } from "./address.ts";
import { RemoteError } from "./connect.ts";
import { listModules, listRemote, purgeRemote } from "./admin.ts";

Deno.test("listRemote, purgeRemote and listModules against a daemon", async () => {
  await withInProcessDaemon(async ({ module, address }) => {
    Deno.mkdirSync(`${module}/d`);
    Deno.writeTextFileSync(`${module}/d/a`, "abc");
    Deno.symlinkSync("a", `${module}/d/l`);
    const listing = await listRemote(address("d"));
    assertEquals(listing.pathIsDir, true);
    assertEquals(
      listing.entries.map((e) => [e.name, e.isDir, e.isSymlink, e.size]),
      [["a", false, false, 3], ["l", false, true, 1]],
    );
    assertEquals(listing.entries[1].linkTarget, "a");
    const dry = await purgeRemote(address("d"), { dryRun: true });
    assertEquals(dry, { filesDeleted: 2, dirsDeleted: 1 });
    assertEquals(Deno.statSync(`${module}/d`).isDirectory, true);
    assertEquals(await purgeRemote(address("d")), {
      filesDeleted: 2,
      dirsDeleted: 1,
    });
    assertEquals([...Deno.readDirSync(module)], []);
    const port = address().port;
    const modules = await listModules(
      parseRemote(`blit://127.0.0.1:${port}`, { moduleRequired: false }),
    );
    assertEquals(modules, [
      { name: "default", comment: "--root", readOnly: false, auth: false },
    ]);
    await assertRejects(
      () => listRemote(address("missing")),
      RemoteError,
      /not found/,
    );
  });
});
