// The mirror planner: what to delete at the destination, deepest first.
import type { FileEntry } from "./entry.ts";
import { walkEntries } from "./enumerate.ts";
import { isTempName } from "./temp_names.ts";
import { resolveInside } from "./safe_path.ts";
import { lstatOrUndefined } from "./path_tree.ts";
import type { TreeRoot } from "./tree.ts";
import { removeTree } from "./remove_tree.ts";

/** Options for {@linkcode planDeletions}. */
export interface MirrorPlanOptions {
  /** Globs that are never deleted (like rsync without --delete-excluded). */
  exclude?: readonly string[];
}

/** What {@linkcode applyDeletions} removed. */
export interface DeletionCounts {
  /** Files and symlinks, including those inside removed directories. */
  files: number;
  /** Directories, including nested ones. */
  dirs: number;
}

function depth(path: string): number {
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * Lists the entries under `destRoot` whose relative path is not in `keep`,
 * deepest first. An extraneous directory is listed once and its contents
 * go with it. Excluded paths and our own temp files are left alone.
 *
 * Permissions: read on `destRoot`.
 *
 * @example
 * ```ts
 * import { planDeletions } from "@blit/cli/internals";
 * const root = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${root}/old`, "");
 * Deno.writeTextFileSync(`${root}/new`, "");
 * const plan = await planDeletions(root, new Set(["new"]));
 * if (!(plan.length === 1 && plan[0].path === "old")) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export async function planDeletions(
  destRoot: TreeRoot,
  keep: { has(path: string): boolean },
  options: MirrorPlanOptions = {},
): Promise<FileEntry[]> {
  const plan: FileEntry[] = [];
  let skipUnder: string | undefined;
  for await (
    const entry of walkEntries(destRoot, { exclude: options.exclude })
  ) {
    // Depth-first order: a removed directory's contents follow it directly.
    if (skipUnder !== undefined && entry.path.startsWith(skipUnder)) continue;
    skipUnder = undefined;
    if (keep.has(entry.path)) continue;
    const name = entry.path.slice(entry.path.lastIndexOf("/") + 1);
    if (isTempName(name)) continue;
    plan.push(entry);
    if (entry.kind === "dir") skipUnder = `${entry.path}/`;
  }
  return plan.sort((a, b) => depth(b.path) - depth(a.path));
}

/**
 * Counts the files and directories of a tree (itself included), adding to
 * `counts`; returns `counts`.
 *
 * Permissions: read on `abs`.
 *
 * @example
 * ```ts
 * import { countTree } from "./mirror_plan.ts";
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/f`, "");
 * if (!(countTree(dir).files === 1)) throw new Error("example failed");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function countTree(
  abs: string,
  counts: DeletionCounts = { files: 0, dirs: 0 },
  onFile?: (rel: string) => void,
  rel = "",
  onDir?: (rel: string) => void,
): DeletionCounts {
  const stack: [string, string][] = [[abs, rel]];
  // Told after their contents, deepest first (as they are removed).
  const dirs: string[] = [];
  for (let guard = 0; stack.length > 0 && guard < 10_000_000; guard++) {
    const [dir, at] = stack.pop()!;
    counts.dirs++;
    if (onDir) dirs.push(at);
    for (const item of Deno.readDirSync(dir)) {
      const child = at === "" ? item.name : `${at}/${item.name}`;
      if (item.isDirectory) stack.push([`${dir}/${item.name}`, child]);
      else {
        counts.files++;
        onFile?.(child);
      }
    }
  }
  for (let i = dirs.length - 1; i >= 0; i--) onDir?.(dirs[i]);
  return counts;
}

/**
 * Deletes planned entries (directories recursively), each resolved through
 * `resolveInside` first. Entries already gone are skipped.
 *
 * Permissions: read and write on `destRoot`.
 *
 * @example
 * ```ts
 * import { applyDeletions } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/old`, "");
 * const counts = applyDeletions(root, [{ path: "old", kind: "file", size: 0, mtimeMs: 0, mode: 0o644 }]);
 * if (!(counts.files === 1)) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function applyDeletions(
  destRoot: TreeRoot,
  plan: readonly FileEntry[],
  onFile?: (rel: string) => void,
  onDir?: (rel: string) => void,
): DeletionCounts {
  return deletions(destRoot, plan, false, onFile, onDir);
}

/**
 * What {@linkcode applyDeletions} would remove for `plan`, counted the same
 * way (files and links inside removed directories included), touching
 * nothing: the counts a dry run reports.
 *
 * Permissions: read on `destRoot`.
 *
 * @example
 * ```ts
 * import { countDeletions } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.mkdirSync(`${root}/old`);
 * Deno.writeTextFileSync(`${root}/old/a`, "");
 * Deno.writeTextFileSync(`${root}/old/b`, "");
 * const plan = [{ path: "old", kind: "dir" as const, size: 0, mtimeMs: 0, mode: 0o755 }];
 * const counts = countDeletions(root, plan);
 * if (counts.files !== 2 || counts.dirs !== 1) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function countDeletions(
  destRoot: TreeRoot,
  plan: readonly FileEntry[],
  onFile?: (rel: string) => void,
  onDir?: (rel: string) => void,
): DeletionCounts {
  return deletions(destRoot, plan, true, onFile, onDir);
}

/** Deletes `plan` (or, `dryRun`, only counts it), entries already gone skipped. */
function deletions(
  destRoot: TreeRoot,
  plan: readonly FileEntry[],
  dryRun: boolean,
  onFile?: (rel: string) => void,
  onDir?: (rel: string) => void,
): DeletionCounts {
  const counts: DeletionCounts = { files: 0, dirs: 0 };
  if (typeof destRoot !== "string") {
    // Never follows a link, never leaves the session directory.
    for (const entry of plan) {
      removeTree(destRoot, entry.path, { counts, dryRun, onFile, onDir });
    }
    return counts;
  }
  for (const entry of plan) {
    const abs = resolveInside(destRoot, entry.path);
    const info = lstatOrUndefined(abs);
    if (!info) continue;
    if (info.isDirectory) {
      countTree(abs, counts, onFile, entry.path, onDir);
      if (!dryRun) Deno.removeSync(abs, { recursive: true });
    } else {
      if (!dryRun) Deno.removeSync(abs);
      counts.files++;
      onFile?.(entry.path);
    }
  }
  return counts;
}
