import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { pushRemote } from "./push.ts";

function tree(root: string) {
  Deno.mkdirSync(`${root}/src/d/empty`, { recursive: true });
  Deno.writeTextFileSync(`${root}/src/a.txt`, "alpha");
  Deno.writeFileSync(`${root}/src/d/big`, new Uint8Array(3 << 20).fill(7));
  Deno.symlinkSync("../a.txt", `${root}/src/d/link`);
}

Deno.test("pushRemote: a tree over the data plane, links and empty directories too; a second push sends nothing", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(work);
    const first = await pushRemote(`${work}/src`, address("t"), {
      retries: 0,
    });
    assertEquals(
      [first.filesTransferred, first.bytesTransferred, first.transport],
      [3, 5 + (3 << 20), "tcp"],
    );
    assertEquals(Deno.readTextFileSync(`${module}/t/a.txt`), "alpha");
    assertEquals(Deno.readLinkSync(`${module}/t/d/link`), "../a.txt");
    assertEquals(Deno.statSync(`${module}/t/d/empty`).isDirectory, true);
    const again = await pushRemote(`${work}/src`, address("t"), { retries: 0 });
    assertEquals([again.filesTransferred, again.filesSkipped], [0, 3]);
  });
});

Deno.test("pushRemote: a dry run names what would move and writes nothing; a single file lands under its new name", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(work);
    const items: string[] = [];
    const dry = await pushRemote(`${work}/src`, address("t"), {
      retries: 0,
      dryRun: true,
      onItem: (sign, path) => items.push(`${sign} ${path}`),
    });
    assertEquals(dry.filesTransferred, 3);
    assertEquals(items.sort(), ["+ a.txt", "+ d/big", "+ d/link"]);
    assertEquals([...Deno.readDirSync(module)], []);
    const one = await pushRemote(`${work}/src/a.txt`, address("renamed.txt"), {
      retries: 0,
    });
    assertEquals(one.filesTransferred, 1);
    assertEquals(Deno.readTextFileSync(`${module}/renamed.txt`), "alpha");
  });
});

Deno.test("pushRemote over gRPC only: the same tree, acknowledged in messages", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(work);
    const r = await pushRemote(`${work}/src`, address("g"), { retries: 0 });
    assertEquals([r.transport, r.filesTransferred, r.fallback], [
      "grpc",
      3,
      false,
    ]);
    assertEquals(
      Deno.readFileSync(`${module}/g/d/big`),
      new Uint8Array(3 << 20).fill(7),
    );
  }, { forceGrpcData: true });
});
