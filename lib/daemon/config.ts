// blit-daemon configuration: JSONC file + flags, strictly validated.
import { type AllowRule, parseAllowRule } from "./allow.ts";
import {
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
  stripComments,
} from "../deps/jsonc_parser.ts";

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

/** The module's secret (bytes of its secret file), or undefined when open. */
export function moduleSecret(module: ModuleConfig): Uint8Array | undefined {
  return SECRETS.get(module);
}

/**
 * Reads a module's secret file: an absolute path to a regular file that
 * only its owner may read or write (checked before reading), not empty;
 * one trailing newline is dropped.
 */
function readSecretFile(path: unknown): Uint8Array {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new ConfigError(
      `must be an absolute path to a file, got ${JSON.stringify(path)}`,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new ConfigError(`${path} does not exist or cannot be read`);
  }
  if (!info.isFile) throw new ConfigError(`${path} is not a regular file`);
  const mode = (info.mode ?? 0) & 0o777;
  if (mode & 0o077) {
    throw new ConfigError(
      `${path} is readable or writable by group or others (mode ${
        mode.toString(8).padStart(4, "0")
      }); chmod 600 it`,
    );
  }
  let bytes = Deno.readFileSync(path);
  if (bytes.at(-1) === 0x0a) bytes = bytes.subarray(0, -1);
  if (bytes.at(-1) === 0x0d) bytes = bytes.subarray(0, -1);
  if (bytes.length === 0) throw new ConfigError(`${path} is empty`);
  return bytes;
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
export interface DaemonFlags {
  config?: string;
  bind?: string;
  port?: number;
  root?: string;
  forceGrpcData?: boolean;
}

const TOP_KEYS = new Set([
  "bind",
  "port",
  "dataPort",
  "advertiseData",
  "forceGrpcData",
  "zeroCopy",
  "stateDir",
  "selfCheckInterval",
  "modules",
  "limits",
  "tls",
]);
const MODULE_KEYS = new Set([
  "path",
  "readOnly",
  "comment",
  "mungeSymlinks",
  "keepSpecialBits",
  "secretFile",
  "allow",
]);
const MODULE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function lineCol(text: string, offset: number): string {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return `${line}:${offset - last}`;
}

function where(file: string, text: string, node: Node, key: string): string {
  return `${file}:${lineCol(text, node.offset)}: ${key}`;
}

function checkPort(value: unknown, label: string, allowZero: boolean): number {
  if (
    typeof value !== "number" || !Number.isInteger(value) ||
    value < (allowZero ? 0 : 1) || value > 65535
  ) {
    throw new ConfigError(
      `${label} must be an integer port ${allowZero ? 0 : 1}-65535, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

function checkModulePath(path: unknown, label: string): string {
  if (typeof path !== "string" || path === "") {
    throw new ConfigError(`${label} must be a non-empty string path`);
  }
  if (!path.startsWith("/")) {
    throw new ConfigError(
      `${label} must be an absolute path, got ${JSON.stringify(path)}`,
    );
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError(
        `${label} ${
          JSON.stringify(path)
        } cannot be used under the daemon's Deno sandbox (${error.message}); pick a directory outside /dev, /proc and /sys`,
      );
    }
    throw new ConfigError(
      `${label} ${
        JSON.stringify(path)
      } does not exist; create it or fix the path`,
    );
  }
  if (!info.isDirectory) {
    throw new ConfigError(
      `${label} ${JSON.stringify(path)} is not a directory`,
    );
  }
  // Resolved once here: every call then checks the real directory's
  // identity, and errors never need to name where a link pointed.
  return Deno.realPathSync(path);
}

function parseLimits(node: Node, file: string, text: string): DaemonLimits {
  const limits: DaemonLimits = { ...DEFAULT_LIMITS };
  for (const prop of node.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const key = String(keyNode?.value);
    const at = where(file, text, keyNode ?? prop, `limits.${key}`);
    if (!(key in DEFAULT_LIMITS)) {
      throw new ConfigError(
        `${at}: unknown key (allowed: ${
          Object.keys(DEFAULT_LIMITS).join(", ")
        })`,
      );
    }
    const value = valueNode?.value;
    if (
      typeof value !== "number" || !Number.isSafeInteger(value) || value < 1
    ) {
      throw new ConfigError(`${at}: must be a positive integer`);
    }
    limits[key as keyof DaemonLimits] = value;
  }
  return limits;
}

/**
 * Parses and validates a JSONC config text. Every error names the file,
 * the line:column and the key.
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * const c = parseConfig('{ "port": 9000 } // comment', "blit.jsonc");
 * if (!(c.port === 9000 && c.bind === "127.0.0.1")) throw new Error("example failed");
 * ```
 * @throws {ConfigError} for bad JSONC, unknown keys, wrong types, bad paths.
 */
