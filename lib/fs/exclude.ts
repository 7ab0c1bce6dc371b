// `--exclude` globs, matched the way rsync users expect.
// @ts-types="npm:@types/picomatch@4.0.3"
import picomatch from "../deps/picomatch.ts";

/** Decides whether a relative path is excluded. */
export type ExcludeMatcher = (relPath: string) => boolean;

/**
 * Compiles exclude globs. A pattern without `/` matches the last component
 * at any depth (`*.log`); a pattern with `/` matches the whole relative path
 * (`build/**`, a leading `/` anchors at the root). Dotfiles match.
 *
 * @example
 * ```ts
 * import { excludeMatcher } from "./exclude.ts";
 * const excluded = excludeMatcher(["*.log", "/build"]);
 * if (!(excluded("a/b.log") && excluded("build") && !excluded("a/build"))) throw new Error("example failed");
 * ```
 * @throws {TypeError} when a pattern is empty.
 */
export function excludeMatcher(globs: readonly string[]): ExcludeMatcher {
  const byName: string[] = [];
  const byPath: string[] = [];
  for (const glob of globs) {
    if (typeof glob !== "string" || glob.replaceAll("/", "") === "") {
      throw new TypeError(`Exclude pattern ${JSON.stringify(glob)} is empty`);
    }
    // A trailing slash means "this directory" for rsync; we match it by name.
    const trimmed = glob.replace(/\/+$/, "");
    if (trimmed.includes("/")) byPath.push(trimmed.replace(/^\/+/, ""));
    else byName.push(trimmed);
  }
  if (byName.length === 0 && byPath.length === 0) return () => false;
  const nameMatch = byName.length > 0
    ? picomatch(byName, { dot: true })
    : () => false;
  const pathMatch = byPath.length > 0
    ? picomatch(byPath, { dot: true })
    : () => false;
  return function isExcluded(relPath: string): boolean {
    const slash = relPath.lastIndexOf("/");
    const name = slash < 0 ? relPath : relPath.slice(slash + 1);
    return nameMatch(name) || pathMatch(relPath);
  };
}
