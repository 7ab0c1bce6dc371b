// Loading the daemon's config: the file read from disk, the files it names
// (module directories, secret files, TLS certificates) checked and read,
// and the command-line flags on top. Parsing itself is config.ts.
import {
  checkPort,
  ConfigError,
  type ConfigFiles,
  type DaemonConfig,
  type DaemonFlags,
  parseConfig,
  rootModule,
} from "./config.ts";

/**
 * Reads a module's secret file: a regular file that only its owner may
 * read or write (checked before reading), not empty; one trailing
 * newline is dropped.
 */
function readSecretFile(path: string): Uint8Array {
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

/** A module directory: it exists, is a directory, and its real path. */
function moduleDir(path: string, label: string): string {
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

/** Reads a PEM file the daemon needs: absolute, readable, PEM-looking. */
function readPem(path: string, what: string): string {
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

/**
 * The disk, as the config parser reaches it.
 *
 * Permissions: read on the files and directories a config names.
 */
export const diskFiles: ConfigFiles = {
  moduleDir,
  secret: readSecretFile,
  pem: readPem,
};

/**
 * Builds the effective config: the file (if any), then flags on top.
 *
 * Permissions: read on the config file and module paths.
 *
 * @example
 * ```ts
 * import { loadConfig } from "./config_load.ts";
 * const root = Deno.makeTempDirSync();
 * const c = loadConfig({ root, port: 1234 });
 * if (!(c.modules[0].name === "default" && c.port === 1234)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
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
    config = parseConfig(text, flags.config, diskFiles);
  } else {
    config = parseConfig("{}", "(defaults)", diskFiles);
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
    config.modules.push(rootModule(path, moduleDir(path, "--root")));
  }
  if (config.modules.length === 0) {
    throw new ConfigError(
      'no modules to export; pass --root DIR or add "modules" to a --config file',
    );
  }
  return config;
}
