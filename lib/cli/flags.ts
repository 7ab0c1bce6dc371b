// The command line read into flags (lib/cli/args.ts parses the words;
// this gives them their meaning), what every command is given, and the
// checks the commands share.
import {
  parseRemote,
  type RemoteAddress,
  UsageError,
} from "../client/address.ts";
import { parseRate } from "../wire/bandwidth.ts";
import { parseCommandLine, valueOf } from "./args.ts";

/** Where the CLI writes; injectable for tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  stdinIsTerminal: boolean;
  stderrIsTerminal: boolean;
  prompt: (question: string) => string | null;
  env: Record<string, string | undefined>;
}

export interface Flags {
  mirror: boolean;
  dryRun: boolean;
  checksum: boolean;
  keepSpecialBits: boolean;
  forceGrpcData: boolean;
  /** Filter rules in command-line order (`+ GLOB` / `- GLOB`). */
  exclude: string[];
  streams: number;
  retries: number;
  json: boolean;
  progress: boolean;
  verbose: boolean;
  quiet: boolean;
  stats: boolean;
  yes: boolean;
  clear: boolean;
  /** `-r`: for list, everything beneath. */
  recursive: boolean;
  help: boolean;
  version: boolean;
  secretFile?: string;
  tlsCa?: string;
  bwlimit?: number;
  /** Delta transfer: `-W` off, `--no-whole-file` on, else by the link. */
  delta: "auto" | "on" | "off";
  /** Compression: `-z` on, `--no-compress` off, else when it pays. */
  compress: "auto" | "on" | "off";
  /** `--compress-level N`. */
  compressLevel?: number;
}

/** rsync's `--info` words and the option each stands for ("" for none). */
const INFO_FLAGS: Record<string, string> = {
  progress: "progress",
  progress1: "progress",
  progress2: "progress",
  progress0: "no-progress",
  stats: "stats",
  stats1: "stats",
  stats2: "stats",
  stats3: "stats",
  stats0: "",
  name: "verbose",
  name1: "verbose",
  name2: "verbose",
  name0: "",
  none: "",
};

/** Rules from `--exclude-from FILE`: a glob a line, `#` comments. */
function rulesFrom(file: string): string[] {
  const text = readUserFile(file, "exclude file");
  const rules: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    rules.push(/^[+-] /.test(line) ? line : `- ${line}`);
  }
  return rules;
}

export function parseFlags(
  args: string[],
  io: CliIo,
): { flags: Flags; command?: string; positionals: string[] } {
  const parsed = parseCommandLine(args);
  const has = (name: string) => parsed.flags.has(name);
  const integer = (name: string, min: number, max: number, dflt: number) => {
    const text = valueOf(parsed, name);
    if (text === undefined) return dflt;
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new UsageError(
        `--${name} must be a whole number from ${min} to ${max}, got ${
          JSON.stringify(text)
        }`,
      );
    }
    return Number(text);
  };
  // --exclude-from files are read in place, keeping the rules' order.
  const rules: string[] = [];
  const excludeFrom = [...(parsed.values.get("exclude-from") ?? [])];
  for (const rule of parsed.rules) {
    if (rule === "@from") rules.push(...rulesFrom(excludeFrom.shift()!));
    else rules.push(rule);
  }
  for (const rule of rules) {
    if (rule.slice(2).replaceAll("/", "") === "") {
      throw new UsageError(
        `--${
          rule.startsWith("+") ? "include" : "exclude"
        } needs a pattern, got ${JSON.stringify(rule.slice(2))}`,
      );
    }
  }
  const rateText = valueOf(parsed, "bwlimit");
  const rate = rateText === undefined ? undefined : parseRate(rateText);
  if (rateText !== undefined && rate === undefined) {
    throw new UsageError(
      `--bwlimit must be a rate like rsync's: KiB/s (1000), or with a unit (10M, 500K, 800B), got ${
        JSON.stringify(rateText)
      }`,
    );
  }
  // rsync's --bwlimit=0: no limit.
  const bwlimit = rate ?? undefined;
  // rsync's --info=FLAGS, as the options they stand for.
  for (const list of parsed.values.get("info") ?? []) {
    for (const word of list.split(",")) {
      const flag = INFO_FLAGS[word.trim().toLowerCase()];
      if (flag === undefined) {
        throw new UsageError(
          `--info: blit knows progress2, progress, progress0, stats, name and none, got ${
            JSON.stringify(word)
          }`,
        );
      }
      if (flag !== "") parsed.flags.add(flag);
    }
  }
  const json = has("json");
  const conflict = (a: string, b: string, why: string) => {
    if (has(a) && has(b)) {
      throw new UsageError(`--${a} and --${b} don't go together: ${why}`);
    }
  };
  conflict("progress", "json", "--json prints only the JSON summary");
  conflict("progress", "no-progress", "pick one");
  conflict("verbose", "json", "--json prints only the JSON summary");
  conflict("verbose", "quiet", "pick one");
  conflict("stats", "quiet", "--quiet prints errors only");
  conflict("stats", "json", "--json prints only the JSON summary");
  conflict("whole-file", "no-whole-file", "pick one");
  conflict("compress", "no-compress", "pick one");
  if (valueOf(parsed, "compress-level") !== undefined && has("no-compress")) {
    throw new UsageError(
      "--compress-level and --no-compress don't go together: --no-compress never compresses",
    );
  }
  const compressLevel = valueOf(parsed, "compress-level") === undefined
    ? undefined
    : integer("compress-level", 1, 19, 0);
  const quiet = has("quiet");
  const verbose = has("verbose");
  return {
    command: parsed.command,
    positionals: parsed.positionals,
    flags: {
      mirror: has("mirror"),
      dryRun: has("dry-run"),
      checksum: has("checksum"),
      keepSpecialBits: has("keep-special-bits"),
      forceGrpcData: has("force-grpc-data"),
      exclude: rules,
      streams: integer("streams", 1, 16, 0),
      retries: integer("retries", 0, 100, 3),
      json,
      // Listing lines go to stdout: no bar unless asked for.
      progress: !json && !quiet && !has("no-progress") &&
        (has("progress") || has("partial-progress") ||
          (io.stderrIsTerminal && !verbose)),
      verbose,
      quiet,
      stats: has("stats"),
      yes: has("yes"),
      clear: has("clear"),
      recursive: has("recursive"),
      help: has("help"),
      version: has("version"),
      secretFile: valueOf(parsed, "secret-file"),
      tlsCa: valueOf(parsed, "tls-ca"),
      bwlimit,
      delta: has("whole-file") ? "off" : has("no-whole-file") ? "on" : "auto",
      compress: has("compress") ? "on" : has("no-compress") ? "off" : "auto",
      compressLevel,
    },
  };
}

