import { assertEquals } from "../../tests/_assert.ts";
import { Sender } from "./sender.ts";

/** Polls `done` between event-loop turns (bounded), for stages to settle. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 5000 && !done(); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
}

Deno.test("Sender.need: files in manifest order, each once, the rest forgotten as the receiver decides", async () => {
  const sender = new Sender("/nonexistent");
  const file = (path: string) => ({
    path,
    kind: "file" as const,
    size: 2,
    mtimeMs: 0,
    mode: 0o644,
  });
  const sent: string[] = [];
  await sender.offer(
    [
      file("a"),
      { ...file("d"), kind: "dir" as const, size: 0 },
      file("b"),
      file("c"),
    ],
    (m) => {
      sent.push(
        m.kind === "manifest"
          ? `${m.entries.length} entries`
          : `end ${m.count}`,
      );
      return Promise.resolve();
    },
  );
  assertEquals(sent, ["4 entries", "end 4"]);
  assertEquals(sender.held, 3);
  assertEquals(sender.need("b"), true); // "a" is passed over
  assertEquals(sender.need("a"), false); // behind one already named
  assertEquals(sender.need("b"), false); // twice
  assertEquals(sender.need("zz"), false); // never offered
  assertEquals([sender.needed, sender.neededBytes, sender.held], [1, 2, 0]);
});

Deno.test("Sender: a receiver that reports progress keeps the offer at most 65,536 files ahead; a failure releases it", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const entries = function* (n: number) {
      for (let i = 0; i < n; i++) {
        yield {
          path: `f${i}`,
          kind: "file" as const,
          size: 1,
          mtimeMs: 0,
          mode: 0o644,
        };
      }
    };
    const sender = new Sender(root);
    sender.forget(1); // it reports
    let done = false;
    const offering = sender.offer(entries(200_000), () => Promise.resolve())
      .then(() => done = true);
    await until(() => sender.held >= 65_536);
    await new Promise((r) => setTimeout(r, 20));
    assertEquals([sender.held, done], [65_536, false]);
    sender.forget(40_000); // 25,536 left: under half, it goes on
    await until(() => sender.held >= 65_536);
    assertEquals([sender.held, done], [65_536, false]);
    sender.fail(new Error("the receiver went away"));
    await offering;
    assertEquals(done, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
