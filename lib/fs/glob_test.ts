import { assertEquals } from "../../tests/_assert.ts";
import { globMatcher } from "./glob.ts";

function table(glob: string, paths: string[]): boolean[] {
  const m = globMatcher(glob);
  return paths.map((p) => m(p));
}

Deno.test("globMatcher: *, ** and ? with rsync's meanings; dotfiles are names like any other", () => {
  assertEquals(table("*.o", ["x.o", ".o", "a/x.o", "x.oo"]), [
    true,
    true,
    false,
    false,
  ]);
  assertEquals(table("a/**/b", ["a/b", "a/x/b", "a/x/y/b", "a/xb", "b"]), [
    true,
    true,
    true,
    false,
    false,
  ]);
  assertEquals(table("build/**", ["build", "build/o", "build/a/b", "buildx"]), [
    true,
    true,
    true,
    false,
  ]);
  assertEquals(table("**/x", ["x", "a/x", "a/b/x", "ax"]), [
    true,
    true,
    true,
    false,
  ]);
  // `**` inside a name runs across slashes too (rsync).
  assertEquals(table("a**b", ["ab", "a/x/b", "ax"]), [true, true, false]);
  assertEquals(table("?.c", ["a.c", "..c", ".c", "ab.c", "/.c"]), [
    true,
    true,
    false,
    false,
    false,
  ]);
  assertEquals(table(".*", [".git", ".", "a"]), [true, true, false]);
});

Deno.test("globMatcher: classes, braces, escapes, and characters that are not special", () => {
  assertEquals(table("[abc].c", ["a.c", "d.c", "/.c"]), [true, false, false]);
  assertEquals(table("[!a].c", ["a.c", "b.c", "/.c"]), [false, true, false]);
  assertEquals(table("[^a].c", ["a.c", "b.c"]), [false, true]);
  assertEquals(table("[a-c]x", ["bx", "dx", "-x"]), [true, false, false]);
  assertEquals(table("[a-]", ["a", "-", "b"]), [true, true, false]);
  assertEquals(table("[]]", ["]", "a"]), [true, false]);
  assertEquals(table("*.{o,a}", ["y.o", "y.a", "y.b", "y.{o,a}"]), [
    true,
    true,
    false,
    false,
  ]);
  assertEquals(
    table("src/{lib,{x,y}z}/*", ["src/lib/a", "src/yz/a", "src/y/a"]),
    [
      true,
      true,
      false,
    ],
  );
  assertEquals(table("a\\*b", ["a*b", "aXb"]), [true, false]);
  // Unclosed brackets and braces, and regex characters, are literal.
  assertEquals(table("x[", ["x[", "x"]), [true, false]);
  assertEquals(table("{a", ["{a", "a"]), [true, false]);
  assertEquals(table("a{b}", ["a{b}", "ab"]), [true, false]);
  assertEquals(table("(x)|y.+$", ["(x)|y.+$", "x", "y"]), [true, false, false]);
});
