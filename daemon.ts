// `blit-daemon`: exports modules over the blit control and data planes.
import { parseArgs } from "node:util";
import { VERSION } from "./lib/version.ts";
import {
  type RunningDaemon,
  startDaemon,
  walkForced,
} from "./lib/daemon/server.ts";
import { bracketHost } from "./lib/wire/host_port.ts";
import { brokerClient } from "./lib/daemon/link_broker.ts";
import { cString, loadLibc } from "./lib/fs/_libc.ts";
import { hashPool } from "./lib/fs/hash_pool.ts";
import { warmDescribers } from "./lib/delta/basis_pool.ts";
import { fileURLToPath } from "node:url";
import {
  ConfigError,
  type DaemonConfig,
  type DaemonFlags,
  daemonStateDir,
} from "./lib/daemon/config.ts";
import { loadConfig } from "./lib/daemon/config_load.ts";
import {
  canReexec,
  confineDaemon,
  CONFINEMENT_ENV,
  isSandboxed,
  reexec,
  sandboxFlags,
} from "./lib/daemon/sandbox.ts";

const USAGE =
  `blit-daemon ${VERSION}: export directories (modules) to blit clients

Usage: blit-daemon [--config FILE] [--bind ADDR] [--port N] [--root DIR]
                   [--state-dir DIR] [--force-grpc-data]

Options (they override the config file):
  --config FILE       JSONC config file (keys below)
  --bind ADDR         control and data plane address (default 127.0.0.1)
  --port N            control plane port (default 50051; 0 = any free port)
  --root DIR          export DIR as module "default"
  --state-dir DIR     history, temp journal (default: config stateDir, else
                      $BLIT_STATE_DIR/daemon, $XDG_STATE_HOME/blit-daemon,
                      ~/.local/state/blit-daemon)
  --force-grpc-data   never offer the TCP data plane
  --print-permissions print the sandbox's Deno permission flags and exit
  -h, --help          this help
  -V, --version       print the version

Config keys (JSONC; unknown keys are errors):
  bind, port            as the flags
  dataPort              TCP data plane port (default 0: any free port)
  advertiseData         "HOST:PORT" clients dial for the data plane (NAT)
  forceGrpcData         true: bytes over gRPC only
  zeroCopy              true: sendfile for pulls (adds --allow-ffi: weaker sandbox)
  stateDir              as --state-dir
  selfCheckInterval     idle seconds before a self-check (default 86400)
  log                   FILE: a line per client call appended there (default:
                        stderr); "logFormat": "text" (key=value) or "json"
  tls                   {"cert": FILE, "key": FILE}: both planes over TLS
  modules               {"NAME": {"path": DIR, "readOnly", "comment",
                        "mungeSymlinks", "keepSpecialBits" (default false:
                        setuid/setgid/sticky bits are dropped on push),
                        "secretFile": FILE (mode 600),
                        "allow": ["10.0.0.0/8", "::1", ...]}}
  limits                {"maxConnections": 256, "maxConnectionsPerClient": 32,
                        "maxSessions": 32, "maxSessionsPerClient": 8,
                        "handshakeTimeout": 10, "idleTimeout": 120 (seconds),
                        "progressWindow": 30 (seconds), "minProgress": 65536
                        (a transfer bringing less in its last window gives
                        its slot up when another needs one),
                        "sessionMemory", "totalMemory" (bytes: 128/256 MiB)}

Example:
  blit-daemon --root /srv/data --bind 0.0.0.0      # module "default"
  blit-daemon --config /etc/blit/blit-daemon.jsonc

Log: one line per client call (time, client, op, module, path, files, bytes,
duration, outcome and reason; refusals included, secrets never), repeated
refusals of one cause from one address summarised once a minute.

Signals: SIGINT/SIGTERM stop it. Exit status: 0, 1 (runtime error), 2 (bad
flags or config).`;

function fail(message: string, code = 2): never {
  console.error(`blit-daemon: error: ${message}`);
  Deno.exit(code);
}

