// The help the command line prints: the main page, a command's page, and
// shell completions, all from the flags table in args.ts.
import { UsageError } from "../client/address.ts";
import { COMMANDS, OPTIONS, type OptionSpec } from "./args.ts";

const byName = new Map(OPTIONS.map((o) => [o.name, o]));

/** `text` in lines of at most `width` characters, broken at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

function optionLine(spec: OptionSpec): string {
  const names = `${spec.short ? `-${spec.short}, ` : "    "}--${spec.name}${
    spec.value ? ` ${spec.value}` : ""
  }`;
  return `  ${names.padEnd(26)}${spec.help}`;
}

/**
 * `blit --help`: the commands, the address form and where to read more.
 *
 * @example
 * ```ts
 * import { mainHelp } from "./help.ts";
 * if (!mainHelp("1.0.0").includes("blit push LOCAL REMOTE")) throw new Error("example failed");
 * ```
 */
export function mainHelp(version: string): string {
  const lines = [
    `blit ${version}: fast, safe file transfers`,
    "",
    "Usage: blit COMMAND [OPTIONS] ARGS...",
    "",
    "Commands:",
  ];
  for (const [name, spec] of Object.entries(COMMANDS)) {
    lines.push(
      `  ${`blit ${name} ${spec.usage}`.padEnd(38)}${spec.summary}`,
    );
  }
  lines.push(
    "",
    "REMOTE is blit://HOST[:PORT]/MODULE[/PATH] (default port 50051), or",
    "blits://... for a daemon serving TLS; anything else is a local path.",
    "",
    "Run 'blit COMMAND --help' (or 'blit help COMMAND') for a command's options",
    "and examples. -h/--help and -V/--version work everywhere.",
    "",
    "Environment: BLIT_SECRET, BLIT_TLS_CA, BLIT_STATE_DIR,",
    "BLIT_DISABLE_PERF_HISTORY=1, BLIT_ZERO_COPY=0|1, BLIT_NATIVE_HASH=0,",
    "BLIT_PULL_WRITERS=N, BLIT_DEBUG=1 (stack traces) or grpc (grpc-js logs).",
    "",
    "Exit status: 0 success, 1 failure, 2 usage error.",
  );
  return lines.join("\n");
}

/**
 * `blit COMMAND --help`: usage, what it does, its options, examples.
 *
 * @example
 * ```ts
 * import { commandHelp } from "./help.ts";
 * if (!commandHelp("push").includes("--bwlimit RATE")) throw new Error("example failed");
 * ```
 * @throws {UsageError} for an unknown command.
 */
export function commandHelp(command: string): string {
  const spec = COMMANDS[command];
  if (!spec) {
    throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
  const lines = [
    `Usage: blit ${command}${spec.options.length > 0 ? " [OPTIONS]" : ""}${
      spec.usage ? ` ${spec.usage}` : ""
    }`,
    "",
    ...wrap(
      `${spec.summary[0].toUpperCase()}${spec.summary.slice(1)}. ${spec.about}`,
      78,
    ),
  ];
  if (spec.options.length > 0) {
    lines.push("", "Options:");
    for (const name of spec.options) lines.push(optionLine(byName.get(name)!));
    lines.push(optionLine(byName.get("help")!));
  }
  lines.push("", "Examples:");
  for (const [line, note] of spec.examples) {
    lines.push(`  ${line}`, `      ${note}`);
  }
  return lines.join("\n");
}

/**
 * A completion script for `shell` (bash, zsh or fish): commands, and each
 * command's options.
 *
 * @example
 * ```ts
 * import { completions } from "./help.ts";
 * if (!completions("bash").includes("complete -F _blit blit")) throw new Error("example failed");
 * ```
 * @throws {UsageError} for another shell.
 */
export function completions(shell: string): string {
  const commands = Object.keys(COMMANDS);
  const longs = (command: string) =>
    [...COMMANDS[command].options, "help"].map((o) => `--${o}`);
  if (shell === "bash") {
    const cases = commands.map((c) =>
      `    ${c}) opts="${longs(c).join(" ")}" ;;`
    ).join("\n");
    return `# blit bash completion: source this file
_blit() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="\${COMP_WORDS[1]}" opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.join(" ")}" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _blit blit
`;
  }
  if (shell === "zsh") {
    const cases = commands.map((c) =>
      `    ${c}) _arguments ${
        longs(c).map((o) => `'${o}[]'`).join(" ")
      } '*:file:_files' ;;`
    ).join("\n");
    return `#compdef blit
# blit zsh completion: put this file on your fpath as _blit
_blit() {
  if (( CURRENT == 2 )); then
    _values 'command' ${commands.join(" ")}
    return
  fi
  case "$words[2]" in
${cases}
  esac
}
_blit "$@"
`;
  }
  if (shell === "fish") {
    const lines = [
      "# blit fish completion",
      `complete -c blit -f -n __fish_use_subcommand -a "${commands.join(" ")}"`,
    ];
    for (const c of commands) {
      for (const o of [...COMMANDS[c].options, "help"]) {
        lines.push(
          `complete -c blit -n "__fish_seen_subcommand_from ${c}" -l ${o} -d '${
            byName.get(o)!.help.replaceAll("'", "\\'")
          }'`,
        );
      }
    }
    return lines.join("\n") + "\n";
  }
  throw new UsageError(
    `completions takes bash, zsh or fish, got ${JSON.stringify(shell)}`,
  );
}
