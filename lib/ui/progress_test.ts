import { assertEquals } from "../../tests/_assert.ts";
import { ProgressBar } from "./progress.ts";

Deno.test("ProgressBar: renders counters, draws on its timer, clears on stop", async () => {
  let now = 0;
  let out = "";
  const bar = new ProgressBar({
    write: (t) => out += t,
    now: () => now,
    intervalMs: 10,
    width: 10,
  });
  bar.total(4, 4096);
  bar.file();
  bar.bytes(1024);
  now = 1000;
  assertEquals(
    bar.render(),
    "[###-------]  25% 1/4 files 1.0 KiB/4.0 KiB 1.0 KiB/s",
  );
  bar.start();
  await new Promise((r) => setTimeout(r, 35));
  bar.stop();
  assertEquals(out.startsWith("\r[###-------]"), true);
  assertEquals(out.endsWith("\r\x1b[K"), true);
});
