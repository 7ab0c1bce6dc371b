import { assertEquals } from "../../tests/_assert.ts";
import { pullWriters } from "./remote.ts";

Deno.test("pullWriters: only cores nobody else needs, at most 2", () => {
  // A daemon on this machine keeps a core busy too.
  assertEquals(pullWriters("127.0.0.1", 2), 0);
  assertEquals(pullWriters("::1", 3), 1);
  assertEquals(pullWriters("localhost", 16), 2);
  // A daemon elsewhere: only this process's main thread.
  assertEquals(pullWriters("192.0.2.7", 2), 1);
  assertEquals(pullWriters("backup.example", 1), 0);
  assertEquals(pullWriters("backup.example", 8), 2);
});
