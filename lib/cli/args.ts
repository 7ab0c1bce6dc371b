// The `blit` command line: which options each command takes, parsing them
// (rsync's short flags, first-match filter rules, one-line errors); the
// help pages and shell completions are made from the same table (help.ts).
import { UsageError } from "../client/address.ts";

/** One option of the command line. */
export interface OptionSpec {
  /** Long name, without the dashes. */
  name: string;
  /** One-letter form, if any. */
  short?: string;
  /** The value's name in help; none for a flag. */
  value?: string;
  /** Repeatable (`--exclude`): every value kept, in order. */
  multiple?: boolean;
  /** The help line. */
  help: string;
  /** Another spelling of `name` (for `--delete`: `mirror`). */
  alias?: string;
}

const TRANSFER = [
  "mirror",
  "delete",
  "dry-run",
  "checksum",
  "keep-special-bits",
  "exclude",
  "include",
  "exclude-from",
  "streams",
  "force-grpc-data",
  "bwlimit",
  "whole-file",
  "no-whole-file",
  "compress",
  "no-compress",
  "compress-level",
  "retries",
  "verbose",
  "quiet",
  "stats",
  "json",
  "progress",
  "no-progress",
  "secret-file",
  "tls-ca",
  "archive",
  "recursive",
  "partial",
  "partial-progress",
  "info",
];

/** Every option, once. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    name: "mirror",
    help: "also delete what the destination has and the source has not",
  },
  {
    name: "delete",
    alias: "mirror",
    help: "the same as --mirror (rsync's name)",
  },
  {
    name: "dry-run",
    short: "n",
    help: "list what would be sent (+) and deleted (-); change nothing",
  },
  {
    name: "checksum",
    short: "c",
    help: "compare content hashes, not size and mtime",
  },
  {
    name: "keep-special-bits",
    help:
      "pull: keep setuid/setgid/sticky bits even when run as root (dropped by default then)",
  },
  {
    name: "exclude",
    value: "GLOB",
    multiple: true,
    help: "leave out paths matching GLOB (repeatable)",
  },
  {
    name: "include",
    value: "GLOB",
    multiple: true,
    help:
      "keep paths matching GLOB; rules apply in order, the first match decides",
  },
  {
    name: "exclude-from",
    value: "FILE",
    multiple: true,
    help: "exclude rules from FILE, one glob a line (# comments)",
  },
  {
    name: "streams",
    value: "N",
    help: "parallel TCP data streams, 1-16 (default: the predictor's choice)",
  },
  {
    name: "force-grpc-data",
    help: "send file bytes over the gRPC control connection only",
  },
  {
    name: "bwlimit",
    value: "RATE",
    help:
      "at most RATE of file data a second, all streams together, in rsync's units: KiB/s (1000), or 10M, 500K, 800B; 0 = no limit",
  },
  {
    name: "whole-file",
    short: "W",
    help: "never send deltas: a changed file goes whole",
  },
  {
    name: "no-whole-file",
    help:
      "always send only what changed (default: on links slower than reading the old copy back)",
  },
  {
    name: "compress",
    short: "z",
    help:
      "always compress file data (zstd; default: when it makes the transfer faster)",
  },
  { name: "no-compress", help: "never compress file data" },
  {
    name: "compress-level",
    value: "N",
    help: "zstd level 1-19 (default: chosen by the link's speed)",
  },
  {
    name: "retries",
    value: "N",
    help: "retries after transient network failures, 0-100 (default 3)",
  },
  {
    name: "verbose",
    short: "v",
    help: "one line per file sent (+ path) or deleted (- path), on stdout",
  },
  { name: "quiet", short: "q", help: "print errors only" },
  { name: "stats", help: "a few lines of totals at the end, on stdout" },
  {
    name: "json",
    help: "one JSON summary on stdout; nothing else there, no progress bar",
  },
  {
    name: "progress",
    help: "a progress bar on stderr (default: when stderr is a terminal)",
  },
  { name: "no-progress", help: "no progress bar" },
  {
    name: "secret-file",
    value: "FILE",
    help: "present the module secret in FILE (else $BLIT_SECRET)",
  },
  {
    name: "tls-ca",
    value: "FILE",
    help: "trust this CA for blits:// (else $BLIT_TLS_CA, else system roots)",
  },
  {
    name: "archive",
    short: "a",
    help: "accepted for rsync habits: blit always keeps modes, times and links",
  },
  {
    name: "recursive",
    short: "r",
    help:
      "list: everything beneath, depth first; transfers: accepted for rsync habits (blit always copies trees)",
  },
  {
    name: "partial",
    help:
      "accepted for rsync habits: big files always keep a partial copy to resume",
  },
  {
    name: "partial-progress",
    short: "P",
    help: "rsync's -P: --partial (always on) and --progress",
  },
  {
    name: "info",
    value: "FLAGS",
    multiple: true,
    help:
      "rsync's --info: progress2 (or progress) = --progress, progress0 = --no-progress, stats = --stats, name = -v, none; comma-separated",
  },
  { name: "yes", short: "y", help: "purge without asking" },
  { name: "clear", help: "empty the local performance history" },
  { name: "help", short: "h", help: "this help" },
  { name: "version", short: "V", help: "print the version" },
];

/** What each command is, takes and does, for parsing and for help. */
export interface CommandSpec {
  /** Positional arguments, as help shows them. */
  usage: string;
  /** How many positionals: [min, max]. */
  args: [number, number];
  /** One line. */
  summary: string;
  /** A paragraph. */
  about: string;
  /** Options it takes (besides --help). */
  options: readonly string[];
  /** Example command lines with a comment each. */
  examples: readonly [string, string][];
}

