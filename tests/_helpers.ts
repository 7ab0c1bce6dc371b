// Shared test helpers: run the real CLI and daemon as processes, make trees.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const decoder = new TextDecoder();

/** What a finished process printed. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI's `main(args, io)` in this process, capturing what it
 * prints: for usage errors and the like, where starting a process per
 * case would only cost time (`runCli` runs the real process).
 */
export async function runMain(
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const { main } = await import("../cli.ts");
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    stdinIsTerminal: false,
    stderrIsTerminal: false,
    prompt: () => null,
    env: { NO_COLOR: "1", ...env },
  });
  return { code, stdout, stderr };
}

/**
 * Runs `deno ARGS` (the running Deno) with NO_COLOR and `env`, in `cwd`,
 * and waits for it.
 */
export async function runDeno(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
}

/**
 * `env` for a CLI a test runs: the performance history off unless the
 * test says where it goes (or that it is off), so no test appends to the
 * history of the user running the suite.
 */
export function cliEnv(
  env: Record<string, string> = {},
): Record<string, string> {
  const chosen = [
    "BLIT_DISABLE_PERF_HISTORY",
    "BLIT_STATE_DIR",
    "XDG_STATE_HOME",
    "HOME",
  ]
    .some((name) => name in env);
  return chosen ? env : { BLIT_DISABLE_PERF_HISTORY: "1", ...env };
}

/**
 * Runs `cli.ts` (or another build of the CLI, `script`) with `args` as a
 * user would (`deno run -A cli.ts ...`); see {@linkcode cliEnv}.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; script?: string } = {},
): Promise<RunResult> {
  return runDeno(
    ["run", "--allow-all", options.script ?? join(REPO, "cli.ts"), ...args],
    { ...options, env: cliEnv(options.env) },
  );
}

/**
 * Starts `cli.ts` with `args` without waiting for it (to interrupt it);
 * its output is piped, or discarded with `quiet`; see {@linkcode cliEnv}.
 */
export function spawnCli(
  args: string[],
  options: { env?: Record<string, string>; quiet?: boolean } = {},
): Deno.ChildProcess {
  const output = options.quiet ? "null" : "piped";
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(REPO, "cli.ts"), ...args],
    env: { NO_COLOR: "1", ...cliEnv(options.env) },
    stdin: "null",
    stdout: output,
    stderr: output,
  }).spawn();
}

/**
 * Kills `child` with SIGKILL unless it has already exited on its own (a
 * client whose daemon was killed first may leave before the test kills it),
 * and waits for its exit status.
 */
export async function killChild(
  child: Deno.ChildProcess,
): Promise<Deno.CommandStatus> {
  try {
    child.kill("SIGKILL");
  } catch (e) {
    if (!(e instanceof TypeError)) throw e;
  }
  return await child.status;
}

/** Polls `check` every 5 ms for up to `ms`: whether it came true. */
export async function waitFor(
  check: () => boolean,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return false;
}

/** One entry of a tree snapshot. */
export interface Snap {
  kind: "file" | "dir" | "symlink";
  mode?: number;
  mtimeSec?: number;
  content?: string;
  target?: string;
}

async function digest(data: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Content, mode, mtime (seconds) and link targets of every entry under `root`. */
export async function snapshot(
  root: string,
  options: { dirMtimes?: boolean } = {},
): Promise<Record<string, Snap>> {
  const out: Record<string, Snap> = {};
  const walk = async (rel: string) => {
    const abs = rel ? join(root, rel) : root;
    const names = [...Deno.readDirSync(abs)].map((e) => e.name).sort();
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const path = join(root, childRel);
      const info = Deno.lstatSync(path);
      if (info.isSymlink) {
        out[childRel] = { kind: "symlink", target: Deno.readLinkSync(path) };
      } else if (info.isDirectory) {
        out[childRel] = {
          kind: "dir",
          mode: info.mode! & 0o7777,
          ...(options.dirMtimes
            ? { mtimeSec: Math.floor(info.mtime!.getTime() / 1000) }
            : {}),
        };
        await walk(childRel);
      } else {
        out[childRel] = {
          kind: "file",
          mode: info.mode! & 0o7777,
          mtimeSec: Math.floor(info.mtime!.getTime() / 1000),
          content: await digest(Deno.readFileSync(path)),
        };
      }
    }
  };
  await walk("");
  return out;
}

/**
 * A sample tree: nested and empty dirs, a symlink, an executable, spaces
 * and non-ASCII names, a 1 MiB+ file; fixed mtimes.
 */
export function makeTree(root: string): void {
  const write = (rel: string, data: string | Uint8Array, mode = 0o644) => {
    const path = join(root, rel);
    Deno.mkdirSync(dirname(path), { recursive: true });
    if (typeof data === "string") Deno.writeTextFileSync(path, data);
    else Deno.writeFileSync(path, data);
    Deno.chmodSync(path, mode);
    Deno.utimeSync(path, 1_600_000_000, 1_600_000_000 + rel.length);
  };
  write("a.txt", "hello\n");
  write("dir one/naïve café.txt", "unicode\n");
  write(
    "dir one/deeper/x.bin",
    new Uint8Array(1536 * 1024).map((_, i) => (i * 7) & 0xff),
  );
  write("bin/run.sh", "#!/bin/sh\necho hi\n", 0o755);
  write("empty.txt", "");
  Deno.mkdirSync(join(root, "empty dir"), { recursive: true });
  Deno.symlinkSync("a.txt", join(root, "link to a"));
}

/** `paths`' mtimes set to `when` (touch -d: to the nanosecond, as Deno's utime is not). */
export function touchNs(when: string, ...paths: string[]): void {
  new Deno.Command("touch", { args: ["-d", when, ...paths] }).outputSync();
}

/** `path`'s mtime as `stat` prints it (to the nanosecond). */
export function mtimeStamp(path: string): string {
  return new TextDecoder().decode(
    new Deno.Command("stat", { args: ["-c", "%y", path] }).outputSync().stdout,
  ).trim();
}

/** Lists temp files (`*.blit-*.tmp`, partial copies too) under `root`. */
export function tempFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) walk(p);
      else if (/\.blit-(?:[0-9a-f]+|partial)\.tmp$/.test(e.name)) {
        found.push(p);
      }
    }
  };
  walk(root);
  return found;
}

/**
 * Runs the daemon with `config` (written to a JSONC file in `dir`) when it
 * is expected not to start: its exit code and stderr.
 */
export async function daemonRefuses(
  dir: string,
  config: Record<string, unknown>,
): Promise<{ code: number; stderr: string }> {
  const file = join(dir, "refused.jsonc");
  Deno.writeTextFileSync(file, JSON.stringify(config));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(REPO, "daemon.ts"), "--config", file],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: decoder.decode(out.stderr) };
}
