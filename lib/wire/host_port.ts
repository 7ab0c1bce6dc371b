// Host names as people and URLs write them: IPv6 in brackets.

/**
 * `host`, bracketed when it is an IPv6 address (and not already).
 *
 * @example
 * ```ts
 * import { bracketHost } from "./host_port.ts";
 * if (bracketHost("::1") !== "[::1]" || bracketHost("a.b") !== "a.b") throw new Error("example failed");
 * ```
 */
export function bracketHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/**
 * `HOST:PORT` for messages and addresses, with brackets for IPv6.
 *
 * @example
 * ```ts
 * import { hostPort } from "./host_port.ts";
 * if (hostPort("::1", 1) !== "[::1]:1") throw new Error("example failed");
 * ```
 */
export function hostPort(host: string, port: number): string {
  return `${bracketHost(host)}:${port}`;
}
