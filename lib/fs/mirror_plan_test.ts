import { assertEquals } from "../../tests/_assert.ts";
import { applyDeletions, planDeletions } from "./mirror_plan.ts";

Deno.test("planDeletions: deepest first, whole extraneous dirs once, excluded kept", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${root}/keep/old/deeper`, { recursive: true });
  Deno.writeTextFileSync(`${root}/keep/old/deeper/f`, "");
  Deno.writeTextFileSync(`${root}/keep/k`, "");
  Deno.writeTextFileSync(`${root}/keep/stale`, "");
  Deno.writeTextFileSync(`${root}/gone.txt`, "");
  Deno.writeTextFileSync(`${root}/notes.bak`, "");
  Deno.writeTextFileSync(`${root}/keep/.k.blit-0123456789ab.tmp`, "");
  const plan = await planDeletions(root, new Set(["keep", "keep/k"]), {
    exclude: ["*.bak"],
  });
  assertEquals(plan.map((e) => `${e.kind}:${e.path}`), [
    "dir:keep/old",
    "file:keep/stale",
    "file:gone.txt",
  ]);
  const counts = applyDeletions(root, plan);
  assertEquals(counts, { files: 3, dirs: 2 });
  assertEquals([...Deno.readDirSync(root)].map((e) => e.name).sort(), [
    "keep",
    "notes.bak",
  ]);
  assertEquals(applyDeletions(root, plan), { files: 0, dirs: 0 });
  Deno.removeSync(root, { recursive: true });
});
