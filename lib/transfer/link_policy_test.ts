import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  compressionFor,
  isLoopback,
  useDelta,
  useSendfile,
} from "./link_policy.ts";

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

Deno.test("useSendfile: as told, else everywhere but this machine", () => {
  assertEquals(useSendfile(true, "127.0.0.1"), true);
  assertEquals(useSendfile(false, "10.0.0.2"), false);
  assertEquals(useSendfile(undefined, "127.0.0.1"), false);
  assertEquals(useSendfile(undefined, "localhost"), false);
  assertEquals(useSendfile(undefined, "[::1]"), false);
  assertEquals(useSendfile(undefined, "10.0.0.2"), true);
  assertEquals(useSendfile(undefined, "nas.example"), true);
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