function parse(
  args: string[],
): DaemonFlags & {
  help: boolean;
  version: boolean;
  printPermissions: boolean;
  stateDir?: string;
} {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: "string" },
        bind: { type: "string" },
        port: { type: "string" },
        root: { type: "string" },
        "force-grpc-data": { type: "boolean", default: false },
        "print-permissions": { type: "boolean", default: false },
        "state-dir": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
      },
    }));
  } catch (error) {
    // Node's wording, made ours: one line, and where to look.
    const message = error instanceof Error ? error.message : String(error);
    const unknown = message.match(/Unknown option '([^']+)'/);
    fail(
      unknown
        ? `unknown option '${unknown[1]}' (see 'blit-daemon --help')`
        : `${message.split(". ")[0]} (see 'blit-daemon --help')`,
    );
  }
  let port: number | undefined;
  if (values.port !== undefined) {
    if (!/^\d{1,5}$/.test(values.port) || Number(values.port) > 65535) {
      fail(`--port must be 0-65535, got ${JSON.stringify(values.port)}`);
    }
    port = Number(values.port);
  }
  if (values.bind !== undefined && values.bind === "") {
    fail("--bind needs an address");
  }
  return {
    config: values.config,
    bind: values.bind,
    port,
    root: values.root,
    forceGrpcData: values["force-grpc-data"],
    help: values.help,
    version: values.version,
    printPermissions: values["print-permissions"],
    stateDir: values["state-dir"],
  };
}

