// The daemon's unary and listing calls, through the real client in-process.
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { listModules, listRemote, purgeRemote } from "../client/admin.ts";
import { RemoteError } from "../client/connect.ts";
import { parseRemote } from "../client/address.ts";

Deno.test("list handler: a link is listed as itself, a file as one entry; purge of the module root needs allowRoot", async () => {
  await withInProcessDaemon(async ({ module, address }) => {
    Deno.writeTextFileSync(`${module}/f`, "12345");
    Deno.symlinkSync("/etc", `${module}/l`);
    const one = await listRemote(address("f"));
    assertEquals([one.pathIsDir, one.entries.map((e) => [e.name, e.size])], [
      false,
      [["f", 5]],
    ]);
    const all = await listRemote(address());
    assertEquals(all.entries.map((e) => [e.name, e.isSymlink]), [["f", false], [
      "l",
      true,
    ]]);
    await assertRejects(() => purgeRemote(address()), RemoteError, /root/);
    assertEquals(await purgeRemote(address(), { allowRoot: true }), {
      filesDeleted: 2,
      dirsDeleted: 0,
    });
    assertEquals(Deno.statSync(module).isDirectory, true);
  });
});

Deno.test("listModules handler: read-only and secret modules say so", async () => {
  await withInProcessDaemon(async ({ address }) => {
    const modules = await listModules(
      parseRemote(`blit://127.0.0.1:${address().port}`, {
        moduleRequired: false,
      }),
    );
    assertEquals(modules, [{
      name: "default",
      comment: "--root",
      readOnly: true,
      auth: false,
    }]);
  }, { configure: (c) => c.modules[0].readOnly = true });
});
