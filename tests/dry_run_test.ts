// --dry-run tells the truth: its counts are the counts of the real run that
// follows, locally, for a push and for a pull.
import { assertEquals } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";

const env = { BLIT_DISABLE_PERF_HISTORY: "1" };

/** A source of 3 files and a destination with 2 of them plus extras. */
function trees(work: string, src: string, dst: string): void {
  Deno.mkdirSync(`${src}/keep`, { recursive: true });
  Deno.writeTextFileSync(`${src}/keep/a`, "a");
  Deno.writeTextFileSync(`${src}/keep/b`, "b");
  Deno.writeTextFileSync(`${src}/new`, "new");
  Deno.mkdirSync(`${dst}/keep`, { recursive: true });
  Deno.writeTextFileSync(`${dst}/keep/a`, "a");
  Deno.writeTextFileSync(`${dst}/keep/b`, "b");
  for (const name of ["a", "b"]) {
    const mtime = Deno.statSync(`${src}/keep/${name}`).mtime!;
    Deno.utimeSync(`${dst}/keep/${name}`, mtime, mtime);
  }
  // Extraneous: a file, a link, and a directory of 4 files in 2 levels.
  Deno.writeTextFileSync(`${dst}/keep/stale`, "s");
  Deno.symlinkSync("nowhere", `${dst}/dangling`);
  Deno.mkdirSync(`${dst}/old/deeper`, { recursive: true });
  for (const name of ["1", "2", "deeper/3", "deeper/4"]) {
    Deno.writeTextFileSync(`${dst}/old/${name}`, name);
  }
  Deno.mkdirSync(`${work}/unused`, { recursive: true });
}

async function mirror(src: string, dst: string, dryRun: boolean) {
  const r = await runCli(
    [
      "mirror",
      "--json",
      ...(dryRun ? ["--dry-run"] : []),
      `${src}/`,
      `${dst}/`,
    ],
    { env },
  );
  assertEquals(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  return {
    sent: json.files_transferred,
    deleted: json.files_deleted,
    skipped: json.files_skipped,
  };
}

Deno.test("mirror --dry-run counts what the real run then does: local, push and pull", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-dry-" }));
  // Deleted: 4 files, a link, and the 2 directories they were in.
  const expected = { sent: 1, deleted: 8, skipped: 2 };
  // Local.
  trees(work, `${work}/l-src`, `${work}/l-dst`);
  assertEquals(await mirror(`${work}/l-src`, `${work}/l-dst`, true), expected);
  assertEquals(await mirror(`${work}/l-src`, `${work}/l-dst`, false), expected);
  // Push and pull against a daemon.
  Deno.mkdirSync(`${work}/module`);
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
  });
  try {
    trees(work, `${work}/p-src`, `${work}/module/p`);
    const pushDst = `${daemon.url}/m/p`;
    assertEquals(await mirror(`${work}/p-src`, pushDst, true), expected);
    assertEquals(await mirror(`${work}/p-src`, pushDst, false), expected);
    trees(work, `${work}/module/q`, `${work}/q-dst`);
    const pullSrc = `${daemon.url}/m/q`;
    assertEquals(await mirror(pullSrc, `${work}/q-dst`, true), expected);
    assertEquals(await mirror(pullSrc, `${work}/q-dst`, false), expected);
  } finally {
    assertEquals(await daemon.stop(), 0);
  }
  Deno.removeSync(work, { recursive: true });
});
