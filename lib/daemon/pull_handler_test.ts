// The daemon's hosting of a pull, through the real client in-process.
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { pullRemote } from "../client/pull.ts";
import { RemoteError } from "../client/connect.ts";

Deno.test("pull handler: a missing path or a temp file's name is not found; a single file is sent under its name", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.writeTextFileSync(`${module}/.x.blit-partial.tmp`, "partial");
    Deno.writeTextFileSync(`${module}/one.txt`, "one");
    for (const path of ["nope", ".x.blit-partial.tmp"]) {
      await assertRejects(
        () => pullRemote(address(path), `${work}/out`, { retries: 0 }),
        RemoteError,
        new RegExp(
          `^Path "${
            path.replaceAll(".", "\\.")
          }" not found in module "default"$`,
        ),
      );
    }
    const r = await pullRemote(address("one.txt"), `${work}/copy.txt`, {
      retries: 0,
    });
    assertEquals(r.filesTransferred, 1);
    assertEquals(Deno.readTextFileSync(`${work}/copy.txt`), "one");
  });
});

Deno.test("pull handler: a munged link is given back as the client pushed it", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.mkdirSync(`${module}/t`);
    Deno.symlinkSync("/blit-munged//etc/passwd", `${module}/t/l`);
    await pullRemote(address("t"), `${work}/out`, { retries: 0 });
    assertEquals(Deno.readLinkSync(`${work}/out/l`), "/etc/passwd");
  });
});
