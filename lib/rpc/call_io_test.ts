import { EventEmitter } from "node:events";
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import {
  CallClosedError,
  MessageReader,
  SendWindow,
  writeMessage,
} from "./call_io.ts";

Deno.test("writeMessage waits for a full call to drain, and fails when the call closes instead", async () => {
  const call = Object.assign(new EventEmitter(), {
    write: () => false,
  });
  let drained = false;
  const writing = writeMessage(call, 1).then(() => drained = true);
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(drained, false);
  call.emit("drain");
  await writing;
  assertEquals(drained, true);
  const closing = writeMessage(call, 2);
  call.emit("close");
  await assertRejects(() => closing, CallClosedError);
});

Deno.test("MessageReader pauses a call that runs ahead and resumes it at half; an error fails the waiting read", async () => {
  const paused: boolean[] = [];
  const source = Object.assign(new EventEmitter(), {
    pause: () => paused.push(true),
    resume: () => paused.push(false),
  });
  const reader = new MessageReader<number>(source, { highWaterMark: 4 });
  for (let i = 0; i < 4; i++) source.emit("data", i);
  assertEquals(paused, [true]);
  assertEquals(
    [await reader.next(), await reader.next(), await reader.next()],
    [0, 1, 2],
  );
  assertEquals(paused, [true, false]);
  await reader.next();
  const waiting = reader.next();
  source.emit("error", new Error("reset"));
  await assertRejects(() => waiting, Error, /^reset$/);
});

Deno.test("SendWindow holds a sender a window ahead of the acknowledgements; a failure wakes it with the error", async () => {
  const window = new SendWindow(10);
  await window.reserve(8);
  let through = false;
  const next = window.reserve(4).then(() => through = true);
  await new Promise((r) => setTimeout(r, 5));
  assertEquals(through, false);
  window.ack(8);
  await next;
  const stuck = window.reserve(10);
  window.fail(new Error("receiver gone"));
  await assertRejects(() => stuck, Error, /^receiver gone$/);
});