/** The commands, in help order. */
export const COMMANDS: Readonly<Record<string, CommandSpec>> = {
  push: {
    usage: "LOCAL REMOTE",
    args: [2, 2],
    summary: "upload a file or a directory tree",
    about:
      "Sends LOCAL to the daemon. A directory's contents go into REMOTE; a file goes into REMOTE if it is a directory or ends in '/', else REMOTE is its new name. Unchanged files (same size and mtime) are not sent; an interrupted big file resumes.",
    options: TRANSFER,
    examples: [
      ["blit push ./photos blit://nas/backup/photos", "upload a tree"],
      [
        "blit push -nv ./photos blit://nas/backup/photos",
        "list what would be sent",
      ],
      [
        "blit push --delete --exclude '*.tmp' ./site blit://web/www",
        "mirror, leaving out temp files",
      ],
      ["blit push --bwlimit 10M big.iso blit://nas/isos/", "at most 10 MiB/s"],
    ],
  },
  pull: {
    usage: "REMOTE LOCAL",
    args: [2, 2],
    summary: "download a file or a directory tree",
    about:
      "Fetches REMOTE into LOCAL, with the same placement rules as push. Only what LOCAL lacks (or has changed) is sent.",
    options: TRANSFER,
    examples: [
      ["blit pull blit://nas/backup/photos ./photos", "download a tree"],
      ["blit pull blit://nas/backup/a.txt out/", "writes out/a.txt"],
      [
        "blit pull --include '*.jpg' --include '*/' --exclude '*' blit://nas/p ./jpgs",
        "only the JPEGs",
      ],
    ],
  },
  copy: {
    usage: "SRC DST",
    args: [2, 2],
    summary: "push, pull or local copy, by the kind of SRC and DST",
    about:
      "A push when DST is remote, a pull when SRC is, else a local copy (the kernel's copy_file_range, in parallel).",
    options: TRANSFER,
    examples: [
      ["blit copy ./a ./b", "a local copy"],
      ["blit copy ./a blit://nas/m/a", "the same as push"],
    ],
  },
  mirror: {
    usage: "SRC DST",
    args: [2, 2],
    summary: "copy, then delete what DST has and SRC has not",
    about:
      "copy --mirror: deletions happen only after every needed file arrived; excluded paths are never deleted.",
    options: TRANSFER,
    examples: [
      ["blit mirror ./site blit://web/www", "make www exactly ./site"],
      ["blit mirror -n ./site blit://web/www", "show what would change"],
    ],
  },
  list: {
    usage: "REMOTE",
    args: [1, 1],
    summary: "list a remote directory (or one file)",
    about:
      "One line per entry: kind, size, mtime (UTC), name; with -r, everything beneath, named from the listed directory.",
    options: ["recursive", "json", "secret-file", "tls-ca"],
    examples: [
      ["blit list blit://nas/backup", "a module's root"],
      ["blit list -r nas::backup/photos", "the whole tree (rsync's syntax)"],
      ["blit list --json blit://nas/backup/photos", "as JSON"],
    ],
  },
  purge: {
    usage: "REMOTE",
    args: [1, 1],
    summary: "delete a remote file or directory tree",
    about:
      "Asks first on a terminal; without one, a directory needs --yes. A module's root is emptied, never removed, and always needs --yes.",
    options: ["yes", "dry-run", "json", "secret-file", "tls-ca"],
    examples: [
      ["blit purge blit://nas/backup/old", "asks, then deletes"],
      [
        "blit purge --yes --json blit://nas/backup/tmp",
        "no question; JSON out",
      ],
    ],
  },
  modules: {
    usage: "blit://HOST[:PORT]",
    args: [1, 1],
    summary: "list the daemon's modules",
    about: "Names, comments and read-only flags; protected modules say so.",
    options: ["json", "tls-ca"],
    examples: [["blit modules blit://nas", "what nas exports"]],
  },
  diagnostics: {
    usage: "perf [REMOTE]",
    args: [1, 2],
    summary: "performance history and the predictor's choice",
    about:
      "Recent runs, per-route rates, whether history is kept, and the stream count and transport the predictor would choose, with its reason; with REMOTE, the daemon's runs and last self-check.",
    options: ["json", "clear", "secret-file", "tls-ca"],
    examples: [
      ["blit diagnostics perf", "the local history"],
      [
        "blit diagnostics perf blit://nas/backup --json",
        "with the daemon's, as JSON",
      ],
      ["blit diagnostics perf --clear", "forget the local history"],
    ],
  },
  completions: {
    usage: "bash|zsh|fish",
    args: [1, 1],
    summary: "print a shell completion script",
    about: "Load it from your shell's start-up file.",
    options: [],
    examples: [
      [
        "blit completions bash > ~/.local/share/bash-completion/completions/blit",
        "bash",
      ],
      ["blit completions fish > ~/.config/fish/completions/blit.fish", "fish"],
    ],
  },
  version: {
    usage: "",
    args: [0, 0],
    summary: "print the version",
    about: "The same as --version.",
    options: [],
    examples: [["blit version", "blit X.Y.Z"]],
  },
  help: {
    usage: "[COMMAND]",
    args: [0, 1],
    summary: "this list, or a command's help",
    about: "The same as COMMAND --help.",
    options: [],
    examples: [["blit help push", "push's options and examples"]],
  },
};

