import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { copy, listModules, parseRemote, serve } from "@blit/cli/mod";

Deno.test("serve: a daemon in this process, configured like the file (modules as paths or objects, limits); bad keys named; stopped, it answers no more", async () => {
  const rw = Deno.makeTempDirSync();
  const ro = Deno.makeTempDirSync();
  const src = Deno.makeTempDirSync();
  const lines: string[] = [];
  try {
    Deno.writeTextFileSync(`${src}/a.txt`, "alpha");
    const daemon = await serve({
      modules: {
        rw,
        ro: { path: ro, readOnly: true, comment: "look, don't touch" },
      },
      config: { limits: { maxSessions: 4 } },
      log: (line) => lines.push(line),
    });
    assertEquals(daemon.url, `blit://127.0.0.1:${daemon.port}`);
    assertEquals(typeof daemon.dataPort, "number");
    const pushed = await copy(src, `${daemon.url}/rw/in`);
    assertEquals(pushed.filesTransferred, 1);
    assertEquals(Deno.readTextFileSync(`${rw}/in/a.txt`), "alpha");
    await assertRejects(
      () => copy(src, `${daemon.url}/ro/in`),
      Error,
      /Module "ro" is read-only/,
    );
    const modules = await listModules(parseRemote(`${daemon.url}/`, {
      moduleRequired: false,
    }));
    assertEquals(modules.map((m) => [m.name, m.readOnly]), [
      ["rw", false],
      ["ro", true],
    ]);
    // Its call log went to `log`.
    assertEquals(
      lines.some((l) => / op=push module=rw path=in files=1 bytes=5 /.test(l)),
      true,
      lines.join("\n"),
    );
    await daemon.stop();
    // Nothing answers there any more.
    await assertRejects(
      () =>
        listModules(parseRemote(`${daemon.url}/`, { moduleRequired: false })),
      Error,
      /cannot reach daemon/,
    );
    await assertRejects(
      () => serve({ modules: { m: rw }, config: { frob: 1 } }),
      Error,
      /serve\(\) options:\d+:\d+: frob: unknown key/,
    );
    await assertRejects(
      () => serve({ modules: { m: `${rw}/missing` } }),
      Error,
      /missing/,
    );
  } finally {
    for (const dir of [rw, ro, src]) Deno.removeSync(dir, { recursive: true });
  }
});
