import { assertEquals } from "../tests/_assert.ts";
import { after, every, ioTurn, sleep, within } from "./timer.ts";

Deno.test("after runs its callback once, after the delay", async () => {
  const calls: number[] = [];
  const start = performance.now();
  after(30, () => calls.push(performance.now() - start));
  assertEquals(calls.length, 0);
  await sleep(120);
  assertEquals(calls.length, 1);
  assertEquals(calls[0] >= 25, true, `fired after ${calls[0]} ms`);
});

Deno.test("a cancelled timer never runs, and cancel may be repeated", async () => {
  let fired = 0;
  const timer = after(20, () => fired++);
  timer.cancel();
  timer.cancel();
  await sleep(80);
  assertEquals(fired, 0);
});

Deno.test("after takes 0, negative and non-finite delays as 0", async () => {
  const order: string[] = [];
  after(-5, () => order.push("negative"));
  after(Number.NaN, () => order.push("nan"));
  after(0, () => order.push("zero"));
  await sleep(50);
  assertEquals(order.sort(), ["nan", "negative", "zero"]);
});

Deno.test("within settles with the work, or rejects with the timeout's error", async () => {
  assertEquals(await within(Promise.resolve(7), 1000, () => new Error("x")), 7);
  const never = new Promise<number>(() => {});
  let caught: unknown;
  try {
    await within(never, 20, () => new Deno.errors.TimedOut("too slow"));
  } catch (error) {
    caught = error;
  }
  assertEquals(caught instanceof Deno.errors.TimedOut, true);
  assertEquals((caught as Error).message, "too slow");
  let failed: unknown;
  try {
    await within(
      Promise.reject(new RangeError("bad")),
      1000,
      () => new Error(),
    );
  } catch (error) {
    failed = error;
  }
  assertEquals((failed as Error).message, "bad");
});

Deno.test("every repeats until cancelled", async () => {
  let ticks = 0;
  const timer = every(15, () => {
    ticks++;
    if (ticks === 3) timer.cancel();
  });
  // Bounded wait for the third tick (a busy machine delays timers), then
  // a wait of several periods in which no fourth may come.
  for (let i = 0; i < 250 && ticks < 3; i++) await sleep(20);
  assertEquals(ticks, 3);
  await sleep(100);
  assertEquals(ticks, 3);
});

async function run(code: string): Promise<{ out: string; ms: number }> {
  const url = new URL("./timer.ts", import.meta.url).href;
  const start = performance.now();
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { after } from "${url}";\n${code}`],
    stdin: "null",
    stderr: "inherit",
  }).output();
  assertEquals(result.code, 0);
  return {
    out: new TextDecoder().decode(result.stdout).trim(),
    ms: performance.now() - start,
  };
}

Deno.test("a pending timer keeps the process alive; a cancelled one does not", async () => {
  // The process must wait for the timer to fire...
  assertEquals(
    (await run(`after(300, () => console.log("fired"));`)).out,
    "fired",
  );
  // ...and must not wait for one that was cancelled: with a 60 s timer
  // pending, only an exit that ignores it can print "exited" this soon.
  const cancelled = await run(
    `const t = after(60_000, () => console.log("fired"));\n` +
      `t.cancel();\nconsole.log("exited");`,
  );
  assertEquals(cancelled.out, "exited");
  assertEquals(cancelled.ms < 50_000, true, `took ${cancelled.ms} ms`);
});

Deno.test("ioTurn lets pending socket I/O progress in a loop that never waits on I/O", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let received = 0;
  const serving = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(64);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      received += n;
    }
    conn.close();
  })();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const writing = conn.write(new Uint8Array(10));
  // Busy, synchronous work between turns: the bytes arrive meanwhile.
  // The accept and the read each need the runtime to poll the kernel for
  // readiness; every 16th turn guarantees such a poll, so a few dozen
  // turns must do, where a microtask loop would never see the bytes.
  const MAX_TURNS = 200;
  let turns = 0;
  for (; turns < MAX_TURNS && received < 10; turns++) {
    const until = performance.now() + 0.5;
    while (performance.now() < until) { /* busy */ }
    await ioTurn();
  }
  assertEquals(received, 10);
  assertEquals(turns < MAX_TURNS, true, `still nothing after ${turns} turns`);
  await writing;
  conn.close();
  await serving;
  listener.close();
});