/** A parsed command line. */
export interface ParsedArgs {
  /** The command (undefined: none given). */
  command?: string;
  /** Its arguments. */
  positionals: string[];
  /** Flags given (by long name; `--delete` as `mirror`). */
  flags: Set<string>;
  /** Values of string options (the last one for single ones). */
  values: Map<string, string[]>;
  /**
   * `--include` / `--exclude` rules, in command-line order, as `+ GLOB` /
   * `- GLOB` (see `excludeMatcher`); `@from` marks where each
   * `--exclude-from` file's rules go.
   */
  rules: string[];
}

const byName = new Map(OPTIONS.map((o) => [o.name, o]));
const byShort = new Map(
  OPTIONS.filter((o) => o.short).map((o) => [o.short!, o]),
);

/** `(see 'blit CMD --help')` for a usage error. */
export function seeHelp(command?: string): string {
  // `blit help nosuch`: the list of commands is what helps.
  return command && COMMANDS[command] && command !== "help"
    ? `(see 'blit ${command} --help')`
    : "(see 'blit --help')";
}

/**
 * Parses `args`: options may come before or after the command and its
 * arguments; `--name=value` or `--name value`; short flags combine
 * (`-nv`), and the last of them may take a value; `--` ends the options.
 * Each option must be one the command takes.
 *
 * @example
 * ```ts
 * import { parseCommandLine } from "./args.ts";
 * const p = parseCommandLine(["push", "-nv", "--exclude", "*.o", "a", "blit://h/m"]);
 * if (p.command !== "push" || !p.flags.has("dry-run") || p.rules[0] !== "- *.o") throw new Error("example failed");
 * ```
 * @throws {UsageError} for an unknown option, a missing value, or an
 * option the command does not take (the message ends in a pointer to
 * the command's help).
 */
