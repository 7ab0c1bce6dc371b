// What a daemon's configuration is: modules, limits, TLS, the flags on
// top, and the errors saying what is wrong with one. Parsing the JSONC
// text is config.ts; reaching the files it names, config_load.ts.
import type { AllowRule } from "./allow.ts";

/** One exported directory. */
export interface ModuleConfig {
  name: string;
  /** Absolute real path (a configured symlink is resolved at load). */
  path: string;
  readOnly: boolean;
  comment: string;
  /**
   * Store pushed symlinks whose target is absolute or climbs out of the
   * module as `/blit-munged/TARGET`, so following them leads nowhere
   * (pulls give the original back). Default: true.
   */
  mungeSymlinks: boolean;
  /**
   * Keep setuid, setgid and sticky bits of pushed files and directories.
   * Default: false (they are dropped: no client can plant a setuid file).
   */
  keepSpecialBits?: boolean;
  /**
   * The path as configured, when it was a symlink (the sandboxed daemon
   * re-reads the config and needs to resolve it again).
   */
  linkedFrom?: string;
  /**
   * The file holding the module's secret (absolute; owner-only): clients
   * must present it on every call touching the module. The secret itself
   * is `moduleSecret(module)`, never an enumerable field (so it is never
   * printed or serialised with the config).
   */
  secretFile?: string;
  /** Client addresses and CIDR blocks admitted; undefined: any. */
  allow?: readonly AllowRule[];
}

const SECRETS = new WeakMap<ModuleConfig, Uint8Array>();

/** Gives `module` its secret (the parser, from its secret file). */
export function setModuleSecret(
  module: ModuleConfig,
  secret: Uint8Array,
): void {
  SECRETS.set(module, secret);
}

/** The module's secret (bytes of its secret file), or undefined when open. */
export function moduleSecret(module: ModuleConfig): Uint8Array | undefined {
  return SECRETS.get(module);
}

/** What one client, and all clients together, may make the daemon hold. */
export interface DaemonLimits {
  /** Open connections on each port, all clients together. Default: 256. */
  maxConnections: number;
  /** Open connections on each port from one client address. Default: 32. */
  maxConnectionsPerClient: number;
  /** Transfers (push/pull) at once, all clients together. Default: 32. */
  maxSessions: number;
  /** Transfers at once from one client address. Default: 8. */
  maxSessionsPerClient: number;
  /** Seconds a new connection has to say something useful. Default: 10. */
  handshakeTimeout: number;
  /** Seconds a connection or transfer may sit idle. Default: 120. */
  idleTimeout: number;
  /** Bytes of manifest state (paths, need and mirror lists) one transfer may make the daemon hold. Default: 128 MiB (a million-file push needs about 90 MiB). */
  sessionMemory: number;
  /** The same, all transfers together. Default: 256 MiB. */
  totalMemory: number;
  /**
   * Seconds over which a transfer's progress is judged: one that brought
   * less than `minProgress` in its last window gives its slot up when
   * another transfer needs it. Default: 30.
   */
  progressWindow: number;
  /** Bytes a window must bring (a control message counts 1 KiB). Default: 64 KiB. */
  minProgress: number;
}

/** The limits a daemon runs with when the config names none. */
export const DEFAULT_LIMITS: Readonly<DaemonLimits> = Object.freeze({
  maxConnections: 256,
  maxConnectionsPerClient: 32,
  maxSessions: 32,
  maxSessionsPerClient: 8,
  handshakeTimeout: 10,
  idleTimeout: 120,
  sessionMemory: 128 * 1024 * 1024,
  totalMemory: 256 * 1024 * 1024,
  progressWindow: 30,
  minProgress: 64 * 1024,
});

/** The daemon's effective configuration. */
export interface DaemonConfig {
  bind: string;
  port: number;
  dataPort: number;
  /** "HOST:PORT" clients dial for the data plane, or null. */
  advertiseData: string | null;
  forceGrpcData: boolean;
  /**
   * Send file bodies by sendfile (FFI). Costs the sandbox: the daemon
   * then runs with --allow-ffi, which Deno's permissions do not contain.
   */
  zeroCopy: boolean;
  stateDir: string | null;
  /**
   * Seconds without a call before the daemon checks itself (handshake,
   * disk probe) and records it in its history. Default: 86400.
   */
  selfCheckInterval: number;
  /**
   * The file the daemon logs a line per client call to (absolute; appended
   * to), or null for stderr. Default: null.
   */
  log?: string | null;
  /** `"text"` (key=value lines) or `"json"` (JSON lines). Default: text. */
  logFormat?: "text" | "json";
  modules: ModuleConfig[];
  limits: DaemonLimits;
  /** The config file, when one was read. */
  configFile: string | null;
  /**
   * Both planes over TLS: the PEM files, and their text (read at load).
   * Default: none (plain TCP).
   */
  tls?: { certFile: string; keyFile: string; cert: string; key: string };
}

/** A bad config or bad flags: the daemon exits 2 with this message. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Flags that override the file. */
/**
 * How the parser reaches the files a config names; each throws a
 * {@linkcode ConfigError} saying what is wrong (the parser adds where).
 * `diskFiles` in config_load.ts is the real one.
 */
export interface ConfigFiles {
  /** A module's directory (absolute): checked, and its real path. */
  moduleDir(path: string, label: string): string;
  /** A module's secret file (absolute): its secret. */
  secret(path: string): Uint8Array;
  /** A PEM file (absolute): its text. */
  pem(path: string, what: "certificate" | "private key"): string;
}

export interface DaemonFlags {
  config?: string;
  bind?: string;
  port?: number;
  root?: string;
  forceGrpcData?: boolean;
}

/**
 * The daemon's state directory: config `stateDir`, else
 * `$BLIT_STATE_DIR/daemon`, else `$XDG_STATE_HOME/blit-daemon`, else
 * `~/.local/state/blit-daemon`.
 *
 * @example
 * ```ts
 * import { daemonStateDir } from "./config.ts";
 * if (!(daemonStateDir(null, { BLIT_STATE_DIR: "/s" }) === "/s/daemon")) throw new Error("example failed");
 * ```
 */
export function daemonStateDir(
  configured: string | null,
  env: Record<string, string | undefined>,
): string {
  if (configured) return configured;
  if (env.BLIT_STATE_DIR) return `${env.BLIT_STATE_DIR}/daemon`;
  if (env.XDG_STATE_HOME) return `${env.XDG_STATE_HOME}/blit-daemon`;
  return `${env.HOME ?? "/tmp"}/.local/state/blit-daemon`;
}
