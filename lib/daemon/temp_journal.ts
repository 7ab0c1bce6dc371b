// Where temp files may be: a journal in the state directory, so the
// leftovers of a crash (kill -9, power cut) are swept at the next start
// without walking whole modules.
import { PARTIAL_KEEP_MS, sweepTemps } from "../fs/sweep.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import type { Tree } from "../fs/tree.ts";
import type { ModuleConfig } from "./config.ts";

const FILE = "temp_dirs.jsonl";
/** Journals larger than this are not read whole (lines past it are lost). */
const MAX_READ_BYTES = 64 * 1024 * 1024;
/** Directories remembered per run; past this, lines may repeat. */
const MAX_REMEMBERED = 1_000_000;

interface Line {
  module: string;
  dir: string;
}

/**
 * Records each module directory before the daemon first makes a temp file
 * in it, appending one line to `temp_dirs.jsonl`; at start, sweeps the
 * directories an earlier run recorded and starts a fresh journal.
 *
 * Permissions: read and write on `stateDir` and the modules.
 *
 * @example
 * ```ts
 * import { TempJournal } from "./temp_journal.ts";
 * const state = Deno.makeTempDirSync();
 * const dir = Deno.realPathSync(Deno.makeTempDirSync());
 * const module = { name: "m", path: dir, readOnly: false, comment: "", mungeSymlinks: true };
 * Deno.writeTextFileSync(`${module.path}/.x.blit-0123456789ab.tmp`, "");
 * new TempJournal(state).record(module, "");
 * const cwd = Deno.cwd();
 * const swept = new TempJournal(state).sweep([module]);
 * Deno.chdir(cwd);
 * if (swept !== 1) throw new Error(`swept ${swept}`);
 * Deno.removeSync(state, { recursive: true });
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export class TempJournal {
  readonly #path: string;
  readonly #seen = new Set<string>();
  #file: Deno.FsFile | undefined;
  #broken = false;

  constructor(stateDir: string) {
    this.#path = `${stateDir}/${FILE}`;
  }

  /**
   * Removes temp files from every directory an earlier run recorded, then
   * empties the journal; partial copies of big files changed within
   * `keepPartialsMs` (default 24 h) stay for a rerun to resume, and their
   * directories stay in the journal. Returns how many files were removed.
   * Call before serving.
   */
  sweep(
    modules: readonly ModuleConfig[],
    options: { keepPartialsMs?: number } = {},
  ): number {
    let text = "";
    try {
      const file = Deno.openSync(this.#path, { read: true });
      try {
        const buffer = new Uint8Array(
          Math.min(file.statSync().size, MAX_READ_BYTES),
        );
        let filled = 0;
        while (filled < buffer.length) {
          const n = file.readSync(buffer.subarray(filled));
          if (n === null || n === 0) break;
          filled += n;
        }
        text = new TextDecoder().decode(buffer.subarray(0, filled));
      } finally {
        file.close();
      }
    } catch {
      return 0; // no journal: nothing was left
    }
    const byModule = new Map<string, Set<string>>();
    for (const raw of text.split("\n")) {
      let line: Line;
      try {
        line = JSON.parse(raw);
      } catch {
        continue;
      }
      if (typeof line?.module !== "string" || typeof line.dir !== "string") {
        continue;
      }
      let dirs = byModule.get(line.module);
      if (!dirs) byModule.set(line.module, dirs = new Set());
      dirs.add(line.dir);
    }
    let removed = 0;
    const kept: { module: ModuleConfig; dir: string }[] = [];
    for (const module of modules) {
      const dirs = byModule.get(module.name);
      if (!dirs || module.readOnly) continue;
      let tree: Tree | undefined;
      try {
        tree = KernelTree.open(module.path) ?? new ContainedRoot(module.path);
        removed += sweepTemps(tree, dirs, {
          keepPartialsMs: options.keepPartialsMs ?? PARTIAL_KEEP_MS,
          onKept: (dir) => kept.push({ module, dir }),
        });
      } catch {
        // module directory missing: nothing to sweep
      } finally {
        tree?.close();
      }
    }
    this.clear();
    for (const { module, dir } of kept) this.record(module, dir);
    return removed;
  }

  /** Notes that `module`'s directory `dir` may get temp files. Never throws. */
  record(module: ModuleConfig, dir: string): void {
    const key = `${module.name}\0${dir}`;
    if (this.#seen.has(key) || this.#broken) return;
    if (this.#seen.size >= MAX_REMEMBERED) this.#seen.clear();
    this.#seen.add(key);
    try {
      this.#file ??= Deno.openSync(this.#path, {
        append: true,
        create: true,
        mode: 0o600,
      });
      const line = JSON.stringify({ module: module.name, dir }) + "\n";
      const bytes = new TextEncoder().encode(line);
      let offset = 0;
      while (offset < bytes.length) {
        offset += this.#file.writeSync(bytes.subarray(offset));
      }
    } catch {
      // A state directory we can't write must not fail transfers.
      this.#broken = true;
    }
  }

  /** Empties the journal (after a sweep, or a clean stop). */
  clear(): void {
    this.close();
    this.#seen.clear();
    try {
      Deno.writeFileSync(this.#path, new Uint8Array(0), { mode: 0o600 });
    } catch {
      // unwritable state directory: nothing to clear
    }
  }

  /** Closes the journal file. */
  close(): void {
    try {
      this.#file?.close();
    } catch {
      // already closed
    }
    this.#file = undefined;
  }
}
