// A daemon inside a program: the same server `blit-daemon` runs, started
// and stopped by a call, configured like its config file.
import { parseConfig } from "./config.ts";
import { diskFiles } from "./config_load.ts";
import { startDaemon } from "./server.ts";
import { CallLog } from "./call_log.ts";
import { bracketHost } from "../wire/host_port.ts";

/** What {@linkcode serve} exports and how. */
export interface ServeOptions {
  /**
   * The modules: a name and its directory, or a name and what the config
   * file says of a module (`{ path, readOnly, comment, secretFile, allow,
   * mungeSymlinks, keepSpecialBits }`).
   */
  modules: Record<string, string | Record<string, unknown>>;
  /** The address to listen on. Default: 127.0.0.1. */
  hostname?: string;
  /** The control port; 0 (the default) takes any free one. */
  port?: number;
  /**
   * Any other key of the daemon's config file (`dataPort`, `limits`,
   * `tls`, `forceGrpcData`, `logFormat`, ...), checked the same way.
   */
  config?: Record<string, unknown>;
  /** Where the daemon keeps its performance history. Default: none. */
  stateDir?: string;
  /**
   * Told the daemon's log lines (a line per client call, and notes).
   * Default: stderr.
   */
  log?: (line: string) => void;
}

/** A daemon started by {@linkcode serve}. */
export interface ServedDaemon {
  /** The address it listens on. */
  readonly hostname: string;
  /** Its control port. */
  readonly port: number;
  /** Its data-plane port, or null when bytes go over gRPC only. */
  readonly dataPort: number | null;
  /** `blit://HOST:PORT`, to which a module name and path are added. */
  readonly url: string;
  /**
   * Stops it: the listeners close, transfers in flight are cut (their
   * temporary files go; big files' partial copies stay for a rerun).
   */
  stop(): Promise<void>;
}

/**
 * Starts a blit daemon in this process and resolves once it listens.
 * It serves exactly what `blit-daemon` serves, with the same checks on
 * its configuration (a bad key or a missing directory throws, naming
 * it), the same containment of every path beneath its modules (on Linux,
 * the kernel's openat2), and the same limits; what it does not do in a
 * program is sandbox itself (`blit-daemon` re-runs itself under narrowed
 * Deno permissions and Landlock): the program's own permissions apply.
 *
 * Permissions: net on `hostname`; read and write on the modules; ffi on
 * libc (kernel containment, where allowed).
 *
 * @example
 * ```ts
 * import { copy, serve } from "@blit/cli/mod";
 * const shared = Deno.makeTempDirSync();
 * const daemon = await serve({ modules: { files: shared }, log: () => {} });
 * const src = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${src}/hello.txt`, "hello");
 * const pushed = await copy(src, `${daemon.url}/files/inbox`);
 * if (pushed.filesTransferred !== 1 || Deno.readTextFileSync(`${shared}/inbox/hello.txt`) !== "hello") throw new Error("example failed");
 * await daemon.stop();
 * Deno.removeSync(shared, { recursive: true });
 * Deno.removeSync(src, { recursive: true });
 * ```
 * @throws {Error} when the configuration is wrong (naming the key) or the
 * port can't be bound.
 */
export async function serve(options: ServeOptions): Promise<ServedDaemon> {
  const modules: Record<string, unknown> = {};
  for (const [name, module] of Object.entries(options.modules)) {
    modules[name] = typeof module === "string" ? { path: module } : module;
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const text = JSON.stringify({
    ...options.config,
    bind: hostname,
    port: options.port ?? 0,
    modules,
  });
  const config = parseConfig(text, "serve() options", diskFiles);
  config.configFile = null;
  if (config.modules.length === 0) {
    throw new Error("serve() needs at least one module");
  }
  const log = options.log ?? ((line: string) => console.error(line));
  const daemon = await startDaemon(config, {
    log,
    stateDir: options.stateDir,
    // A "log" file in `config` gets the call lines; else `log` does.
    callLog: config.log
      ? undefined
      : new CallLog({ write: log, format: config.logFormat ?? "text" }),
  });
  return {
    hostname,
    port: daemon.port,
    dataPort: daemon.dataPort,
    url: `blit://${bracketHost(hostname)}:${daemon.port}`,
    stop: () => daemon.stop(),
  };
}
