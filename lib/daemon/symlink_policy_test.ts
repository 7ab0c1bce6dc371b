import { assertEquals } from "../../tests/_assert.ts";
import {
  MUNGE_PREFIX,
  mungeTarget,
  staysInside,
  unmungeTarget,
} from "./symlink_policy.ts";

Deno.test("staysInside: relative targets that climb no higher than the link's directory", () => {
  const cases: [string, string, boolean][] = [
    ["l", "x", true],
    ["l", "./x/y", true],
    ["l", "..", false],
    ["l", "../x", false],
    ["a/l", "..", true],
    ["a/l", "../x", true],
    ["a/l", "../../x", false],
    ["a/b/l", "../../x/y", true],
    ["a/b/l", "../../../x", false],
    // A ".." after a name could climb out through a link named there.
    ["a/b/l", "x/../y", false],
    ["a/b/l", "../x/..", false],
    ["l", "/etc/passwd", false],
    ["l", "", false],
    ["l", "a\0b", false],
  ];
  for (const [path, target, inside] of cases) {
    assertEquals(staysInside(path, target), inside, `${path} -> ${target}`);
  }
});

Deno.test("mungeTarget/unmungeTarget: escaping targets munged, every target round-trips", () => {
  assertEquals(mungeTarget("l", "/etc/shadow"), `${MUNGE_PREFIX}/etc/shadow`);
  assertEquals(mungeTarget("d/l", "../../x"), `${MUNGE_PREFIX}../../x`);
  assertEquals(mungeTarget("d/l", "../x"), "../x");
  for (
    const target of [
      "/etc/shadow",
      "../../../x",
      "x",
      "../y",
      `${MUNGE_PREFIX}already`,
      "a/../../b",
    ]
  ) {
    assertEquals(unmungeTarget(mungeTarget("d/l", target)), target);
  }
});
