import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { compressionFor, isLoopback, useDelta } from "./link_policy.ts";

Deno.test("isLoopback: this machine's addresses and name only", () => {
  for (
    const host of [
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "[::1]",
      "localhost",
      "::ffff:127.0.0.1",
    ]
  ) {
    assertEquals(isLoopback(host), true, host);
  }
  for (const host of ["10.0.0.1", "192.168.1.2", "nas", "::2", "128.0.0.1"]) {
    assertEquals(isLoopback(host), false, host);
  }
});

Deno.test("useDelta: the user's choice wins; auto is off on loopback and on fast links", () => {
  assertEquals(useDelta("on", "127.0.0.1"), true);
  assertEquals(useDelta("off", "10.0.0.2"), false);
  assertEquals(useDelta("auto", "127.0.0.1"), false);
  assertEquals(useDelta("auto", "10.0.0.2"), true);
  assertEquals(useDelta("auto", "10.0.0.2", 25e6), true);
  assertEquals(useDelta("auto", "10.0.0.2", 1.2e9), false);
});

Deno.test("compressionFor: on always, off never, auto block by block off loopback", () => {
  assertEquals(compressionFor("on", "127.0.0.1"), { mode: "on" });
  assertEquals(compressionFor("on", "nas", 9), { mode: "on", level: 9 });
  assertEquals(compressionFor("off", "nas"), undefined);
  assertEquals(compressionFor("auto", "localhost"), undefined);
  assertEquals(compressionFor("auto", "nas"), { mode: "auto" });
  assertThrows(() => compressionFor("on", "nas", 20), RangeError);
  assertThrows(() => compressionFor("on", "nas", 0), RangeError);
});
