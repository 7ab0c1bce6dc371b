import { EventEmitter } from "node:events";
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import type { ServiceError } from "./errors.ts";
import { CallGuard, IdleWatch } from "./call_guard.ts";
import type { PushCall } from "./context.ts";
import { testContext } from "../../tests/_service_context.ts";

Deno.test("IdleWatch: fires once the peer is quiet for its time; a touch puts it off, stop cancels it", async () => {
  const fired: ServiceError[] = [];
  const watch = new IdleWatch(60, (error) => fired.push(error));
  await new Promise((r) => setTimeout(r, 40));
  watch.touch();
  await new Promise((r) => setTimeout(r, 40));
  assertEquals(fired.length, 0);
  await new Promise((r) => setTimeout(r, 60));
  assertEquals(fired.length, 1);
  assertEquals(fired[0].code, 4);
  assertEquals(
    fired[0].message,
    "Transfer idle for 0 s; the daemon gave up on it",
  );
  const stopped = new IdleWatch(20, (error) => fired.push(error));
  stopped.stop();
  await new Promise((r) => setTimeout(r, 40));
  assertEquals(fired.length, 1);
});

Deno.test("CallGuard: a client that goes away fails the reader and runs every stop; close frees the slot", async () => {
  const ctx = testContext();
  const call = Object.assign(new EventEmitter(), {
    getPeer: () => "127.0.0.1:5000",
    pause() {},
    resume() {},
  }) as unknown as PushCall;
  const guard = new CallGuard(call, ctx);
  try {
    guard.admit(ctx);
    assertEquals(ctx.admission.sessions, 1);
    const stops: string[] = [];
    guard.onStop((error) => stops.push(error.message));
    const reading = guard.reader.next();
    (call as unknown as EventEmitter).emit("cancelled");
    await assertRejects(() => reading, Error, /^client went away$/);
    assertEquals(stops, ["client went away"]);
  } finally {
    guard.close();
    ctx.dispose();
  }
  assertEquals(ctx.admission.sessions, 0);
  assertEquals((call as unknown as EventEmitter).listenerCount("cancelled"), 0);
});
