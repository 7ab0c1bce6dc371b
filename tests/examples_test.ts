// The programs in examples/ run, as a user would run them.
import { assertEquals } from "./_assert.ts";
import { REPO } from "./_helpers.ts";

/** Runs `examples/NAME SRC DST` as a user would; what it printed. */
async function runExample(name: string, work: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${REPO}/examples/${name}`,
      `${work}/src`,
      `${work}/dst`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test("examples/filtered_copy.ts copies only matching files, then nothing", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${work}/src/notes`, { recursive: true });
  Deno.writeTextFileSync(`${work}/src/a.txt`, "a");
  Deno.writeTextFileSync(`${work}/src/b.bin`, "b");
  Deno.writeTextFileSync(`${work}/src/notes/c.txt`, "c");
  const run = () => runExample("filtered_copy.ts", work);
  assertEquals(await run(), "copied 2 files ending in .txt; 0 up to date\n");
  assertEquals(Deno.readTextFileSync(`${work}/dst/notes/c.txt`), "c");
  assertEquals(
    [...Deno.readDirSync(`${work}/dst`)].map((e) => e.name).sort(),
    ["a.txt", "notes"],
  );
  assertEquals(await run(), "copied 0 files ending in .txt; 2 up to date\n");
  Deno.removeSync(work, { recursive: true });
});

Deno.test("examples/transfer_in_memory.ts brings links and empty directories along, then moves nothing", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${work}/src/empty`, { recursive: true });
    Deno.writeTextFileSync(`${work}/src/a.txt`, "abc");
    Deno.symlinkSync("a.txt", `${work}/src/link`);
    Deno.chmodSync(`${work}/src/a.txt`, 0o640);
    const run = () => runExample("transfer_in_memory.ts", work);
    assertEquals(await run(), "2 files and links (3 bytes); 0 up to date\n");
    assertEquals(Deno.readTextFileSync(`${work}/dst/a.txt`), "abc");
    assertEquals(Deno.statSync(`${work}/dst/a.txt`).mode! & 0o777, 0o640);
    assertEquals(Deno.readLinkSync(`${work}/dst/link`), "a.txt");
    assertEquals([...Deno.readDirSync(`${work}/dst/empty`)], []);
    assertEquals(await run(), "0 files and links (0 bytes); 2 up to date\n");
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
