// The programs in examples/ run, as a user would run them.
import { assertEquals } from "./_assert.ts";
import { REPO } from "./_helpers.ts";

Deno.test("examples/filtered_copy.ts copies only matching files, then nothing", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${work}/src/notes`, { recursive: true });
  Deno.writeTextFileSync(`${work}/src/a.txt`, "a");
  Deno.writeTextFileSync(`${work}/src/b.bin`, "b");
  Deno.writeTextFileSync(`${work}/src/notes/c.txt`, "c");
  const run = async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${REPO}/examples/filtered_copy.ts`,
        `${work}/src`,
        `${work}/dst`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout);
  };
  assertEquals(await run(), "copied 2 files ending in .txt; 0 up to date\n");
  assertEquals(Deno.readTextFileSync(`${work}/dst/notes/c.txt`), "c");
  assertEquals(
    [...Deno.readDirSync(`${work}/dst`)].map((e) => e.name).sort(),
    ["a.txt", "notes"],
  );
  assertEquals(await run(), "copied 0 files ending in .txt; 2 up to date\n");
  Deno.removeSync(work, { recursive: true });
});
