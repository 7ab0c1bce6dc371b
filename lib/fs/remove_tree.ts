// Deleting a file or a whole directory tree through a Tree: depth first,
// never following a link, every name resolved beneath the tree's top.
import { normalizeRelative } from "./safe_path.ts";
import { joinRel, type Tree } from "./tree.ts";

/** What {@linkcode removeTree} removed (or would remove). */
export interface RemovedCounts {
  /** Files and symlinks. */
  files: number;
  /** Directories. */
  dirs: number;
}

/** Options for {@linkcode removeTree}. */
export interface RemoveTreeOptions {
  /** Only count what would go. Default: false. */
  dryRun?: boolean;
  /** Told the tree-relative path of each file or link removed. */
  onFile?: (rel: string) => void;
  /** Told each directory removed, after what was in it. */
  onDir?: (rel: string) => void;
  /** Counts to add to (default: new ones). */
  counts?: RemovedCounts;
}

/** Most entries one call visits: far past any real tree, a bound all the same. */
const MAX_VISITS = 100_000_000;

/**
 * Removes `rel` from `tree` without following any symlink: a file or link
 * is unlinked, a directory emptied depth-first and removed. Missing is
 * not an error. `rel` `""` empties the tree's top and keeps it.
 *
 * Permissions: those of the tree (write for removal).
 *
 * @example
 * ```ts
 * import { removeTree } from "@blit/cli/internals";
 * import { PathTree } from "@blit/cli/internals";
 * const dir = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${dir}/a/b`, { recursive: true });
 * Deno.writeTextFileSync(`${dir}/a/b/f`, "x");
 * const counts = removeTree(new PathTree(dir), "a");
 * if (counts.files !== 1 || counts.dirs !== 2) throw new Error("example failed");
 * Deno.removeSync(dir);
 * ```
 */
export function removeTree(
  tree: Tree,
  rel: string,
  options: RemoveTreeOptions = {},
): RemovedCounts {
  const counts = options.counts ?? { files: 0, dirs: 0 };
  const dryRun = options.dryRun ?? false;
  const normal = normalizeRelative(rel);
  if (normal !== "") {
    const info = tree.lstat(normal);
    if (!info) return counts;
    if (!info.isDirectory) {
      if (!dryRun) tree.remove(normal);
      counts.files++;
      options.onFile?.(normal);
      return counts;
    }
  }
  // Post-order over an explicit stack; each directory is listed through
  // the tree, so one swapped for a link mid-way is refused, not followed.
  const stack: { rel: string; expanded: boolean }[] = [
    { rel: normal, expanded: false },
  ];
  for (let visits = 0; stack.length > 0 && visits < MAX_VISITS; visits++) {
    const top = stack[stack.length - 1];
    if (top.expanded) {
      stack.pop();
      if (top.rel === "") continue;
      if (!dryRun) tree.remove(top.rel);
      counts.dirs++;
      options.onDir?.(top.rel);
      continue;
    }
    top.expanded = true;
    for (const name of tree.readDir(top.rel)) {
      const child = joinRel(top.rel, name);
      const info = tree.lstat(child);
      if (!info) continue;
      if (info.isDirectory) stack.push({ rel: child, expanded: false });
      else {
        if (!dryRun) tree.remove(child);
        counts.files++;
        options.onFile?.(child);
      }
    }
  }
  return counts;
}