export function parseConfig(text: string, file: string): DaemonConfig {
  const errors: ParseError[] = [];
  // An empty file (or one with only comments) means "all defaults".
  const root = stripComments(text).trim() === ""
    ? undefined
    : parseTree(text, errors, { allowTrailingComma: true });
  if (errors.length > 0) {
    const e = errors[0];
    throw new ConfigError(
      `${file}:${lineCol(text, e.offset)}: invalid JSONC (${
        printParseErrorCode(e.error)
      })`,
    );
  }
  const config: DaemonConfig = {
    bind: "127.0.0.1",
    port: 50051,
    dataPort: 0,
    advertiseData: null,
    forceGrpcData: false,
    zeroCopy: false,
    stateDir: null,
    selfCheckInterval: 86400,
    modules: [],
    limits: { ...DEFAULT_LIMITS },
    configFile: file,
  };
  if (!root) return config;
  if (root.type !== "object") {
    throw new ConfigError(
      `${file}:${lineCol(text, root.offset)}: the config must be a JSON object`,
    );
  }
  for (const prop of root.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const key = String(keyNode?.value);
    const at = where(file, text, keyNode ?? prop, key);
    if (!TOP_KEYS.has(key)) {
      throw new ConfigError(
        `${at}: unknown key (allowed: ${[...TOP_KEYS].join(", ")})`,
      );
    }
    const value = valueNode?.type === "object" ? undefined : valueNode?.value;
    const wrap = <T>(f: () => T): T => {
      try {
        return f();
      } catch (error) {
        if (error instanceof ConfigError) {
          throw new ConfigError(`${at}: ${error.message}`);
        }
        throw error;
      }
    };
    switch (key) {
      case "bind":
        if (typeof value !== "string" || value === "") {
          throw new ConfigError(`${at}: must be a non-empty address string`);
        }
        config.bind = value;
        break;
      case "port":
        config.port = wrap(() => checkPort(value, "value", true));
        break;
      case "dataPort":
        config.dataPort = wrap(() => checkPort(value, "value", true));
        break;
      case "advertiseData":
        if (value === null) config.advertiseData = null;
        else if (
          typeof value === "string" &&
          /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)
        ) {
          const port = Number(value.slice(value.lastIndexOf(":") + 1));
          wrap(() => checkPort(port, "port", false));
          config.advertiseData = value;
        } else {
          throw new ConfigError(
            `${at}: must be "HOST:PORT" or null, got ${JSON.stringify(value)}`,
          );
        }
        break;
      case "forceGrpcData":
        if (typeof value !== "boolean") {
          throw new ConfigError(`${at}: must be true or false`);
        }
        config.forceGrpcData = value;
        break;
      case "zeroCopy":
        if (typeof value !== "boolean") {
          throw new ConfigError(`${at}: must be true or false`);
        }
        config.zeroCopy = value;
        break;
      case "stateDir":
        if (value === null) config.stateDir = null;
        else if (typeof value === "string" && value.startsWith("/")) {
          config.stateDir = value;
        } else throw new ConfigError(`${at}: must be an absolute path or null`);
        break;
      case "selfCheckInterval":
        if (
          typeof value !== "number" || !Number.isInteger(value) || value < 1 ||
          value > 365 * 86400
        ) {
          throw new ConfigError(
            `${at}: must be a whole number of seconds from 1 to 31536000`,
          );
        }
        config.selfCheckInterval = value;
        break;
      case "modules":
        if (valueNode?.type !== "object") {
          throw new ConfigError(`${at}: must be an object of modules`);
        }
        config.modules = parseModules(valueNode, file, text);
        break;
      case "tls":
        config.tls = parseTls(valueNode, file, text, at);
        break;
      case "limits":
        if (valueNode?.type !== "object") {
          throw new ConfigError(`${at}: must be an object of limits`);
        }
        config.limits = parseLimits(valueNode, file, text);
        break;
    }
  }
  return config;
}

/** Reads a PEM file the daemon needs: absolute, readable, PEM-looking. */
function readPem(path: unknown, what: string): string {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new ConfigError(
      `must be an absolute path to a PEM file, got ${JSON.stringify(path)}`,
    );
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    throw new ConfigError(`${path} does not exist or cannot be read`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new ConfigError(`${path} is not a PEM ${what}`);
  }
  return text;
}

function parseTls(
  node: Node | undefined,
  file: string,
  text: string,
  at: string,
): NonNullable<DaemonConfig["tls"]> {
  if (node?.type !== "object") {
    throw new ConfigError(
      `${at}: must be {"cert": "/path/cert.pem", "key": "/path/key.pem"}`,
    );
  }
  const files: Record<string, string> = {};
  const pems: Record<string, string> = {};
  for (const field of node.children ?? []) {
    const [fk, fv] = field.children ?? [];
    const key = String(fk?.value);
    const fat = where(file, text, fk ?? field, `tls.${key}`);
    if (key !== "cert" && key !== "key") {
      throw new ConfigError(`${fat}: unknown key (allowed: cert, key)`);
    }
    try {
      pems[key] = readPem(
        fv?.value,
        key === "cert" ? "certificate" : "private key",
      );
    } catch (error) {
      if (error instanceof ConfigError) {
        throw new ConfigError(`${fat}: ${error.message}`);
      }
      throw error;
    }
    files[key] = fv?.value as string;
  }
  for (const key of ["cert", "key"]) {
    if (!(key in files)) {
      throw new ConfigError(
        `${at}.${key}: missing; TLS needs a cert and a key`,
      );
    }
  }
  return {
    certFile: files.cert,
    keyFile: files.key,
    cert: pems.cert,
    key: pems.key,
  };
}

