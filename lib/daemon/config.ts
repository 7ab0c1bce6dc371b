// blit-daemon configuration: the JSONC text parsed and strictly validated,
// without touching the disk itself: the files a config names (module
// directories, secret files, TLS certificates) are reached through a
// `ConfigFiles` (config_load.ts has the disk's, and loads flags on top).
import { type AllowRule, parseAllowRule } from "./allow.ts";
import {
  ConfigError,
  type ConfigFiles,
  type DaemonConfig,
  type DaemonLimits,
  DEFAULT_LIMITS,
  type ModuleConfig,
  setModuleSecret,
} from "./config_types.ts";
// The configuration's types, where its users have always found them.
export {
  ConfigError,
  type ConfigFiles,
  type DaemonConfig,
  type DaemonFlags,
  type DaemonLimits,
  daemonStateDir,
  DEFAULT_LIMITS,
  type ModuleConfig,
  moduleSecret,
} from "./config_types.ts";
import {
  type Node,
  type ParseError,
  parseTree,
  printParseErrorCode,
  stripComments,
} from "../deps/jsonc_parser.ts";

const TOP_KEYS = new Set([
  "bind",
  "port",
  "dataPort",
  "advertiseData",
  "forceGrpcData",
  "zeroCopy",
  "stateDir",
  "selfCheckInterval",
  "log",
  "logFormat",
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

/**
 * Checks a port: an integer 1-65535 (0 too when `allowZero`).
 *
 * @throws {ConfigError} naming `label` otherwise.
 */
export function checkPort(
  value: unknown,
  label: string,
  allowZero: boolean,
): number {
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

/** An absolute path string, or a ConfigError saying what it is not. */
function absolutePath(path: unknown, label: string, what = "path"): string {
  if (typeof path !== "string" || path === "") {
    throw new ConfigError(`${label} must be a non-empty string ${what}`);
  }
  if (!path.startsWith("/")) {
    throw new ConfigError(
      `${label} must be an absolute ${what}, got ${JSON.stringify(path)}`,
    );
  }
  return path;
}

/** A ConfigError from `f` gets `at` (file:line:col: key) in front. */
function at<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`${where}: ${error.message}`);
    }
    throw error;
  }
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

/** Where a config's nodes are, for error messages. */
interface Source {
  file: string;
  text: string;
  files: ConfigFiles;
}

/**
 * Parses and validates a JSONC config text. Every error names the file,
 * the line:column and the key. The files it names are reached through
 * `files` (module directories resolved, secrets and certificates read).
 *
 * @example
 * ```ts
 * import { parseConfig } from "./config.ts";
 * import { diskFiles } from "./config_load.ts";
 * const c = parseConfig('{ "port": 9000 } // comment', "blit.jsonc", diskFiles);
 * if (!(c.port === 9000 && c.bind === "127.0.0.1")) throw new Error("example failed");
 * ```
 * @throws {ConfigError} for bad JSONC, unknown keys, wrong types, bad paths.
 */
export function parseConfig(
  text: string,
  file: string,
  files: ConfigFiles,
): DaemonConfig {
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
    log: null,
    logFormat: "text",
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
  const source = { file, text, files };
  for (const prop of root.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const key = String(keyNode?.value);
    const where_ = where(file, text, keyNode ?? prop, key);
    if (!TOP_KEYS.has(key)) {
      throw new ConfigError(
        `${where_}: unknown key (allowed: ${[...TOP_KEYS].join(", ")})`,
      );
    }
    parseTopKey(config, key, valueNode, where_, source);
  }
  return config;
}

/** One top-level key of the config into `config`. */
function parseTopKey(
  config: DaemonConfig,
  key: string,
  valueNode: Node | undefined,
  where_: string,
  source: Source,
): void {
  const value = valueNode?.type === "object" ? undefined : valueNode?.value;
  const flag = () => {
    if (typeof value !== "boolean") {
      throw new ConfigError(`${where_}: must be true or false`);
    }
    return value;
  };
  switch (key) {
    case "bind":
      if (typeof value !== "string" || value === "") {
        throw new ConfigError(`${where_}: must be a non-empty address string`);
      }
      config.bind = value;
      break;
    case "port":
      config.port = at(where_, () => checkPort(value, "value", true));
      break;
    case "dataPort":
      config.dataPort = at(where_, () => checkPort(value, "value", true));
      break;
    case "advertiseData":
      config.advertiseData = parseAdvertised(value, where_);
      break;
    case "forceGrpcData":
      config.forceGrpcData = flag();
      break;
    case "zeroCopy":
      config.zeroCopy = flag();
      break;
    case "stateDir":
      if (value === null) config.stateDir = null;
      else if (typeof value === "string" && value.startsWith("/")) {
        config.stateDir = value;
      } else {
        throw new ConfigError(`${where_}: must be an absolute path or null`);
      }
      break;
    case "selfCheckInterval":
      if (
        typeof value !== "number" || !Number.isInteger(value) || value < 1 ||
        value > 365 * 86400
      ) {
        throw new ConfigError(
          `${where_}: must be a whole number of seconds from 1 to 31536000`,
        );
      }
      config.selfCheckInterval = value;
      break;
    case "log":
      if (value === null) config.log = null;
      else if (typeof value === "string" && value.startsWith("/")) {
        config.log = value;
      } else {
        throw new ConfigError(
          `${where_}: must be an absolute file path, or null for stderr`,
        );
      }
      break;
    case "logFormat":
      if (value !== "text" && value !== "json") {
        throw new ConfigError(`${where_}: must be "text" or "json"`);
      }
      config.logFormat = value;
      break;
    case "modules":
      if (valueNode?.type !== "object") {
        throw new ConfigError(`${where_}: must be an object of modules`);
      }
      config.modules = parseModules(valueNode, source);
      break;
    case "tls":
      config.tls = parseTls(valueNode, where_, source);
      break;
    case "limits":
      if (valueNode?.type !== "object") {
        throw new ConfigError(`${where_}: must be an object of limits`);
      }
      config.limits = parseLimits(valueNode, source.file, source.text);
      break;
  }
}

