// Parses `blit://HOST[:PORT]/MODULE[/PATH]` remote addresses (`blits://`:
// the same over TLS).
import { normalizeRelative, PathEscapeError } from "../fs/safe_path.ts";

/** Default control-plane port. */
export const DEFAULT_PORT = 50051;

/** Bad command-line input: the CLI exits 2. */
export class UsageError extends Error {
  /** What is wrong with the arguments. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A parsed remote address. */
export interface RemoteAddress {
  /** Host name or IP, without IPv6 brackets. */
  host: string;
  /** The daemon's control port (default 50051). */
  port: number;
  /** Module name ("" only for `blit modules` addresses). */
  module: string;
  /** Normalised path inside the module ("" = its root). */
  path: string;
  /** Whether the address ended in `/` (a directory for placement). */
  trailingSlash: boolean;
  /**
   * The module secret to present (from `BLIT_SECRET` or `--secret-file`,
   * never from the address text). Default: none.
   */
  secret?: string;
  /** `blits://`: both planes over TLS. Default: false. */
  tls?: boolean;
  /** PEM certificates to trust for TLS (else the system roots). */
  tlsCa?: string;
}

/**
 * Whether an argument names a remote location.
 *
 * @example
 * ```ts
 * import { isRemote } from "@blit/cli/mod";
 * if (!(isRemote("blit://h/m") && isRemote("blits://h/m") && !isRemote("./blit:/x"))) throw new Error("example failed");
 * ```
 */
export function isRemote(arg: string): boolean {
  return arg.startsWith("blit://") || arg.startsWith("blits://") ||
    RSYNC_DAEMON.test(arg);
}

/**
 * rsync's daemon syntax, `HOST::MODULE[/PATH]` (`[v6]::...` too, and a
 * `:PORT` after the host, which rsync spells `--port`; no `/` before the
 * `::`): the same as `blit://HOST[:PORT]/MODULE[/PATH]`.
 */
const RSYNC_DAEMON = /^((?:\[[^\]/]*\]|[^/\[\]:]+)(?::\d+)?)::(.*)$/s;

/**
 * Parses a remote address.
 *
 * @example
 * ```ts
 * import { parseRemote } from "@blit/cli/mod";
 * const a = parseRemote("blit://[::1]:9000/photos/2024/");
 * if (!(a.host === "::1" && a.port === 9000 && a.module === "photos" && a.path === "2024" && a.trailingSlash)) throw new Error("example failed");
 * // rsync's daemon syntax: HOST::MODULE/PATH, on the default port.
 * const b = parseRemote("nas::photos/2024");
 * if (!(b.host === "nas" && b.port === 50051 && b.module === "photos" && b.path === "2024")) throw new Error("example failed");
 * ```
 * @throws {UsageError} for anything malformed.
 */
export function parseRemote(
  arg: string,
  options: { moduleRequired?: boolean } = {},
): RemoteAddress {
  const moduleRequired = options.moduleRequired ?? true;
  if (!isRemote(arg)) {
    throw new UsageError(
      `not a remote address: ${arg} (expected blit://HOST[:PORT]/MODULE[/PATH])`,
    );
  }
  const tls = arg.startsWith("blits://");
  const rsync = arg.match(RSYNC_DAEMON);
  const rest = rsync
    ? `${rsync[1]}/${rsync[2]}`
    : arg.slice(tls ? "blits://".length : "blit://".length);
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const tail = slash < 0 ? "" : rest.slice(slash + 1);
  const { host, port } = parseAuthority(arg, authority);
  const moduleEnd = tail.indexOf("/");
  const module = moduleEnd < 0 ? tail : tail.slice(0, moduleEnd);
  const pathText = moduleEnd < 0 ? "" : tail.slice(moduleEnd + 1);
  if (module === "" && moduleRequired) {
    throw new UsageError(
      `bad address ${arg}: missing module (blit://HOST[:PORT]/MODULE[/PATH])`,
    );
  }
  if (
    module !== "" && !/^[A-Za-z0-9._-]+$/.test(module) || module === "." ||
    module === ".."
  ) {
    throw new UsageError(
      `bad address ${arg}: invalid module name ${JSON.stringify(module)}`,
    );
  }
  let path: string;
  try {
    path = normalizeRelative(pathText);
  } catch (error) {
    if (error instanceof PathEscapeError) {
      throw new UsageError(`bad address ${arg}: ${error.message}`);
    }
    throw error;
  }
  return {
    host,
    port,
    module,
    path,
    trailingSlash: pathText.endsWith("/") ||
      (tail.endsWith("/") && pathText === ""),
    ...(tls ? { tls } : {}),
  };
}

/** HOST[:PORT] (IPv6 in brackets) of a remote address, checked. */
function parseAuthority(
  arg: string,
  authority: string,
): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) {
      throw new UsageError(`bad address ${arg}: unclosed '[' in IPv6 host`);
    }
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) {
      throw new UsageError(`bad address ${arg}: unexpected text after ']'`);
    }
    if (after.startsWith(":")) portText = after.slice(1);
    if (!/^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(host) || !host.includes(":")) {
      throw new UsageError(
        `bad address ${arg}: invalid IPv6 address ${JSON.stringify(host)}`,
      );
    }
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon >= 0) {
      host = authority.slice(0, colon);
      portText = authority.slice(colon + 1);
    } else {
      host = authority;
    }
    if (host.includes(":")) {
      throw new UsageError(
        `bad address ${arg}: put IPv6 hosts in brackets, e.g. blit://[::1]/MODULE`,
      );
    }
    if (host !== "" && !/^[A-Za-z0-9.-]+$/.test(host)) {
      throw new UsageError(
        `bad address ${arg}: invalid host ${JSON.stringify(host)}`,
      );
    }
  }
  if (host === "") throw new UsageError(`bad address ${arg}: missing host`);
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (
      !/^\d{1,5}$/.test(portText) || Number(portText) < 1 ||
      Number(portText) > 65535
    ) {
      throw new UsageError(
        `bad address ${arg}: port must be 1-65535, got ${
          JSON.stringify(portText)
        }`,
      );
    }
    port = Number(portText);
  }
  return { host, port };
}

export { hostPort } from "../wire/host_port.ts";
