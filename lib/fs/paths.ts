// The last component and the parent of a slash-separated path, once.

function trimmed(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

/**
 * The last component of `path` (trailing slashes ignored).
 *
 * @example
 * ```ts
 * import { baseName } from "./paths.ts";
 * if (baseName("a/b/") !== "b" || baseName("c") !== "c") throw new Error("example failed");
 * ```
 */
export function baseName(path: string): string {
  const t = trimmed(path);
  return t.slice(t.lastIndexOf("/") + 1);
}

/**
 * The parent of `path` (trailing slashes ignored): `""` for a bare name,
 * `"/"` for a name at the root.
 *
 * @example
 * ```ts
 * import { parentOf } from "./paths.ts";
 * if (parentOf("a/b") !== "a" || parentOf("a") !== "" || parentOf("/a") !== "/") throw new Error("example failed");
 * ```
 */
export function parentOf(path: string): string {
  const t = trimmed(path);
  const slash = t.lastIndexOf("/");
  if (slash < 0) return "";
  return slash === 0 ? "/" : t.slice(0, slash);
}

/**
 * How deep `path` is: its slashes ("a" is 0, "a/b" 1).
 *
 * @example
 * ```ts
 * import { depth } from "./paths.ts";
 * if (depth("a/b/c") !== 2 || depth("a") !== 0) throw new Error("example failed");
 * ```
 */
export function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}