/** `advertiseData`: "HOST:PORT" or null. */
function parseAdvertised(value: unknown, where_: string): string | null {
  if (value === null) return null;
  if (
    typeof value === "string" &&
    /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)
  ) {
    const port = Number(value.slice(value.lastIndexOf(":") + 1));
    at(where_, () => checkPort(port, "port", false));
    return value;
  }
  throw new ConfigError(
    `${where_}: must be "HOST:PORT" or null, got ${JSON.stringify(value)}`,
  );
}

function parseTls(
  node: Node | undefined,
  where_: string,
  source: Source,
): NonNullable<DaemonConfig["tls"]> {
  if (node?.type !== "object") {
    throw new ConfigError(
      `${where_}: must be {"cert": "/path/cert.pem", "key": "/path/key.pem"}`,
    );
  }
  const files: Record<string, string> = {};
  const pems: Record<string, string> = {};
  for (const field of node.children ?? []) {
    const [fk, fv] = field.children ?? [];
    const key = String(fk?.value);
    const fat = where(source.file, source.text, fk ?? field, `tls.${key}`);
    if (key !== "cert" && key !== "key") {
      throw new ConfigError(`${fat}: unknown key (allowed: cert, key)`);
    }
    const path = fv?.value;
    if (typeof path !== "string" || !path.startsWith("/")) {
      throw new ConfigError(
        `${fat}: must be an absolute path to a PEM file, got ${
          JSON.stringify(path)
        }`,
      );
    }
    pems[key] = at(
      fat,
      () =>
        source.files.pem(path, key === "cert" ? "certificate" : "private key"),
    );
    files[key] = path;
  }
  for (const key of ["cert", "key"]) {
    if (!(key in files)) {
      throw new ConfigError(
        `${where_}.${key}: missing; TLS needs a cert and a key`,
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

function parseModules(node: Node, source: Source): ModuleConfig[] {
  const modules: ModuleConfig[] = [];
  for (const prop of node.children ?? []) {
    const [keyNode, valueNode] = prop.children ?? [];
    const name = String(keyNode?.value);
    const where_ = where(
      source.file,
      source.text,
      keyNode ?? prop,
      `modules.${name}`,
    );
    if (!MODULE_NAME.test(name) || name === "." || name === "..") {
      throw new ConfigError(
        `${where_}: module names use letters, digits, '.', '_' and '-' (at most 64)`,
      );
    }
    if (valueNode?.type !== "object") {
      throw new ConfigError(`${where_}: must be an object with a "path"`);
    }
    const module: ModuleConfig = {
      name,
      path: "",
      readOnly: false,
      comment: "",
      mungeSymlinks: true,
    };
    for (const field of valueNode.children ?? []) {
      parseModuleField(module, field, source);
    }
    if (module.path === "") {
      throw new ConfigError(
        `${where_}.path: missing; every module needs an absolute "path"`,
      );
    }
    modules.push(module);
  }
  return modules;
}

/** One key of a module's object into `module`. */
function parseModuleField(
  module: ModuleConfig,
  field: Node,
  source: Source,
): void {
  const [fk, fv] = field.children ?? [];
  const key = String(fk?.value);
  const fat = where(
    source.file,
    source.text,
    fk ?? field,
    `modules.${module.name}.${key}`,
  );
  if (!MODULE_KEYS.has(key)) {
    throw new ConfigError(
      `${fat}: unknown key (allowed: ${[...MODULE_KEYS].join(", ")})`,
    );
  }
  const value = fv?.value;
  if (key === "path") {
    at(fat, () => {
      const path = absolutePath(value, "path");
      module.path = source.files.moduleDir(path, "path");
      if (module.path !== path) module.linkedFrom = path;
    });
  } else if (
    key === "readOnly" || key === "mungeSymlinks" || key === "keepSpecialBits"
  ) {
    if (typeof value !== "boolean") {
      throw new ConfigError(`${fat}: must be true or false`);
    }
    module[key] = value;
  } else if (key === "allow") {
    module.allow = parseAllow(fv, fat);
  } else if (key === "secretFile") {
    if (typeof value !== "string" || !value.startsWith("/")) {
      throw new ConfigError(
        `${fat}: must be an absolute path to a file, got ${
          JSON.stringify(value)
        }`,
      );
    }
    setModuleSecret(module, at(fat, () => source.files.secret(value)));
    module.secretFile = value;
  } else {
    if (typeof value !== "string") {
      throw new ConfigError(`${fat}: must be a string`);
    }
    module.comment = value;
  }
}

/** A module's `allow` list: addresses and CIDR blocks. */
function parseAllow(node: Node | undefined, fat: string): AllowRule[] {
  if (node?.type !== "array") {
    throw new ConfigError(
      `${fat}: must be a list of addresses or CIDR blocks, e.g. ["10.0.0.0/8", "::1"]`,
    );
  }
  return (node.children ?? []).map((item, i) => {
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
}

/**
 * The configured module for a directory (`--root`), already checked and
 * resolved by the caller.
 */
export function rootModule(path: string, real: string): ModuleConfig {
  return {
    name: "default",
    path: real,
    readOnly: false,
    comment: "--root",
    mungeSymlinks: true,
    ...(real !== path ? { linkedFrom: path } : {}),
  };
}
