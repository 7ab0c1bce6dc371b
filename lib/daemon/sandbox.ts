// The daemon's Deno permission sandbox: computed flags and a re-exec.
import type { DaemonConfig, ModuleConfig } from "./config.ts";
import { bracketHost } from "../wire/host_port.ts";
import { serveLinkBroker } from "./link_broker.ts";
import { findLibc, LIBC_ENV } from "../fs/_libc.ts";
import { findXxhash, XXHASH_ENV } from "../fs/native_hash.ts";
import { findZstd, ZSTD_ENV } from "../wire/zstd.ts";
import { BOOT_ID_ENV, bootId } from "../transfer/same_host.ts";
import { confineSelf, daemonRules } from "./landlock.ts";
import { V8_FLAGS } from "../v8_flags.ts";
import { isBundled, workerUrl } from "../fs/worker_pool.ts";

/** Env: what the parent's kernel confinement is, for the child to log. */
export const CONFINEMENT_ENV = "BLIT_DAEMON_CONFINEMENT";

/** Env marker: set in the re-executed, sandboxed daemon. */
export const SANDBOX_ENV = "BLIT_DAEMON_SANDBOXED";

/** Environment variables the sandboxed daemon may read. */
export const ENV_ALLOW = [
  "GRPC_*",
  "grpc_*",
  "NODE_*",
  "BLIT_DAEMON_*",
  "BLIT_DISABLE_PERF_HISTORY",
];

/**
 * The permission flags the daemon runs with: read on its modules, config
 * and state dir; write on writable modules and the state dir; net on its
 * listen address only; env on the variables it reads; ffi on the C
 * library (openat2 and the fd-relative calls that keep every name
 * beneath a module: see kernel_tree.ts; `"zeroCopy": true` widens it for
 * sendfile) and on libxxhash and libzstd where there are (hashing,
 * compression off the event loop); nothing else
 * (no run, sys or import).
 *
 * `--allow-ffi` lets the process do anything its user may, whatever the
 * read/write scopes say; the kernel's Landlock confinement (landlock.ts)
 * is what bounds it.
 *
 * @example
 * ```ts
 * import { sandboxFlags } from "./sandbox.ts";
 * import { DEFAULT_LIMITS } from "./config.ts";
 * const flags = sandboxFlags({ bind: "127.0.0.1", port: 1, dataPort: 0, advertiseData: null, forceGrpcData: false, zeroCopy: false, stateDir: null, selfCheckInterval: 86400, configFile: null, limits: DEFAULT_LIMITS, modules: [{ name: "m", path: "/srv/m", readOnly: true, comment: "", mungeSymlinks: true }] }, "/state");
 * if (!(flags.some((f) => f.startsWith("--allow-read=/srv/m,/state")) && flags.includes("--allow-write=/state"))) throw new Error("example failed");
 * ```
 */
export function sandboxFlags(config: DaemonConfig, stateDir: string): string[] {
  const read = [...config.modules.map((m) => m.path), stateDir];
  // blit's own library code, for the Workers that hash off the main
  // thread (a worker's modules are read with the worker's permissions).
  const code = libraryDir();
  if (code) read.push(code);
  // A module configured through a link: its name only, to resolve it.
  for (const m of config.modules) if (m.linkedFrom) read.push(m.linkedFrom);
  if (config.configFile) read.push(config.configFile);
  // The sandboxed daemon reads its modules' secrets again.
  for (const m of config.modules) if (m.secretFile) read.push(m.secretFile);
  if (config.tls) read.push(config.tls.certFile, config.tls.keyFile);
  const write = [
    ...config.modules.filter((m) => !m.readOnly).map((m) => m.path),
    stateDir,
    // The call log, appended to.
    ...(config.log ? [config.log] : []),
  ];
  const flags = [
    "--no-prompt",
    `--allow-read=${read.join(",")}`,
    `--allow-write=${write.join(",")}`,
    `--allow-net=${bracketHost(config.bind)}`,
    `--allow-env=${ENV_ALLOW.join(",")}`,
    // The idle self-check looks at the load average.
    "--allow-sys=loadavg",
    V8_FLAGS,
  ];
  // libxxhash too, where there is one: it hashes ~3x faster than wasm
  // (what it could do with FFI, libc can already do).
  // And libzstd: compression off the event loop's thread, without loading
  // node:zlib.
  const libraries = [findLibc(), findXxhash(), findZstd()].filter((p) =>
    p !== undefined
  );
  if (config.zeroCopy) flags.push("--allow-ffi");
  else if (libraries.length > 0) {
    flags.push(`--allow-ffi=${libraries.join(",")}`);
  }
  return flags;
}

