import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { UsageError } from "../client/address.ts";
import { COMMANDS } from "./args.ts";
import { commandHelp, completions, mainHelp } from "./help.ts";

Deno.test("mainHelp names every command and the version; commandHelp lists a command's options", () => {
  const main = mainHelp("9.9.9");
  assertEquals(main.includes("9.9.9"), true);
  for (const command of Object.keys(COMMANDS)) {
    assertEquals(main.includes(command), true, command);
  }
  const push = commandHelp("push");
  for (const option of ["--mirror", "--dry-run", "--bwlimit", "--help"]) {
    assertEquals(push.includes(option), true, option);
  }
  assertEquals(commandHelp("list").includes("--mirror"), false);
});

Deno.test("completions for bash, zsh and fish name the commands; another shell is a usage error", () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const text = completions(shell);
    assertEquals(text.includes("push") && text.includes("mirror"), true);
  }
  assertThrows(
    () => completions("tcsh"),
    UsageError,
    /^completions takes bash, zsh or fish, got "tcsh"$/,
  );
});
