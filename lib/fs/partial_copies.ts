// Partial copies of big files: the fixed name an interrupted transfer's
// copy is found again under, and which of them this process is writing
// (those are never offered for resuming).
import { normalizeRelative } from "./safe_path.ts";
import { treeOf } from "./path_tree.ts";
import {
  fileIdentity,
  joinRel,
  splitRel,
  type Tree,
  type TreeRoot,
} from "./tree.ts";
import { partialNameFor } from "./temp_names.ts";

/** Partial copies this process has open, by {@linkcode partialKey}. */
const held = new Set<string>();

/** Whether this process is writing the partial copy `key` (never offered). */
export function heldPartial(key: string): boolean {
  return held.has(key);
}

/** This process writes the partial copy `key` now. */
export function holdPartial(key: string): void {
  held.add(key);
}

/** This process is done with the partial copy `key`. */
export function releasePartial(key: string): void {
  held.delete(key);
}

/**
 * Files at least this big are written under a name of their own
 * (`.NAME.blit-partial.tmp`) that outlives an interrupted transfer, so the
 * next one can resume it (see resume.ts); smaller ones are simply sent
 * again.
 */
export const RESUME_MIN_BYTES = 16 * 1024 * 1024;

/**
 * Identifies the partial copy of `rel` across the trees of one process:
 * the parent directory's identity and the partial name, so two names can
 * never share one, whichever session or root they came through.
 */
export function partialKey(tree: Tree, rel: string): string | undefined {
  const { dir, name } = splitRel(rel);
  const info = tree.lstat(dir);
  if (!info?.isDirectory) return undefined;
  return `${fileIdentity(info)}\0${partialNameFor(name)}`;
}

/** A partial copy found by {@linkcode findPartialCopy}. */
export interface FoundPartial {
  /** The partial copy's name, relative to the tree. */
  rel: string;
  /** Its status (a plain regular file with one link). */
  info: Deno.FileInfo;
}

/**
 * The partial copy a transfer of `rel` left under `root`, and its lstat;
 * undefined when there is none, it is not a plain regular file (a link, a
 * hard link, anything else is never resumed), or this process is writing
 * it.
 *
 * Permissions: read on `root`.
 *
 * @example
 * ```ts
 * import { findPartialCopy } from "@blit/cli/internals";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * Deno.writeTextFileSync(`${root}/.big.blit-partial.tmp`, "abc");
 * if (findPartialCopy(root, "big")?.info.size !== 3) throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function findPartialCopy(
  root: TreeRoot,
  rel: string,
): FoundPartial | undefined {
  const tree = treeOf(root);
  let normal: string;
  let key: string | undefined;
  try {
    normal = normalizeRelative(rel);
    key = partialKey(tree, normal);
  } catch {
    return undefined; // no parent directory (or not a safe one): nothing kept
  }
  if (key === undefined || held.has(key)) return undefined;
  const { dir, name } = splitRel(normal);
  const partialRel = joinRel(dir, partialNameFor(name));
  let info: Deno.FileInfo | undefined;
  try {
    info = tree.lstat(partialRel);
  } catch {
    return undefined;
  }
  if (!info?.isFile || (info.nlink ?? 1) !== 1) return undefined;
  return { rel: partialRel, info };
}