function parseModules(node: Node, file: string, text: string): ModuleConfig[] {
  const modules: ModuleConfig[] = [];
  for (const prop of node.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const name = String(keyNode?.value);
    const at = where(file, text, keyNode ?? prop, `modules.${name}`);
    if (!MODULE_NAME.test(name) || name === "." || name === "..") {
      throw new ConfigError(
        `${at}: module names use letters, digits, '.', '_' and '-' (at most 64)`,
      );
    }
    if (valueNode?.type !== "object") {
      throw new ConfigError(`${at}: must be an object with a "path"`);
    }
    const module: ModuleConfig = {
      name,
      path: "",
      readOnly: false,
      comment: "",
      mungeSymlinks: true,
    };
    let hasPath = false;
    for (const field of valueNode.children ?? []) {
      const [fk, fv] = field.children ?? [];
      const key = String(fk?.value);
      const fat = where(file, text, fk ?? field, `modules.${name}.${key}`);
      if (!MODULE_KEYS.has(key)) {
        throw new ConfigError(
          `${fat}: unknown key (allowed: ${[...MODULE_KEYS].join(", ")})`,
        );
      }
      const value = fv?.value;
      if (key === "path") {
        try {
          module.path = checkModulePath(value, "path");
          if (module.path !== value) module.linkedFrom = value as string;
        } catch (error) {
          if (error instanceof ConfigError) {
            throw new ConfigError(`${fat}: ${error.message}`);
          }
          throw error;
        }
        hasPath = true;
      } else if (
        key === "readOnly" || key === "mungeSymlinks" ||
        key === "keepSpecialBits"
      ) {
        if (typeof value !== "boolean") {
          throw new ConfigError(`${fat}: must be true or false`);
        }
        module[key] = value;
      } else if (key === "allow") {
        if (fv?.type !== "array") {
          throw new ConfigError(
            `${fat}: must be a list of addresses or CIDR blocks, e.g. ["10.0.0.0/8", "::1"]`,
          );
        }
        module.allow = (fv.children ?? []).map((item, i) => {
          const rule = typeof item.value === "string"
            ? parseAllowRule(item.value)
            : undefined;
          if (!rule) {
            throw new ConfigError(
              `${fat}[${i}]: ${
                JSON.stringify(item.value)
              } is not an IP address or CIDR block`,
            );
          }
          return rule;
        });
      } else if (key === "secretFile") {
        try {
          SECRETS.set(module, readSecretFile(value));
        } catch (error) {
          if (error instanceof ConfigError) {
            throw new ConfigError(`${fat}: ${error.message}`);
          }
          throw error;
        }
        module.secretFile = value as string;
      } else {
        if (typeof value !== "string") {
          throw new ConfigError(`${fat}: must be a string`);
        }
        module.comment = value;
      }
    }
    if (!hasPath) {
      throw new ConfigError(
        `${at}.path: missing; every module needs an absolute "path"`,
      );
    }
    modules.push(module);
  }
  return modules;
}

/**
 * Builds the effective config: the file (if any), then flags on top.
 *
 * Permissions: read on the config file and module paths.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config.ts";
 * const root = Deno.makeTempDirSync();
 * const c = loadConfig({ root, port: 1234 });
 * if (!(c.modules[0].name === "default" && c.port === 1234)) throw new Error("example failed");
 * ```
 * @throws {ConfigError} for bad files or flags, or when no module is configured.
 */
export function loadConfig(flags: DaemonFlags): DaemonConfig {
  let config: DaemonConfig;
  if (flags.config !== undefined) {
    let text: string;
    try {
      text = Deno.readTextFileSync(flags.config);
    } catch (error) {
      throw new ConfigError(
        `cannot read config ${flags.config}: ${
          error instanceof Error ? error.message : error
        }`,
      );
    }
    config = parseConfig(text, flags.config);
  } else {
    config = parseConfig("{}", "(defaults)");
    config.configFile = null;
  }
  if (flags.bind !== undefined) config.bind = flags.bind;
  if (flags.port !== undefined) {
    config.port = checkPort(flags.port, "--port", true);
  }
  if (flags.forceGrpcData) config.forceGrpcData = true;
  if (flags.root !== undefined) {
    const path = flags.root.startsWith("/")
      ? flags.root
      : `${Deno.cwd()}/${flags.root}`;
    config.modules = config.modules.filter((m) => m.name !== "default");
    const real = checkModulePath(path, "--root");
    config.modules.push({
      name: "default",
      path: real,
      readOnly: false,
      comment: "--root",
      mungeSymlinks: true,
      ...(real !== path ? { linkedFrom: path } : {}),
    });
  }
  if (config.modules.length === 0) {
    throw new ConfigError(
      'no modules to export; pass --root DIR or add "modules" to a --config file',
    );
  }
  return config;
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
