// `--exclude` globs, matched the way rsync users expect.
import { globMatcher } from "./glob.ts";

/**
 * Decides whether a relative path is excluded; `isDir` tells rules that
 * end in `/` (directories only) whether they apply.
 */
export type ExcludeMatcher = (relPath: string, isDir?: boolean) => boolean;

/**
 * Compiles filter rules, rsync's way: each rule is a glob, `- GLOB` (or a
 * bare glob) excludes, `+ GLOB` includes, and for each path the first rule
 * that matches decides (no match: kept). A pattern without `/` matches the
 * last component at any depth (`*.log`); a pattern with `/` matches the
 * whole relative path (`build/**`, a leading `/` anchors at the root).
 * Dotfiles match. A pattern ending in `/` matches directories only. The
 * glob syntax is {@linkcode globMatcher}'s.
 * Directories are filtered too: an excluded directory's contents are never
 * reached (`--include '*' + '/'` before `--exclude '*'` keeps them all).
 *
 * @example
 * ```ts
 * import { excludeMatcher } from "@blit/cli/internals";
 * const excluded = excludeMatcher(["*.log", "/build"]);
 * if (!(excluded("a/b.log") && excluded("build") && !excluded("a/build"))) throw new Error("example failed");
 * const txt = excludeMatcher(["+ *.txt", "+ *" + "/", "- *"]);
 * if (!(!txt("d", true) && !txt("d/a.txt") && txt("d/b.log"))) throw new Error("example failed");
 * const only = excludeMatcher(["+ keep.log", "- *.log"]);
 * if (!(!only("x/keep.log") && only("x/other.log"))) throw new Error("example failed");
 * ```
 * @throws {TypeError} when a pattern is empty.
 */
export function excludeMatcher(globs: readonly string[]): ExcludeMatcher {
  const rules: {
    include: boolean;
    dirOnly: boolean;
    match: (relPath: string) => boolean;
  }[] = [];
  for (const raw of globs) {
    if (typeof raw !== "string") {
      throw new TypeError(`Exclude pattern ${JSON.stringify(raw)} is empty`);
    }
    const include = raw.startsWith("+ ");
    const glob = include || raw.startsWith("- ") ? raw.slice(2) : raw;
    if (glob.replaceAll("/", "") === "") {
      throw new TypeError(`Exclude pattern ${JSON.stringify(raw)} is empty`);
    }
    // A trailing slash means "a directory" for rsync.
    const dirOnly = glob.endsWith("/");
    const trimmed = glob.replace(/\/+$/, "");
    if (trimmed.includes("/")) {
      const match = globMatcher(trimmed.replace(/^\/+/, ""));
      rules.push({ include, dirOnly, match });
    } else {
      const match = globMatcher(trimmed);
      rules.push({
        include,
        dirOnly,
        match: (relPath) => match(relPath.slice(relPath.lastIndexOf("/") + 1)),
      });
    }
  }
  if (rules.length === 0) return () => false;
  return function isExcluded(relPath: string, isDir = false): boolean {
    for (const rule of rules) {
      if (rule.dirOnly && !isDir) continue;
      if (rule.match(relPath)) return !rule.include;
    }
    return false;
  };
}
