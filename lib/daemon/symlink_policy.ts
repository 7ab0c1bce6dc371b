// Which symlink targets the daemon stores as given, and how it munges the
// rest so that following them leads nowhere (rsync's "munge symlinks").

/** Prefix of a munged target: an absolute path that never exists. */
export const MUNGE_PREFIX = "/blit-munged/";

/**
 * Whether a link at module-relative `linkPath` with `target` resolves
 * inside the module whatever the link's neighbours are: a relative target
 * whose `..` steps all come first and climb no higher than the link's own
 * directory. (A `..` after a name could climb out through a link named
 * there, so it counts as leaving.)
 *
 * @example
 * ```ts
 * import { staysInside } from "./symlink_policy.ts";
 * if (!staysInside("a/l", "../b") || staysInside("a/l", "../../b")) throw new Error();
 * if (staysInside("l", "/etc/passwd") || staysInside("a/l", "x/../../b")) throw new Error();
 * ```
 */
export function staysInside(linkPath: string, target: string): boolean {
  if (target === "" || target.startsWith("/") || target.includes("\0")) {
    return false;
  }
  const depth = linkPath.split("/").filter((p) => p !== "" && p !== ".")
    .length - 1;
  let climbs = 0;
  let named = false;
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (named) return false;
      climbs++;
      if (climbs > depth) return false;
    } else named = true;
  }
  return true;
}

/**
 * The target to store for a pushed link: as given when it stays inside the
 * module, else prefixed with {@linkcode MUNGE_PREFIX}.
 *
 * @example
 * ```ts
 * import { mungeTarget } from "./symlink_policy.ts";
 * if (mungeTarget("l", "/etc/shadow") !== "/blit-munged//etc/shadow") throw new Error();
 * if (mungeTarget("d/l", "../x") !== "../x") throw new Error();
 * ```
 */
export function mungeTarget(linkPath: string, target: string): string {
  return staysInside(linkPath, target) ? target : MUNGE_PREFIX + target;
}

/**
 * The target a client sees: a munged target without its prefix (so a push
 * then pull round trip is exact); others unchanged.
 *
 * @example
 * ```ts
 * import { unmungeTarget } from "./symlink_policy.ts";
 * if (unmungeTarget("/blit-munged//etc/shadow") !== "/etc/shadow") throw new Error();
 * if (unmungeTarget("x") !== "x") throw new Error();
 * ```
 */
export function unmungeTarget(target: string): string {
  return target.startsWith(MUNGE_PREFIX)
    ? target.slice(MUNGE_PREFIX.length)
    : target;
}
