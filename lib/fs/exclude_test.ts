import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { excludeMatcher } from "./exclude.ts";

Deno.test("excludeMatcher: names match at any depth, paths are anchored", () => {
  const m = excludeMatcher(["*.tmp", ".git", "build/**", "/top"]);
  assertEquals(
    [
      "a.tmp",
      "x/y/b.tmp",
      ".git",
      "sub/.git",
      "build/out.o",
      "top",
      "a/top",
      "keep.txt",
    ].map(m),
    [true, true, true, true, true, true, false, false],
  );
  assertEquals(excludeMatcher([])("anything"), false);
  assertEquals(excludeMatcher(["dir/"])("a/dir"), true);
  assertThrows(() => excludeMatcher([""]), TypeError, /empty/);
  assertThrows(() => excludeMatcher(["/"]), TypeError, /empty/);
});
