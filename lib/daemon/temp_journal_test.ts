import { assertEquals } from "../../tests/_assert.ts";
import { TempJournal } from "./temp_journal.ts";
import type { ModuleConfig } from "./config.ts";

Deno.test("TempJournal: directories recorded before a crash are swept at the next start; clear empties it", () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  // The sweep walks modules with the process's working directory (the
  // walk fallback): it is restored before the module goes.
  const cwd = Deno.cwd();
  try {
    Deno.mkdirSync(`${work}/state`);
    Deno.mkdirSync(`${work}/m/d`, { recursive: true });
    const module: ModuleConfig = {
      name: "m",
      path: `${work}/m`,
      readOnly: false,
      comment: "",
      mungeSymlinks: true,
    };
    const crashed = new TempJournal(`${work}/state`);
    crashed.record(module, "d");
    crashed.close();
    Deno.writeTextFileSync(`${work}/m/d/.a.blit-0123456789ab.tmp`, "");
    Deno.writeTextFileSync(`${work}/m/d/keep`, "");
    const next = new TempJournal(`${work}/state`);
    assertEquals(next.sweep([module]), 1);
    assertEquals([...Deno.readDirSync(`${work}/m/d`)].map((e) => e.name), [
      "keep",
    ]);
    // Swept once: nothing is left to sweep.
    assertEquals(new TempJournal(`${work}/state`).sweep([module]), 0);
    next.clear();
  } finally {
    Deno.chdir(cwd);
    Deno.removeSync(work, { recursive: true });
  }
});
