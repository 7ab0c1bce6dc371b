// A CliIo that captures what a command prints, and the flags of a command
// line, for calling the CLI's commands in this process.
import type { CliIo, Flags } from "../lib/cli/flags.ts";
import { parseFlags } from "../lib/cli/flags.ts";

/** An io whose output is kept in `out` and `err`. */
export function captureIo(
  env: Record<string, string> = {},
): CliIo & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    stdout: (text) => out += text,
    stderr: (text) => err += text,
    stdinIsTerminal: false,
    stderrIsTerminal: false,
    prompt: () => null,
    env: { NO_COLOR: "1", BLIT_DISABLE_PERF_HISTORY: "1", ...env },
    out: () => out,
    err: () => err,
  };
}

/** The flags `args` (a whole command line) give. */
export function flagsOf(args: string[], io: CliIo): Flags {
  return parseFlags(args, io).flags;
}
