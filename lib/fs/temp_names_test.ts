import { assertEquals } from "../../tests/_assert.ts";
import { isTempName, partialNameFor, tempNameFor } from "./temp_names.ts";

Deno.test("tempNameFor: a hidden sibling, fresh each time, that isTempName knows; a long name is cut to stay legal", () => {
  const a = tempNameFor("file.txt");
  const b = tempNameFor("file.txt");
  assertEquals(a !== b, true);
  assertEquals(/^\.file\.txt\.blit-[0-9a-f]{12}\.tmp$/.test(a), true);
  assertEquals([isTempName(a), isTempName("file.txt")], [true, false]);
  const long = tempNameFor("é".repeat(200));
  assertEquals(new TextEncoder().encode(long).length <= 255, true);
  assertEquals(isTempName(long), true);
});

Deno.test("partialNameFor: the same name every time; two long names never share one", () => {
  assertEquals(partialNameFor("big"), ".big.blit-partial.tmp");
  assertEquals(partialNameFor("big"), partialNameFor("big"));
  const x = "x".repeat(240);
  const [a, b] = [partialNameFor(`${x}a`), partialNameFor(`${x}b`)];
  assertEquals(a !== b, true);
  assertEquals([isTempName(a), new TextEncoder().encode(a).length <= 255], [
    true,
    true,
  ]);
});
