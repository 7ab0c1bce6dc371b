import { assertEquals } from "../../tests/_assert.ts";
import { baseName, depth, parentOf } from "./paths.ts";

Deno.test("baseName, parentOf and depth of slash-separated paths", () => {
  assertEquals([baseName("a/b/c"), baseName("a/b/"), baseName("c")], [
    "c",
    "b",
    "c",
  ]);
  assertEquals([parentOf("a/b/c"), parentOf("c"), parentOf("a/b/")], [
    "a/b",
    "",
    "a",
  ]);
  assertEquals([depth(""), depth("a"), depth("a/b/c")], [0, 0, 2]);
});