/** A file the user named, or one line saying why it can't be read. */
export function readUserFile(path: string, what: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    const reason = error instanceof Error
      ? error.message.replace(/:.*$/, "").replace(/\s*\(os error \d+\)$/, "")
        .toLowerCase()
      : String(error);
    throw new CliError(`cannot read ${what} ${path}: ${reason}`);
  }
}

/**
 * The module secret to present: `--secret-file FILE` (one trailing newline
 * dropped), else `BLIT_SECRET`, else none. Never from argv or the URL.
 */
export function secretOf(flags: Flags, io: CliIo): string | undefined {
  if (flags.secretFile !== undefined) {
    const text = readUserFile(flags.secretFile, "secret file");
    const secret = text.replace(/\r?\n$/, "");
    if (secret === "") {
      throw new CliError(`secret file ${flags.secretFile} is empty`);
    }
    return secret;
  }
  const env = io.env.BLIT_SECRET;
  return env === undefined || env === "" ? undefined : env;
}

/** The CA to trust for `blits://`: `--tls-ca FILE`, else `BLIT_TLS_CA`. */
export function tlsCaOf(flags: Flags, io: CliIo): string | undefined {
  const file = flags.tlsCa ?? (io.env.BLIT_TLS_CA || undefined);
  if (file === undefined) return undefined;
  const text = readUserFile(file, "TLS CA file");
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new CliError(`TLS CA file ${file} holds no PEM certificate`);
  }
  return text;
}

/** A remote address from the command line, with the secret to present. */
export function remoteArg(
  arg: string,
  flags: Flags,
  io: CliIo,
  options?: { moduleRequired?: boolean },
): RemoteAddress {
  const address = parseRemote(arg, options);
  const secret = secretOf(flags, io);
  const tlsCa = address.tls ? tlsCaOf(flags, io) : undefined;
  return {
    ...address,
    ...(secret === undefined ? {} : { secret }),
    ...(tlsCa === undefined ? {} : { tlsCa }),
  };
}

export function expectArgs(
  command: string,
  positionals: string[],
  count: number,
  shape: string,
): void {
  if (positionals.length !== count) {
    throw new UsageError(
      `${command} takes ${shape}; got ${positionals.length} argument${
        positionals.length === 1 ? "" : "s"
      }`,
    );
  }
}

/** `BLIT_PULL_WRITERS`: Workers writing a pull's small files (0-8), else the default. */
export function pullWritersFromEnv(
  value: string | undefined,
): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 8) {
    throw new UsageError(
      `BLIT_PULL_WRITERS must be a whole number 0-8, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return n;
}

/** A failure the user can act on; the CLI prints its message and exits 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}
