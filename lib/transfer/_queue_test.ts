import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { WorkQueue } from "./_queue.ts";

Deno.test("WorkQueue: items in order as they come, ends after close, fails its consumer, has one consumer", async () => {
  const queue = new WorkQueue<number>();
  assertEquals(queue.idle, true);
  const taken: number[] = [];
  const consuming = (async () => {
    for await (const n of queue) taken.push(n);
  })();
  queue.push(1);
  queue.push(2);
  await new Promise((r) => setTimeout(r, 0));
  queue.push(3);
  queue.close();
  await consuming;
  assertEquals(taken, [1, 2, 3]);
  assertEquals([queue.closed, queue.idle], [true, false]);
  assertThrows(() => queue.push(4), Error, /^WorkQueue is closed$/);
  await assertRejects(
    async () => {
      for await (const _ of queue) { /* a second consumer */ }
    },
    Error,
    /^WorkQueue has one consumer$/,
  );
  const failing = new WorkQueue<number>();
  failing.push(1);
  failing.fail(new Error("gone"));
  await assertRejects(
    async () => {
      for await (const _ of failing) { /* fails first */ }
    },
    Error,
    /^gone$/,
  );
});