/**
 * Whether this process is already the sandboxed daemon.
 *
 * @example
 * ```ts
 * import { isSandboxed } from "./sandbox.ts";
 * if (!(typeof isSandboxed() === "boolean")) throw new Error("example failed");
 * ```
 */
export function isSandboxed(): boolean {
  try {
    return Deno.env.get(SANDBOX_ENV) === "1";
  } catch {
    return false;
  }
}

/**
 * Whether this process may re-execute itself (it holds run permission).
 *
 * @example
 * ```ts
 * import { canReexec } from "./sandbox.ts";
 * if (!(typeof canReexec() === "boolean")) throw new Error("example failed");
 * ```
 */
export function canReexec(): boolean {
  return Deno.permissions.querySync({ name: "run", command: Deno.execPath() })
    .state === "granted";
}

/**
 * The command that starts the sandboxed daemon: `deno run FLAGS SCRIPT
 * ARGS` for a script that is a file or a remote module (`https:`,
 * `http:`, `jsr:`: the child may import from that host and nothing else
 * new); in a `deno compile` binary (`standalone`), the binary itself with
 * the daemon's arguments (its permissions were fixed at compile time:
 * there the kernel's Landlock domain, entered before the child starts, is
 * the sandbox, and the child drops its run permission).
 *
 * @example
 * ```ts
 * import { sandboxCommand } from "./sandbox.ts";
 * const remote = sandboxCommand("https://example.com/blit/daemon.ts", ["--no-prompt"], ["--root", "/srv"], false, "/usr/bin/deno");
 * if (remote.args.join(" ") !== "run --no-prompt --allow-import=example.com:443 https://example.com/blit/daemon.ts --root /srv") throw new Error("example failed");
 * const binary = sandboxCommand("file:///tmp/deno-compile-blit/daemon.ts", ["--no-prompt"], ["--root", "/srv"], true, "/usr/local/bin/blit-daemon");
 * if (binary.command !== "/usr/local/bin/blit-daemon" || binary.args.join(" ") !== "--root /srv") throw new Error("example failed");
 * ```
 */
export function sandboxCommand(
  script: string,
  flags: string[],
  args: string[],
  standalone: boolean = Deno.build.standalone,
  execPath: string = Deno.execPath(),
): { command: string; args: string[] } {
  if (standalone) return { command: execPath, args };
  let target = script;
  const extra: string[] = [];
  if (/^[a-z][a-z0-9+.-]*:/i.test(script)) {
    const url = new URL(script);
    if (url.protocol === "file:") {
      target = decodeURIComponent(url.pathname);
    } else if (url.protocol === "http:" || url.protocol === "https:") {
      const port = url.port || (url.protocol === "https:" ? "443" : "80");
      extra.push(`--allow-import=${url.hostname}:${port}`);
    } else if (url.protocol === "jsr:") {
      extra.push("--allow-import=jsr.io:443");
    }
  }
  return {
    command: execPath,
    args: ["run", ...flags, ...extra, target, ...args],
  };
}

/**
 * The Workers' scripts (hashing, basis descriptions): a remote daemon's
 * parent puts them in Deno's cache before the sandboxed child starts,
 * which may read that cache but not write it (Landlock).
 */
const WORKER_SCRIPTS = ["../fs/_hash_worker.ts", "../delta/_basis_worker.ts"];

/** Caches the Workers' modules of a remote daemon (no-op for files). */
async function cacheWorkers(start: { command: string; args: string[] }) {
  const base = new URL(import.meta.url);
  if (base.protocol === "file:" || Deno.build.standalone) return;
  const imports = start.args.filter((a) => a.startsWith("--allow-import="));
  const urls = WORKER_SCRIPTS.map((w) => new URL(w, base).href);
  const out = await new Deno.Command(start.command, {
    args: ["cache", "--quiet", ...imports, ...urls],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `cannot cache the daemon's worker modules: ${
        new TextDecoder().decode(out.stderr).trim().split("\n")[0]
      }`,
    );
  }
}

/**
 * Runs `script` (a path, or the module's URL) again under `flags`,
 * forwarding SIGINT/SIGTERM, with stdout/stderr passed through, serving
 * the child's symlink requests (see link_broker.ts); resolves with the
 * child's exit code. See {@linkcode sandboxCommand} for how a remote
 * module and a compiled binary start.
 *
 * Permissions: run on `Deno.execPath()`.
 */
