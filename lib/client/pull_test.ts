import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { pullRemote, pullWriters } from "./pull.ts";

function tree(module: string) {
  Deno.mkdirSync(`${module}/t/d/empty`, { recursive: true });
  Deno.writeTextFileSync(`${module}/t/a.txt`, "alpha");
  Deno.writeFileSync(`${module}/t/d/big`, new Uint8Array(3 << 20).fill(9));
  Deno.symlinkSync("../a.txt", `${module}/t/d/link`);
  Deno.utimeSync(`${module}/t/a.txt`, 1_000_000, 1_000_000);
}

Deno.test("pullRemote brings a tree over the data plane: links, empty directories and mtimes too", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(module);
    const r = await pullRemote(address("t"), `${work}/out`, { retries: 0 });
    assertEquals(
      [r.filesTransferred, r.bytesTransferred, r.transport],
      [3, 5 + (3 << 20), "tcp"],
    );
    assertEquals(Deno.readTextFileSync(`${work}/out/a.txt`), "alpha");
    assertEquals(
      Deno.statSync(`${work}/out/a.txt`).mtime?.getTime(),
      1_000_000_000,
    );
    assertEquals(Deno.readLinkSync(`${work}/out/d/link`), "../a.txt");
    assertEquals([...Deno.readDirSync(`${work}/out/d/empty`)], []);
  });
});

Deno.test("pullRemote with mirror deletes what the daemon lacks", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(module);
    Deno.mkdirSync(`${work}/out`);
    Deno.writeTextFileSync(`${work}/out/stale`, "x");
    const r = await pullRemote(address("t"), `${work}/out`, {
      retries: 0,
      mirror: true,
    });
    assertEquals(r.filesDeleted, 1);
    assertEquals(
      [...Deno.readDirSync(`${work}/out`)].map((e) => e.name).sort(),
      ["a.txt", "d"],
    );
  });
});

Deno.test("a second pullRemote moves nothing", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(module);
    await pullRemote(address("t"), `${work}/out`, { retries: 0 });
    const again = await pullRemote(address("t"), `${work}/out`, { retries: 0 });
    assertEquals([again.filesTransferred, again.filesSkipped], [0, 3]);
  });
});

Deno.test("pullRemote over gRPC only, and a dry run that writes nothing", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    tree(module);
    const items: string[] = [];
    const dry = await pullRemote(address("t"), `${work}/dry`, {
      retries: 0,
      dryRun: true,
      onItem: (sign, path) => items.push(`${sign} ${path}`),
    });
    assertEquals(dry.filesTransferred, 3);
    assertEquals(items.sort(), ["+ a.txt", "+ d/big", "+ d/link"]);
    assertEquals([...Deno.readDirSync(work)], []);
    const r = await pullRemote(address("t"), `${work}/g`, { retries: 0 });
    assertEquals([r.transport, r.filesTransferred], ["grpc", 3]);
    assertEquals(
      Deno.readFileSync(`${work}/g/d/big`),
      new Uint8Array(3 << 20).fill(9),
    );
  }, { forceGrpcData: true });
});

Deno.test("pullWriters: only cores nobody else needs, at most two; a daemon on this kernel counts as on loopback", () => {
  assertEquals(
    [
      pullWriters("127.0.0.1", 2),
      pullWriters("127.0.0.1", 8),
      pullWriters("10.0.0.5", 2),
      pullWriters("::1", 1),
      pullWriters("[::1]", 3),
      pullWriters("localhost", 4),
      pullWriters("10.0.0.5", 2, true),
      pullWriters("10.0.0.5", 3, true),
      pullWriters("10.0.0.5", 8, true),
      pullWriters("10.0.0.5", 8),
    ],
    [0, 2, 1, 0, 1, 2, 0, 1, 2, 2],
  );
});
