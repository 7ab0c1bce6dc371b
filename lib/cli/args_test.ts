import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { UsageError } from "../client/address.ts";
import { parseCommandLine, seeHelp, valueOf } from "./args.ts";

Deno.test("parseCommandLine: bundled short flags, --opt=value and --opt value, aliases, -- ends options", () => {
  const p = parseCommandLine([
    "push",
    "-avn",
    "--streams=4",
    "--retries",
    "2",
    "--delete",
    "--",
    "-odd-name",
    "blit://h/m",
  ]);
  assertEquals(p.command, "push");
  assertEquals(p.positionals, ["-odd-name", "blit://h/m"]);
  assertEquals(
    [...p.flags].sort(),
    ["archive", "dry-run", "mirror", "verbose"].sort(),
  );
  assertEquals([valueOf(p, "streams"), valueOf(p, "retries")], ["4", "2"]);
});

Deno.test("parseCommandLine: filter rules keep their command-line order; --exclude-from marks its place", () => {
  const p = parseCommandLine([
    "copy",
    "--include",
    "*.txt",
    "--exclude-from",
    "f",
    "--exclude",
    "*",
    "a",
    "b",
  ]);
  assertEquals(p.rules, ["+ *.txt", "@from", "- *"]);
  assertEquals(p.values.get("exclude-from"), ["f"]);
});

Deno.test("parseCommandLine: unknown options, missing values and options that don't apply are one-line usage errors", () => {
  assertThrows(
    () => parseCommandLine(["push", "--frob"]),
    UsageError,
    /^unknown option '--frob'$/,
  );
  assertThrows(
    () => parseCommandLine(["pull", "-nvx"]),
    UsageError,
    /^unknown option '-x' \(in '-nvx'\)$/,
  );
  assertThrows(
    () => parseCommandLine(["push", "--streams"]),
    UsageError,
    /^option '--streams' needs a value \(N\)$/,
  );
  assertThrows(
    () => parseCommandLine(["list", "--mirror", "blit://h/m"]),
    UsageError,
    /^option '--mirror' does not apply to list$/,
  );
  assertThrows(
    () => parseCommandLine(["copy", "--mirror=yes", "a", "b"]),
    UsageError,
    /^option '--mirror' takes no value$/,
  );
});

Deno.test("seeHelp names the command's help, or the main one", () => {
  assertEquals(seeHelp("push"), "(see 'blit push --help')");
  assertEquals(seeHelp("nosuch"), "(see 'blit --help')");
  assertEquals(seeHelp(), "(see 'blit --help')");
});