function isInside(parent: string, child: string): boolean {
  return child === parent ||
    child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/**
 * The state directory, absolute, made, and outside every module (the
 * daemon's working directory moves into modules later, and a relative
 * state path would follow it there).
 */
function resolveStateDir(
  flags: DaemonFlags & { stateDir?: string },
  config: DaemonConfig,
): string {
  let stateDir = flags.stateDir ??
    daemonStateDir(config.stateDir, Deno.env.toObject());
  // Absolute now: the daemon's working directory moves into modules later
  // (contained roots), and a relative state path would follow it there.
  if (!stateDir.startsWith("/")) {
    try {
      stateDir = `${Deno.cwd()}/${stateDir}`;
    } catch {
      fail(`state directory ${stateDir} must be an absolute path here`);
    }
  }
  if (!isSandboxed()) {
    try {
      Deno.mkdirSync(stateDir, { recursive: true });
    } catch (error) {
      fail(
        `cannot create state directory ${stateDir}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    const realState = Deno.realPathSync(stateDir);
    for (const m of config.modules) {
      const real = Deno.realPathSync(m.path);
      if (isInside(real, realState)) {
        fail(
          `state directory ${stateDir} is inside module "${m.name}"; set "stateDir" elsewhere`,
        );
      }
    }
  }
  return stateDir;
}

/** Starts the daemon's listeners, or fails with one line saying why not. */
async function listen(
  config: DaemonConfig,
  stateDir: string,
): Promise<RunningDaemon> {
  try {
    return await startDaemon(config, {
      makeSymlink: isSandboxed() ? brokerClient() : undefined,
      stateDir,
    });
  } catch (error) {
    const where = (error as { where?: string }).where ??
      `${bracketHost(config.bind)}:${config.port}`;
    fail(
      `cannot listen on ${where}: ${
        error instanceof Deno.errors.AddrInUse
          ? "address already in use (is another blit-daemon running?)"
          : error instanceof Deno.errors.AddrNotAvailable
          ? "no such address on this machine"
          : error instanceof Deno.errors.PermissionDenied ||
              error instanceof Deno.errors.NotCapable
          ? "permission denied (ports under 1024 need privileges)"
          : (error instanceof Error ? error.message : String(error))
            .replace(/\s*\(os error \d+\)$/, "")
      }`,
      1,
    );
  }
}

/** The start-up line: modules, TLS, data plane, zero-copy, containment. */
function startupLine(config: DaemonConfig, daemon: RunningDaemon): string {
  const host = bracketHost(config.bind);
  return `modules: ${
    config.modules.map((m) => {
      const notes = [
        m.readOnly ? "read-only" : "",
        m.secretFile ? "secret required" : "",
        m.allow ? `allow: ${m.allow.length} rule(s)` : "",
      ].filter(Boolean);
      return `${m.name}=${m.path}${
        notes.length > 0 ? ` (${notes.join(", ")})` : ""
      }`;
    }).join(", ")
  }; tls: ${config.tls ? `on (${config.tls.certFile})` : "off"}; data plane: ${
    daemon.dataPort === null ? "off (gRPC only)" : `${host}:${daemon.dataPort}`
  }; zero-copy: ${
    daemon.zeroCopy
      ? "on (sendfile and lstat through FFI: --allow-ffi, which Deno's sandbox does not contain)"
      : config.zeroCopy
      ? "unavailable here (needs Linux and libc); sending by read/write"
      : 'off ("zeroCopy": true trades the sandbox for sendfile)'
  }; containment: ${
    walkForced()
      ? "path walk (forced by BLIT_DAEMON_CONTAINMENT=walk: weaker, see the README's Security section)"
      : loadLibc()
      ? "kernel (openat2 beneath each module's directory handle)"
      : "path walk (no openat2 here: weaker, see the README's Security section)"
  }`;
}

/** Test hook: proves the sandbox by reading a path outside the modules. */
function debugReads(debugRead: string): void {
  debugRawOpen(debugRead);
  try {
    Deno.readFileSync(debugRead);
    console.error(`blit-daemon: debug read ${debugRead}: ok`);
  } catch (error) {
    console.error(
      `blit-daemon: debug read ${debugRead}: ${
        error instanceof Error ? error.name : error
      }`,
    );
  }
}

/**
 * Runs `blit-daemon` with command-line `args` (as `deno run -A
 * jsr:@blit/cli/daemon ARGS` does) and resolves with its exit status once
 * it stops (SIGINT/SIGTERM). A bad flag or config prints one error line
 * and exits the process with status 2. It starts itself again inside its
 * permission sandbox where it may; to embed a daemon in a program, use
 * `serve` from the library instead.
 *
 * @example
 * ```ts
 * import { main } from "./daemon.ts";
 * // --version and --help return without starting anything.
 * if (await main(["--version"]) !== 0) throw new Error("example failed");
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const flags = parse(args);
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  if (flags.version) {
    console.log(`blit-daemon ${VERSION}`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(flags);
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message);
    throw error;
  }
  const stateDir = resolveStateDir(flags, config);
  if (config.log && !isSandboxed()) {
    // Made now, so the sandbox (and the kernel's rules) can name it.
    try {
      Deno.openSync(config.log, { append: true, create: true, mode: 0o640 })
        .close();
    } catch (error) {
      fail(
        `cannot open the log file ${config.log}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
  }
  const sandbox = sandboxFlags(config, stateDir);
  if (flags.printPermissions) {
    console.log(sandbox.join(" "));
    return 0;
  }
  if (!isSandboxed()) {
    if (!canReexec()) {
      console.error(
        "blit-daemon: warning: no permission to re-execute under a sandbox; running with the permissions given",
      );
    } else {
      // The sandboxed child says which flags it runs under, once it is
      // listening (a daemon that can't start prints only its error).
      // The last --state-dir wins: the child gets the absolute one.
      const passed = [...args, "--state-dir", stateDir];
      // A file, a remote module (https:, jsr:) or a compiled binary: see
      // sandboxCommand for how each starts again.
      const script = import.meta.url.startsWith("file:")
        ? fileURLToPath(import.meta.url)
        : import.meta.url;
      return await reexec(script, sandbox, passed, {
        modules: config.modules,
        confine: () =>
          Deno.env.get("BLIT_DAEMON_NO_LANDLOCK") === "1"
            ? "kernel confinement: off (BLIT_DAEMON_NO_LANDLOCK=1)"
            : confineDaemon(config, stateDir, script),
      });
    }
  }

  if (isSandboxed() && Deno.build.standalone) {
    // A compiled binary keeps the permissions it was built with; the
    // Landlock domain bounds its files, and it starts no programs.
    Deno.permissions.revokeSync({ name: "run" });
  }
  const daemon = await listen(config, stateDir);
  // Before "listening": whoever waits for that line may signal at once.
  const stopped = new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  const host = bracketHost(config.bind);
  // The details first: "listening" on stdout is the line callers wait for.
  if (isSandboxed()) {
    console.error(`blit-daemon: sandbox: ${sandbox.join(" ")}`);
  }
  console.error(`blit-daemon: ${startupLine(config, daemon)}`);
  // The hashing Workers load now, not on a client's first resume; the
  // describing ones, not on a client's first delta transfer.
  hashPool()?.keepWarm().catch(() => {});
  warmDescribers();
  const confinement = Deno.env.get(CONFINEMENT_ENV);
  if (confinement) console.error(`blit-daemon: ${confinement}`);
  console.log(`blit-daemon listening on ${host}:${daemon.port}`);
  const debugRead = Deno.env.get("BLIT_DAEMON_DEBUG_READ");
  if (debugRead) debugReads(debugRead);
  await stopped;
  console.error("blit-daemon: stopping");
  await daemon.stop();
  return 0;
}

/**
 * Test hook: opens `path` through libc, past Deno's permission checks (as
 * any FFI code path could), so tests see what the kernel alone allows.
 */
function debugRawOpen(path: string): void {
  const libc = loadLibc();
  if (!libc) return;
  const fd = libc.openat2(-100, cString(path), 0, 0, 0);
  if (fd >= 0) libc.fn.close(fd);
  console.error(
    `blit-daemon: debug raw open ${path}: ${fd >= 0 ? "ok" : `errno ${-fd}`}`,
  );
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
