// The daemon's hosting of a push, through the real client in-process.
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { pushRemote } from "../client/push.ts";
import { RemoteError } from "../client/connect.ts";

Deno.test("push handler: setuid bits are dropped unless the module keeps them; a read-only module refuses before writing", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.mkdirSync(`${work}/src`);
    Deno.writeTextFileSync(`${work}/src/tool`, "#!/bin/sh\n");
    Deno.chmodSync(`${work}/src/tool`, 0o4755);
    await pushRemote(`${work}/src`, address("t"), { retries: 0 });
    assertEquals(Deno.statSync(`${module}/t/tool`).mode! & 0o7777, 0o755);
  });
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.mkdirSync(`${work}/src`);
    Deno.writeTextFileSync(`${work}/src/a`, "a");
    await assertRejects(
      () => pushRemote(`${work}/src`, address("t"), { retries: 0 }),
      RemoteError,
      /read-only/,
    );
    assertEquals([...Deno.readDirSync(module)], []);
  }, { configure: (c) => c.modules[0].readOnly = true });
});

Deno.test("push handler: a destination blocked by a file is one clear error; a mirror push deletes what the client lacks", async () => {
  await withInProcessDaemon(async ({ module, work, address }) => {
    Deno.mkdirSync(`${work}/src`);
    Deno.writeTextFileSync(`${work}/src/a`, "a");
    Deno.writeTextFileSync(`${module}/blocker`, "");
    await assertRejects(
      () => pushRemote(`${work}/src`, address("blocker"), { retries: 0 }),
      RemoteError,
      /^Destination blocker exists and is not a directory$/,
    );
    Deno.mkdirSync(`${module}/m`);
    Deno.writeTextFileSync(`${module}/m/stale`, "");
    const r = await pushRemote(`${work}/src`, address("m"), {
      retries: 0,
      mirror: true,
    });
    assertEquals([r.filesTransferred, r.filesDeleted], [1, 1]);
    assertEquals([...Deno.readDirSync(`${module}/m`)].map((e) => e.name), [
      "a",
    ]);
  });
});
