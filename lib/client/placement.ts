// Where a transfer lands on this machine: the contract's placement rules,
// and the checks on a local source and destination.
import { baseName, parentOf } from "../fs/paths.ts";

/**
 * The source of a copy does not exist. A `Deno.errors.NotFound`, so
 * callers that only know the platform class still recognise it.
 */
export class SourceNotFoundError extends Deno.errors.NotFound {
  /** The source path as given. */
  readonly path: string;
  /** Nothing exists at `path`. */
  constructor(path: string) {
    super(`source not found: ${path}`);
    this.name = "SourceNotFoundError";
    this.path = path;
  }
}

/** Where a transfer lands, after the contract's placement rules. */
export interface Placement {
  /** Directory the entries are written under. */
  root: string;
  /** For a file source: its name under `root`. */
  name?: string;
}

/** The last component of `path` (trailing slashes ignored). */
export const basename: (path: string) => string = baseName;

/** The parent of `path` (trailing slashes ignored): "." for a bare name. */
export function dirname(path: string): string {
  return parentOf(path) || ".";
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Applies the placement rules for a local destination: a directory
 * source's contents go into `dst`; a file source goes into `dst` when it is
 * an existing directory or ends in `/`, otherwise `dst` is its new path.
 *
 * @example
 * ```ts
 * import { placeLocal } from "./placement.ts";
 * if (!(placeLocal("dir/", false, "a.txt").name === "a.txt")) throw new Error("example failed");
 * if (!(placeLocal("out/b.txt", false, "a.txt").name === "b.txt")) throw new Error("example failed");
 * ```
 */
export function placeLocal(
  dst: string,
  sourceIsDir: boolean,
  sourceName: string,
): Placement {
  if (sourceIsDir) return { root: dst };
  if (dst.endsWith("/") || isDirectory(dst)) {
    return { root: dst, name: sourceName };
  }
  return { root: dirname(dst), name: basename(dst) };
}

/** Not a directory where the transfer needs one. */
export class NotADirectoryError extends Error {
  constructor(path: string) {
    super(
      `destination ${path} exists and is not a directory; pick another destination`,
    );
    this.name = "NotADirectoryError";
  }
}

/**
 * Creates a destination directory (and its parents), with a clear error
 * when something else is in the way.
 *
 * @example
 * ```ts
 * import { ensureDirectory } from "./placement.ts";
 * const top = Deno.makeTempDirSync();
 * const dir = `${top}/a/b`;
 * ensureDirectory(dir);
 * if (!(Deno.statSync(dir).isDirectory)) throw new Error("example failed");
 * Deno.removeSync(top, { recursive: true });
 * ```
 * @throws {NotADirectoryError} when a file sits at `path`.
 */
export function ensureDirectory(path: string): void {
  try {
    Deno.mkdirSync(path, { recursive: true });
  } catch (error) {
    if (
      error instanceof Deno.errors.AlreadyExists ||
      error instanceof Deno.errors.NotADirectory
    ) {
      throw new NotADirectoryError(path);
    }
    throw error;
  }
}

/** The real path of `path`, or its absolute form when it does not exist. */
export function realOrAbsolute(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  }
}

/**
 * Whether a local source is a directory tree to copy: a directory, or a
 * symlink to one named with a trailing slash ("its contents", as rsync).
 *
 * @example
 * ```ts
 * import { sourceIsDirectory } from "./placement.ts";
 * const dir = Deno.makeTempDirSync();
 * if (!sourceIsDirectory(dir)) throw new Error("example failed");
 * Deno.removeSync(dir);
 * ```
 * @throws {SourceNotFoundError} when nothing exists at `src`.
 */
export function sourceIsDirectory(src: string): boolean {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(src);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new SourceNotFoundError(src);
    }
    throw error;
  }
  return info.isDirectory ||
    (info.isSymlink && src.endsWith("/") && isDirectory(src));
}
