import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { UsageError } from "../client/address.ts";
import {
  CliError,
  type CliIo,
  expectArgs,
  parseFlags,
  pullWritersFromEnv,
} from "./flags.ts";

const io = (terminal: boolean): CliIo => ({
  stdout: () => {},
  stderr: () => {},
  stdinIsTerminal: false,
  stderrIsTerminal: terminal,
  prompt: () => null,
  env: {},
});

Deno.test("parseFlags: the bar only on a terminal and never with --json, -v or -q; defaults for streams and retries", () => {
  const bar = (args: string[], terminal = true) =>
    parseFlags(["push", ...args, "a", "blit://h/m"], io(terminal)).flags
      .progress;
  assertEquals([bar([]), bar([], false), bar(["-v"]), bar(["-q"])], [
    true,
    false,
    false,
    false,
  ]);
  assertEquals(bar(["--progress"], false), true);
  const { flags, command, positionals } = parseFlags(
    ["copy", "a", "b"],
    io(false),
  );
  assertEquals([command, positionals], ["copy", ["a", "b"]]);
  assertEquals([flags.streams, flags.retries, flags.bwlimit], [
    0,
    3,
    undefined,
  ]);
});

Deno.test("parseFlags: out-of-range numbers, bad rates, empty patterns and clashing flags are usage errors", () => {
  const usage = (args: string[], pattern: RegExp) =>
    assertThrows(() => parseFlags(args, io(false)), UsageError, pattern);
  usage(
    ["push", "--streams", "17"],
    /^--streams must be a whole number from 1 to 16, got "17"$/,
  );
  usage(
    ["push", "--retries", "x"],
    /^--retries must be a whole number from 0 to 100, got "x"$/,
  );
  usage(["push", "--bwlimit", "fast"], /^--bwlimit must be a rate/);
  // rsync's units: a bare number is KiB/s; K/M/G powers of 1024; B bytes;
  // 0 is no limit.
  const rate = (text: string) =>
    parseFlags(["push", "--bwlimit", text, "a", "blit://h/m"], io(false)).flags
      .bwlimit;
  assertEquals(
    ["1000", "10M", "500K", "800B", "1.5m", "2KB", "0"].map(rate),
    [1024000, 10485760, 512000, 800, 1572864, 2000, undefined],
  );
  usage(["push", "--exclude", "/"], /^--exclude needs a pattern, got "\/"$/);
  usage(
    ["copy", "-v", "-q"],
    /^--verbose and --quiet don't go together: pick one$/,
  );
  usage(["copy", "--stats", "--json"], /^--stats and --json don't go together/);
});

Deno.test("parseFlags reads --exclude-from in place: comments and blank lines skipped, bare globs excluded", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/rules`, "# notes\n\n*.o\n+ keep.o\n");
    const { flags } = parseFlags(
      [
        "copy",
        "--include",
        "a",
        "--exclude-from",
        `${dir}/rules`,
        "--exclude",
        "z",
        "s",
        "d",
      ],
      io(false),
    );
    assertEquals(flags.exclude, ["+ a", "- *.o", "+ keep.o", "- z"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
  assertThrows(
    () =>
      parseFlags(
        ["copy", "--exclude-from", "/definitely/not/here", "a", "b"],
        io(false),
      ),
    CliError,
    /^cannot read exclude file \/definitely\/not\/here: no such file or directory$/,
  );
});

Deno.test("expectArgs and pullWritersFromEnv: one line each for the wrong count or value", () => {
  expectArgs("list", ["blit://h/m"], 1, "REMOTE");
  assertThrows(
    () => expectArgs("push", ["a"], 2, "LOCAL REMOTE"),
    UsageError,
    /^push takes LOCAL REMOTE; got 1 argument$/,
  );
  assertEquals([pullWritersFromEnv(undefined), pullWritersFromEnv("2")], [
    undefined,
    2,
  ]);
  assertThrows(
    () => pullWritersFromEnv("lots"),
    UsageError,
    /^BLIT_PULL_WRITERS must be a whole number 0-8, got "lots"$/,
  );
});
