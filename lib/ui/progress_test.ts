import { assertEquals } from "../../tests/_assert.ts";
import { ProgressBar } from "./progress.ts";

Deno.test("ProgressBar: files, bytes, rate, ETA and route; draws on its timer, clears on stop", async () => {
  let now = 0;
  let out = "";
  const bar = new ProgressBar({
    write: (t) => out += t,
    now: () => now,
    intervalMs: 10,
    width: 10,
  });
  bar.total(4, 4096);
  bar.planned();
  bar.route("tcp", 1);
  now = 1000;
  bar.file();
  bar.bytes(1024);
  assertEquals(
    bar.render(),
    "[###-------]  25% 1/4 files 1.0 KiB/4.0 KiB 1.0 KiB/s ETA 0:03 tcp",
  );
  bar.route("tcp", 4);
  now = 2000;
  bar.bytes(3072);
  assertEquals(
    bar.render(),
    "[##########] 100% 1/4 files 4.0 KiB/4.0 KiB 2.0 KiB/s ETA 0:00 tcp x4",
  );
  bar.start();
  await new Promise((r) => setTimeout(r, 150));
  bar.stop();
  assertEquals(out.startsWith("\r[##########]"), true);
  assertEquals(out.endsWith("\r\x1b[K"), true);
});

Deno.test("ProgressBar: a phase label while scanning; links and the peer's count as the summary does", () => {
  let now = 0;
  const bar = new ProgressBar({ write: () => {}, now: () => now, width: 4 });
  assertEquals(bar.render(), "scanning 0 entries...");
  bar.scan(12_345);
  assertEquals(bar.render(), "scanning 12,345 entries...");
  // Totals arrive while the need list grows: no ETA yet.
  bar.total(1_947, 1 << 30);
  now = 1000;
  bar.bytes(1 << 29);
  assertEquals(
    bar.render(),
    "[##--]  50% 0/1,947 files 512.0 MiB/1.0 GiB 512.0 MiB/s ETA -- (scanning 12,345...)",
  );
  bar.planned();
  // A push: the daemon reports files written and links made.
  bar.peer(1_000, 9);
  assertEquals(
    bar.render(),
    "[##--]  50% 1,009/1,956 files 512.0 MiB/1.0 GiB 512.0 MiB/s ETA 0:01",
  );
  // A pull: links made here count the same way.
  const pull = new ProgressBar({ write: () => {}, now: () => now, width: 4 });
  pull.total(1, 0);
  pull.planned();
  pull.link();
  pull.file();
  assertEquals(pull.render().includes(" 2/2 files "), true);
  // A local copy: no totals, no scanning label.
  const local = new ProgressBar({ write: () => {}, now: () => now });
  local.route("local", 1);
  assertEquals(local.render(), "0 files 0 B 0 B/s local");
});

Deno.test("ProgressBar: no progress for the stall time is said once, until it moves again", async () => {
  let now = 0;
  const stalls: number[] = [];
  const bar = new ProgressBar({
    write: () => {},
    now: () => now,
    intervalMs: 10,
    onStall: (s) => stalls.push(s),
  });
  bar.total(1, 100);
  bar.start();
  await new Promise((r) => setTimeout(r, 150));
  now = 11_000;
  await new Promise((r) => setTimeout(r, 150));
  assertEquals(stalls, [11]);
  bar.bytes(10);
  await new Promise((r) => setTimeout(r, 150));
  now = 30_000;
  await new Promise((r) => setTimeout(r, 150));
  bar.stop();
  assertEquals(stalls, [11, 19]);
});
