// Sweeping temporary files: what a failed or killed transfer left, and
// partial copies too old to resume.
import { treeOf } from "./path_tree.ts";
import { joinRel, type TreeRoot } from "./tree.ts";
import { PARTIAL_PATTERN, TEMP_PATTERN } from "./temp_names.ts";
import { removePath, removeQuietly } from "./_replace.ts";
import { openTempNames } from "./atomic_file.ts";

/**
 * How long a daemon keeps an interrupted transfer's partial copy for a
 * rerun to resume; its start-up sweep removes older ones.
 */
export const PARTIAL_KEEP_MS = 24 * 60 * 60 * 1000;

/** Options for {@linkcode sweepTemps}. */
export interface SweepOptions {
  /**
   * Partial copies (see {@linkcode RESUME_MIN_BYTES}) changed within this
   * many milliseconds are kept for a rerun to resume. Default: 0 (every
   * temp file goes).
   */
  keepPartialsMs?: number;
  /** Told each directory where a partial copy was kept. */
  onKept?: (dir: string) => void;
}

/**
 * Removes our temp files from the given directories of a tree (a crashed
 * or failed session's leftovers), except those this process is still
 * writing and recent partial copies when asked to keep them; directories
 * that are gone or became links are skipped. Returns how many were
 * removed.
 *
 * @example
 * ```ts
 * import { sweepTemps } from "@blit/cli/internals";
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${dir}/.a.blit-0123456789ab.tmp`, "");
 * const removed = sweepTemps(dir, [""]);
 * if (removed !== 1) throw new Error(`removed ${removed}`);
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function sweepTemps(
  root: TreeRoot,
  dirs: Iterable<string>,
  options: SweepOptions = {},
): number {
  const tree = treeOf(root);
  const keepMs = options.keepPartialsMs ?? 0;
  let removed = 0;
  for (const dir of dirs) {
    try {
      // Files still being written by a live transfer are left alone.
      const busy = openTempNames();
      const names = tree.readDir(dir).filter((name) =>
        TEMP_PATTERN.test(name) && !busy.has(name)
      );
      const now = Date.now();
      let kept = false;
      for (const name of names) {
        const rel = joinRel(dir, name);
        if (keepMs > 0 && PARTIAL_PATTERN.test(name)) {
          const info = tree.lstat(rel);
          const age = now - (info?.mtime?.getTime() ?? 0);
          if (info?.isFile && age < keepMs) {
            kept = true;
            continue;
          }
        }
        removeQuietly(tree, rel);
        removed++;
      }
      if (kept) options.onKept?.(dir);
    } catch {
      // gone, or no longer a plain directory: nothing of ours to reach
    }
  }
  return removed;
}

/**
 * Removes leftover temp files (`.NAME.blit-XXXXXXXXXXXX.tmp`, and partial
 * copies `.NAME.blit-partial.tmp`) under the local directory `root`,
 * visiting at most `maxEntries` entries. Returns how many were removed.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { cleanupTemps } from "@blit/cli/internals";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/.a.blit-0123456789ab.tmp`, "");
 * if (!(cleanupTemps(root) === 1)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function cleanupTemps(
  root: string,
  options: { maxEntries?: number } = {},
): number {
  const maxEntries = options.maxEntries ?? 1_000_000;
  const stack = [root];
  let visited = 0;
  let removed = 0;
  while (stack.length > 0 && visited < maxEntries) {
    const dir = stack.pop()!;
    let items: Deno.DirEntry[];
    try {
      items = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const item of items) {
      visited++;
      const abs = `${dir}/${item.name}`;
      if (item.isDirectory) stack.push(abs);
      else if (TEMP_PATTERN.test(item.name)) {
        removePath(abs);
        removed++;
      }
    }
  }
  return removed;
}
