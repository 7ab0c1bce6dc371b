// `blit`: the command-line client (push, pull, copy, mirror, list, purge, ...).
import {
  type CliIo,
  expectArgs,
  parseFlags,
  remoteArg,
} from "./lib/cli/flags.ts";
import { hostPort, UsageError } from "./lib/client/address.ts";
import { escapeControls } from "./lib/ui/escape.ts";
import { COMMANDS, seeHelp } from "./lib/cli/args.ts";
import { commandHelp, completions, mainHelp } from "./lib/cli/help.ts";
import { PathEscapeError } from "./lib/fs/safe_path.ts";

import { VERSION } from "./lib/version.ts";

/** blit's version (lib/version.ts; deno.json says the same). */
export { VERSION };

// A command's code is loaded when it runs: `blit --version`, help and
// usage errors don't pay for the transfer and gRPC modules (~0.1 s).
let transfers: typeof import("./lib/cli/transfer.ts") | undefined;
let files: typeof import("./lib/fs/atomic_file.ts") | undefined;

async function transferCommand(): Promise<
  typeof import("./lib/cli/transfer.ts")
> {
  transfers ??= await import("./lib/cli/transfer.ts");
  // The files a transfer writes, to abort on an error or a signal.
  files ??= await import("./lib/fs/atomic_file.ts");
  return transfers;
}

function defaultIo(): CliIo {
  const encoder = new TextEncoder();
  return {
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    stdinIsTerminal: Deno.stdin.isTerminal(),
    stderrIsTerminal: Deno.stderr.isTerminal(),
    prompt: (question) => globalThis.prompt(question),
    env: Deno.env.toObject(),
  };
}

function describe(error: unknown): string {
  if (error instanceof Deno.errors.PermissionDenied) {
    return `permission denied: ${error.message}`;
  }
  if (error instanceof Deno.errors.NotFound) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * Runs the CLI on `args` and returns the exit status (0, 1 or 2).
 *
 * @example
 * ```ts
 * import { main } from "./cli.ts";
 * let out = "";
 * const code = await main(["--version"], { stdout: (t) => out += t, stderr: () => {}, stdinIsTerminal: false, stderrIsTerminal: false, prompt: () => null, env: {} });
 * if (!(code === 0 && out.startsWith("blit "))) throw new Error("example failed");
 * ```
 */
export async function main(
  args: string[],
  io: CliIo = defaultIo(),
): Promise<number> {
  try {
    const { flags, command, positionals: rest } = parseFlags(args, io);
    if (flags.version || command === "version") {
      if (command === "version") expectArgs(command, rest, 0, "no arguments");
      io.stdout(`blit ${VERSION}\n`);
      return 0;
    }
    if (command === undefined) {
      if (flags.help) {
        io.stdout(mainHelp(VERSION) + "\n");
        return 0;
      }
      io.stderr(mainHelp(VERSION) + "\n");
      return 2;
    }
    if (!COMMANDS[command]) {
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
    if (command === "help") {
      if (rest.length > 1) expectArgs(command, rest, 1, "one command");
      io.stdout(
        (rest.length === 0 ? mainHelp(VERSION) : commandHelp(rest[0])) + "\n",
      );
      return 0;
    }
    if (flags.help) {
      io.stdout(commandHelp(command) + "\n");
      return 0;
    }
    switch (command) {
      case "push":
      case "pull":
      case "copy":
      case "mirror":
        expectArgs(
          command,
          rest,
          2,
          command === "push"
            ? "LOCAL REMOTE"
            : command === "pull"
            ? "REMOTE LOCAL"
            : "SRC DST",
        );
        return await (await transferCommand()).transfer(
          command,
          rest[0],
          rest[1],
          flags,
          io,
        );
      case "list": {
        expectArgs(command, rest, 1, "REMOTE");
        const remote = remoteArg(rest[0], flags, io);
        const { list } = await import("./lib/cli/admin.ts");
        return await list(remote, flags, io);
      }
      case "purge": {
        expectArgs(command, rest, 1, "REMOTE");
        const remote = remoteArg(rest[0], flags, io);
        const { purge } = await import("./lib/cli/admin.ts");
        return await purge(remote, flags, io, rest[0]);
      }
      case "modules": {
        expectArgs(command, rest, 1, "blit://HOST[:PORT]");
        const { modules } = await import("./lib/cli/admin.ts");
        return await modules(rest[0], flags, io);
      }
      case "diagnostics": {
        if (rest.length < 1) expectArgs(command, rest, 1, "a topic (perf)");
        const { diagnostics } = await import("./lib/cli/diagnostics.ts");
        return await diagnostics(rest, flags, io);
      }
      case "completions":
        expectArgs(command, rest, 1, "a shell: bash, zsh or fish");
        io.stdout(completions(rest[0]));
        return 0;
    }
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  } catch (error) {
    files?.abortAllOpen({ keepPartials: true });
    if (error instanceof UsageError) {
      // The command the user meant, for the pointer to its help.
      const command = args.find((a) => COMMANDS[a] !== undefined);
      io.stderr(
        `blit: error: ${escapeControls(error.message)} ${seeHelp(command)}\n`,
      );
      return 2;
    }
    if (error instanceof PathEscapeError) {
      io.stderr(`blit: error: ${escapeControls(error.message)}\n`);
      return 1;
    }
    io.stderr(`blit: error: ${escapeControls(describe(error))}\n`);
    if (io.env.BLIT_DEBUG === "1" && error instanceof Error) {
      io.stderr(`${error.stack}\n`);
    }
    return 1;
  }
}

if (import.meta.main) {
  const stop = () => {
    transfers?.stopProgress();
    // Big files' partial copies stay: running the command again resumes them.
    const kept = files?.abortAllOpen({ keepPartials: true }).kept ?? 0;
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `blit: error: interrupted${
          kept > 0
            ? `; kept ${kept} partial ${
              kept === 1 ? "file" : "files"
            } (run the same command again to resume)`
            : ""
        }\n`,
      ),
    );
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  Deno.exit(await main(Deno.args));
}

export { hostPort };
