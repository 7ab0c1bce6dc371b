import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  normalizeRelative,
  PathEscapeError,
  resolveInside,
} from "./safe_path.ts";

Deno.test("normalizeRelative: cleans and refuses", () => {
  assertEquals(normalizeRelative("a/./b//c/"), "a/b/c");
  assertEquals(normalizeRelative("./"), "");
  for (
    const bad of [
      "../x",
      "/etc/passwd",
      "a/../../x",
      "a/..",
      "x\0y",
      "a\\..\\b",
      "a/" + "n".repeat(256),
    ]
  ) {
    assertThrows(() => normalizeRelative(bad), PathEscapeError);
  }
  assertThrows(
    () => normalizeRelative("x".repeat(4097)),
    PathEscapeError,
    /longer than 4096 bytes/,
  );
  assertThrows(
    () => normalizeRelative("a/../../x"),
    PathEscapeError,
    /^Unsafe path "a\/..\/..\/x": contains '..'$/,
  );
});

Deno.test("normalizeRelative: names already normal come back as they are, every limit still holds", () => {
  for (
    const good of [
      "a",
      "a/b",
      ".a/..b/...",
      "a../b.",
      "日本/語",
      "x".repeat(85),
      "x".repeat(255),
      "é".repeat(127),
      `${"a".repeat(80)}/`.repeat(50) + "z",
    ]
  ) {
    assertEquals(normalizeRelative(good), good);
  }
  assertEquals(normalizeRelative("a/./b"), "a/b");
  assertEquals(normalizeRelative("a/."), "a");
  assertEquals(normalizeRelative("./a"), "a");
  assertEquals(normalizeRelative("."), "");
  for (
    const bad of [
      "..",
      "a/..",
      "../a",
      "a/../b",
      "a\\b",
      "a\0b",
      "é".repeat(128),
      `a/${"é".repeat(128)}/b`,
      `${"ab/".repeat(1400)}`,
    ]
  ) {
    assertThrows(() => normalizeRelative(bad), PathEscapeError);
  }
});

Deno.test("resolveInside: links inside are fine, links out are refused, the last part is not followed", () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const outside = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${root}/real`);
  Deno.symlinkSync("real", `${root}/inner`);
  Deno.symlinkSync(outside, `${root}/out`);
  Deno.symlinkSync("/nonexistent", `${root}/dangling`);
  Deno.writeTextFileSync(`${root}/file`, "");
  assertEquals(resolveInside(root, "inner/x"), `${root}/inner/x`);
  assertEquals(resolveInside(root, "out"), `${root}/out`);
  assertEquals(
    resolveInside(root, "missing/deeper/x"),
    `${root}/missing/deeper/x`,
  );
  assertEquals(resolveInside(root, "file/x"), `${root}/file/x`);
  assertEquals(resolveInside(root, ""), root);
  assertThrows(
    () => resolveInside(root, "out/x"),
    PathEscapeError,
    /leaves the module/,
  );
  assertThrows(
    () => resolveInside(root, "dangling/x"),
    PathEscapeError,
    /dangling/,
  );
  const verified = new Set<string>();
  resolveInside(root, "real/a", { verified });
  assertEquals([...verified], ["real"]);
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(outside, { recursive: true });
});

/** What normalizeRelative must return for `path` (or undefined: refuse), written out plainly. */
function reference(path: string): string | undefined {
  if (path.includes("\0") || path.includes("\\") || path.startsWith("/")) {
    return undefined;
  }
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  if (bytes(path) > 4096) return undefined;
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === ".." || bytes(p) > 255)) return undefined;
  return parts.join("/");
}

Deno.test("normalizeRelative: the fast scan and the full check agree with a plain reference on 100,000 random paths", () => {
  // A fixed xorshift: the same paths every run.
  let seed = 0x9e3779b9;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const pieces = [
    "a",
    "b",
    ".",
    "..",
    "/",
    "//",
    "\\",
    "\0",
    "é",
    "\u{1F600}",
    "\ud800",
    "x".repeat(40),
    "y".repeat(85),
    "é".repeat(42),
    "z".repeat(700),
  ];
  let normal = 0;
  for (let i = 0; i < 100_000; i++) {
    let path = "";
    const n = Math.floor(next() * 10);
    for (let j = 0; j < n; j++) {
      path += pieces[Math.floor(next() * pieces.length)];
    }
    const want = reference(path);
    let got: string | undefined;
    try {
      got = normalizeRelative(path);
    } catch (error) {
      if (!(error instanceof PathEscapeError)) throw error;
      got = undefined;
    }
    if (got !== want) {
      throw new Error(
        `${JSON.stringify(path)}: got ${JSON.stringify(got)}, want ${
          JSON.stringify(want)
        }`,
      );
    }
    if (got === path) normal++;
  }
  // Both kinds were drawn often.
  assertEquals(normal > 10_000 && normal < 90_000, true);
});
