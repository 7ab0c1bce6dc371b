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
    ].map((p) => m(p)),
    [true, true, true, true, true, true, false, false],
  );
  assertEquals(excludeMatcher([])("anything"), false);
  // A trailing slash: directories only.
  assertEquals(excludeMatcher(["dir/"])("a/dir", true), true);
  assertEquals(excludeMatcher(["dir/"])("a/dir", false), false);
  assertThrows(() => excludeMatcher([""]), TypeError, /empty/);
  assertThrows(() => excludeMatcher(["/"]), TypeError, /empty/);
});

Deno.test("excludeMatcher: include and exclude rules in order, the first match decides", () => {
  // rsync's "only the .txt files": directories kept, other files not.
  const txt = excludeMatcher(["+ *.txt", "+ */", "- *"]);
  assertEquals(txt("sub", true), false);
  assertEquals(txt("sub/c.txt"), false);
  assertEquals(txt("sub/b.log"), true);
  assertEquals(txt("link"), true);
  // Order matters: the same rules the other way round exclude everything.
  const reversed = excludeMatcher(["- *", "+ *.txt"]);
  assertEquals(reversed("a.txt"), true);
  // An include before an exclude rescues one file.
  const rescue = excludeMatcher(["+ keep.log", "- *.log"]);
  assertEquals([rescue("a/keep.log"), rescue("a/other.log")], [false, true]);
  // No rule matches: kept; a bare pattern excludes.
  assertEquals(excludeMatcher(["+ *.c"])("x.h"), false);
  assertEquals(excludeMatcher(["*.o"])("x.o"), true);
  assertThrows(() => excludeMatcher(["+ "]), TypeError, /empty/);
});