export async function reexec(
  script: string,
  flags: string[],
  args: string[],
  options: {
    modules?: readonly ModuleConfig[];
    /**
     * Kernel confinement for the child (see landlock.ts), returning the
     * line the child logs once it listens; none if absent.
     */
    confine?: () => string;
  } = {},
): Promise<number> {
  const start = sandboxCommand(script, flags, args);
  await cacheWorkers(start);
  // The child may not read /proc: it learns the kernel's boot id here
  // (for pulls from this machine's other namespaces, see same_host.ts),
  // before this thread is confined too.
  const boot = bootId();
  // This thread is confined first: the child, started from it, inherits
  // the domain across execve, on every thread it will have.
  const confinement = options.confine?.();
  const child = new Deno.Command(start.command, {
    args: start.args,
    env: {
      [SANDBOX_ENV]: "1",
      ...(boot ? { [BOOT_ID_ENV]: boot } : {}),
      ...libcEnv(),
      ...(confinement ? { [CONFINEMENT_ENV]: confinement } : {}),
    },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const broker = serveLinkBroker(child, options.modules ?? []);
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  };
  const onInt = forward("SIGINT");
  const onTerm = forward("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const status = await child.status;
  await broker.catch(() => {});
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  return status.signal
    ? 128 + (status.signal === "SIGKILL" ? 9 : 15)
    : status.code;
}

/**
 * Tells the sandboxed child which libc, libxxhash and libzstd its
 * --allow-ffi names.
 */
function libcEnv(): Record<string, string> {
  const libc = findLibc();
  const xxhash = findXxhash();
  const zstd = findZstd();
  return {
    ...(libc ? { [LIBC_ENV]: libc } : {}),
    ...(xxhash ? { [XXHASH_ENV]: xxhash } : {}),
    ...(zstd ? { [ZSTD_ENV]: zstd } : {}),
  };
}

/**
 * The directory the Workers' code is read from, when it is local files
 * with the hash Workers' script among them: blit's library modules, or
 * for a bundle (`deno task bundle`) the directory of the bundle and its
 * Workers' bundles. A bundle built without them gets no extra read (its
 * hashing stays on the main thread).
 */
function libraryDir(): string | undefined {
  // (A bundle's modules all have the bundle's URL: its Workers are beside
  // it; from source, the hash Worker is in lib/fs.)
  const bundled = isBundled(import.meta.url);
  const worker = bundled
    ? workerUrl("_hash_worker", import.meta.url)
    : new URL("../fs/_hash_worker.ts", import.meta.url);
  if (worker.protocol !== "file:") return undefined;
  try {
    if (!Deno.statSync(worker).isFile) return undefined;
  } catch {
    return undefined;
  }
  return decodeURIComponent(
    new URL(bundled ? "./" : "../", import.meta.url).pathname,
  )
    .replace(/\/$/, "");
}

/**
 * Confines this thread, and so the sandboxed daemon it starts next, with
 * Landlock to the modules, the state directory, the files the config
 * names, blit's code and Deno's cache; returns the line to log (what the
 * kernel enforces, or why it can't).
 *
 * Permissions: ffi on libc, read on the paths, env (DENO_DIR, HOME,
 * XDG_CACHE_HOME).
 */
export function confineDaemon(
  config: DaemonConfig,
  stateDir: string,
  script: string,
): string {
  const libc = findLibc();
  if (!libc) return "kernel confinement: none (not Linux, or no libc found)";
  const files = [
    ...(config.configFile ? [config.configFile] : []),
    ...config.modules.flatMap((m) => m.secretFile ? [m.secretFile] : []),
    ...(config.tls ? [config.tls.certFile, config.tls.keyFile] : []),
  ];
  const code: string[] = [];
  if (script.startsWith("/")) {
    code.push(script.slice(0, script.lastIndexOf("/")) || "/");
  }
  const lib = libraryDir();
  // (A bundle's directory is the script's, already there.)
  if (lib && !code.includes(lib)) {
    code.push(lib.slice(0, lib.lastIndexOf("/")) || "/");
  }
  try {
    const result = confineSelf(
      libc,
      daemonRules(config.modules, stateDir, {
        execPath: Deno.execPath(),
        denoDir: denoDir(),
        code,
        files,
        writeFiles: config.log ? [config.log] : [],
      }),
    );
    return `kernel confinement: Landlock ABI ${result.abi} (modules, state directory and runtime files only)`;
  } catch (error) {
    return `kernel confinement: none (${
      error instanceof Error ? error.message : String(error)
    }); containment rests on openat2 and Deno's permissions`;
  }
}

/** Deno's cache directory, as the runtime finds it. */
function denoDir(): string | undefined {
  try {
    const env = Deno.env.toObject();
    if (env.DENO_DIR) return env.DENO_DIR;
    if (env.XDG_CACHE_HOME) return `${env.XDG_CACHE_HOME}/deno`;
    if (env.HOME) return `${env.HOME}/.cache/deno`;
  } catch {
    // env not readable
  }
  return undefined;
}
