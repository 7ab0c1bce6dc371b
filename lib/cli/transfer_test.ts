import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { captureIo, flagsOf } from "../../tests/_cli_io.ts";
import { sizeHintOf, statsLines, transfer } from "./transfer.ts";

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

Deno.test("--stats: rsync's names and meanings; a resumed file's kept part is matched data, not literal", () => {
  const text = statsLines(
    {
      filesTransferred: 2,
      bytesTransferred: 10_000_000,
      filesDeleted: 1,
      filesSkipped: 3,
      transport: "tcp",
      streams: 1,
      fallback: false,
      handshakeMs: 0,
      manifestMs: 0,
      transferMs: 0,
      retries: 0,
      bytesResumed: 4_000_000,
      bytesLiteral: 5_000_000,
      bytesMatched: 1_000_000,
      bytesSent: 5_100_000,
      bytesReceived: 900,
    },
    2000,
    false,
  );
  assertEquals(
    text.split("\n").slice(0, 8),
    [
      "Number of files transferred: 2",
      "Number of files unchanged: 3",
      "Number of deleted files: 1",
      "Total transferred file size: 10,000,000 bytes (9.5 MiB)",
      "Literal data: 5,000,000 bytes",
      "Matched data: 5,000,000 bytes (4,000,000 resumed)",
      "Total bytes sent: 5,100,000",
      "Total bytes received: 900",
    ],
  );
  assertEquals(text.split("\n")[9], "Elapsed: 2.00 s (2.4 MiB/s)");
});

Deno.test("sizeHintOf: a tree's class from a bounded look at its files; a file's own", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.mkdirSync(`${dir}/small/sub`, { recursive: true });
    for (let i = 0; i < 50; i++) {
      Deno.writeFileSync(`${dir}/small/sub/f${i}`, new Uint8Array(1000));
    }
    Deno.mkdirSync(`${dir}/big`);
    for (let i = 0; i < 2; i++) {
      // Sparse: 64 MiB each, nothing written.
      const f = Deno.openSync(`${dir}/big/b${i}`, {
        write: true,
        create: true,
      });
      f.truncateSync(64 << 20);
      f.close();
    }
    assertEquals(sizeHintOf(`${dir}/small`), "small");
    assertEquals(sizeHintOf(`${dir}/big`), "large");
    assertEquals(sizeHintOf(`${dir}/big/b0`), "large");
    assertEquals(sizeHintOf(`${dir}/nothing-here`), undefined);
    Deno.mkdirSync(`${dir}/empty`);
    assertEquals(sizeHintOf(`${dir}/empty`), undefined);
    // The look stops after 32 files: a huge file one level down, behind
    // 40 small ones, is never seen (breadth-first).
    Deno.mkdirSync(`${dir}/wide/deeper`, { recursive: true });
    for (let i = 0; i < 40; i++) {
      Deno.writeFileSync(`${dir}/wide/f${i}`, new Uint8Array(1000));
    }
    const huge = Deno.openSync(`${dir}/wide/deeper/huge`, {
      write: true,
      create: true,
    });
    huge.truncateSync(2 ** 40);
    huge.close();
    assertEquals(sizeHintOf(`${dir}/wide`), "small");
    assertEquals(sizeHintOf(`${dir}/wide/deeper`), "large");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
