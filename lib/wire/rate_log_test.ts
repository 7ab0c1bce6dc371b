import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { RateLimitedLog } from "./rate_log.ts";

Deno.test("RateLimitedLog: one line per cause per window, then a count of those held back", () => {
  let now = 0;
  const lines: string[] = [];
  const log = new RateLimitedLog((l) => lines.push(l), {
    windowMs: 10_000,
    now: () => now,
  });
  for (let i = 0; i < 500; i++) log.write("accept", "accept failed");
  log.write("token", "bad token");
  now = 9_999;
  log.write("accept", "accept failed");
  now = 10_000;
  log.write("accept", "accept failed");
  log.write("accept", "accept failed");
  assertEquals(lines, [
    "accept failed",
    "bad token",
    "accept failed (and 500 more like it since the last)",
  ]);
  assertThrows(() => new RateLimitedLog(() => {}, { windowMs: 0 }), RangeError);
});
