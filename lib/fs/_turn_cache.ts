// What a kernel tree may keep for one event-loop turn: the directory
// handles it resolved (so a burst of names in one directory costs one
// resolution) and whether its pinned top was checked. Nothing outlives
// the turn: a local user's rename between turns meets a fresh resolution.
import type { Libc } from "./_libc.ts";

/** Directory handles kept within one turn, at most this many. */
export const DIR_CACHE = 16;

/**
 * Directory handles by tree-relative name, and a verification, good until
 * the end of the event-loop turn they were made in (or until `clear`).
 * Each handle was beneath the module when resolved; any removal or rename
 * forgets those at and under its name.
 *
 * @example
 * ```ts ignore
 * const turn = new TurnCache(libc);
 * turn.set("d", fd);
 * turn.get("d"); // fd, until the turn ends
 * ```
 */
export class TurnCache {
  readonly #libc: Libc;
  readonly #dirs = new Map<string, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #verified = false;

  /** A cache closing its handles through `libc`. */
  constructor(libc: Libc) {
    this.#libc = libc;
  }

  /** Whether the pinned top was checked this turn. */
  get verified(): boolean {
    return this.#verified;
  }

  /** The pinned top was checked: not again this turn. */
  markVerified(): void {
    this.#verified = true;
    this.#arm();
  }

  /** The handle kept for `dir`, if any. */
  get(dir: string): number | undefined {
    return this.#dirs.get(dir);
  }

  /** Keeps `fd` (now owned here) for `dir` until the turn ends. */
  set(dir: string, fd: number): void {
    if (this.#dirs.size >= DIR_CACHE) this.clear();
    this.#dirs.set(dir, fd);
    this.#arm();
  }

  /**
   * Forgets (and closes) the handles of `rel` and of directories beneath
   * it. Called for every rename and removal (twice a received file): it
   * makes no string or entry of its own while nothing matches (it made
   * ~1 KB of garbage a file, most of what a receiving daemon made).
   */
  forgetUnder(rel: string): void {
    const dirs = this.#dirs;
    if (dirs.size === 0) return;
    const n = rel.length;
    for (const dir of dirs.keys()) {
      // `rel` itself, or beneath it ("" is the top: everything).
      if (
        n === 0 ||
        (dir.startsWith(rel) && (dir.length === n || dir.charCodeAt(n) === 47))
      ) {
        this.#libc.fn.close(dirs.get(dir)!);
        dirs.delete(dir);
      }
    }
  }

  /** Closes every handle and forgets the verification. */
  clear(): void {
    for (const fd of this.#dirs.values()) this.#libc.fn.close(fd);
    this.#dirs.clear();
    this.#verified = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** How many handles are kept. */
  get size(): number {
    return this.#dirs.size;
  }

  #arm(): void {
    this.#timer ??= setTimeout(() => this.clear(), 0);
  }
}