export function parseCommandLine(args: readonly string[]): ParsedArgs {
  const parsed: ParsedArgs = {
    positionals: [],
    flags: new Set(),
    values: new Map(),
    rules: [],
  };
  const given: string[] = [];
  const take = (spec: OptionSpec, shown: string, value?: string) => {
    const name = spec.alias ?? spec.name;
    given.push(shown);
    if (spec.value === undefined) {
      if (value !== undefined) {
        throw new UsageError(`option '${shown}' takes no value`);
      }
      parsed.flags.add(name);
      return;
    }
    if (value === undefined) {
      throw new UsageError(`option '${shown}' needs a value (${spec.value})`);
    }
    if (name === "exclude") parsed.rules.push(`- ${value}`);
    else if (name === "include") parsed.rules.push(`+ ${value}`);
    // A file's rules go in its place (read by the caller).
    else if (name === "exclude-from") parsed.rules.push("@from");
    const list = parsed.values.get(name) ?? [];
    list.push(value);
    parsed.values.set(name, list);
  };
  let optionsDone = false;
  const optionNames: [string, OptionSpec][] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (optionsDone || arg === "-" || !arg.startsWith("-")) {
      if (parsed.command === undefined) parsed.command = arg;
      else parsed.positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      optionsDone = true;
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const spec = byName.get(name);
      if (!spec) throw new UsageError(`unknown option '--${name}'`);
      let value = eq < 0 ? undefined : arg.slice(eq + 1);
      if (spec.value !== undefined && value === undefined) value = args[++i];
      take(spec, `--${name}`, value);
      optionNames.push([`--${name}`, spec]);
      continue;
    }
    // Short flags, combined: -nv, -n -v; the last may take a value.
    const letters = arg.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const spec = byShort.get(letters[j]);
      if (!spec) {
        throw new UsageError(
          `unknown option '-${letters[j]}'${
            letters.length > 1 ? ` (in '${arg}')` : ""
          }`,
        );
      }
      let value: string | undefined;
      if (spec.value !== undefined) {
        value = j + 1 < letters.length ? letters.slice(j + 1) : args[++i];
        j = letters.length;
      }
      take(spec, `-${spec.short}`, value);
      optionNames.push([`-${spec.short}`, spec]);
    }
  }
  const command = parsed.command;
  const spec = command === undefined ? undefined : COMMANDS[command];
  if (spec) {
    for (const [shown, option] of optionNames) {
      if (["help", "version"].includes(option.name)) continue;
      if (!spec.options.includes(option.name)) {
        throw new UsageError(
          `option '${shown}' does not apply to ${command}`,
        );
      }
    }
  }
  return parsed;
}

/** The value of a single-valued option (its last occurrence). */
export function valueOf(parsed: ParsedArgs, name: string): string | undefined {
  return parsed.values.get(name)?.at(-1);
}
