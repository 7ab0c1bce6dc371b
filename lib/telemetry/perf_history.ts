// The client's performance history: one JSON line per transfer.

/** One line of `perf_history.jsonl`. */
export interface PerfRecord {
  timestamp: string;
  op: string;
  transport: "tcp" | "grpc" | "local";
  streams: number;
  files: number;
  bytes: number;
  handshake_ms: number;
  manifest_ms: number;
  transfer_ms: number;
  retries: number;
  fallback: boolean;
}

/** The history file is kept under this size; oldest lines go first. */
export const MAX_HISTORY_BYTES = 1024 * 1024;

/**
 * Where the client keeps its state: `$BLIT_STATE_DIR`, else
 * `$XDG_STATE_HOME/blit`, else `~/.local/state/blit`.
 *
 * Permissions: env (BLIT_STATE_DIR, XDG_STATE_HOME, HOME).
 *
 * @example
 * ```ts
 * import { stateDir } from "./perf_history.ts";
 * if (!(stateDir({ BLIT_STATE_DIR: "/s" }) === "/s")) throw new Error("example failed");
 * ```
 */
export function stateDir(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.BLIT_STATE_DIR) return env.BLIT_STATE_DIR;
  if (env.XDG_STATE_HOME) return `${env.XDG_STATE_HOME}/blit`;
  return `${env.HOME ?? "."}/.local/state/blit`;
}

/**
 * Appends one record to `dir/perf_history.jsonl`, trimming the oldest lines
 * to stay under 1 MiB. Never throws: a failure to write must not fail a
 * transfer. Returns whether the line was written.
 *
 * Permissions: read and write on `dir`.
 *
 * @example
 * ```ts
 * import { appendPerfRecord } from "./perf_history.ts";
 * const dir = Deno.makeTempDirSync();
 * appendPerfRecord(dir, { timestamp: "t", op: "push", transport: "tcp", streams: 1, files: 1, bytes: 1, handshake_ms: 0, manifest_ms: 0, transfer_ms: 0, retries: 0, fallback: false });
 * if (!(Deno.readTextFileSync(`${dir}/perf_history.jsonl`).endsWith("\n"))) throw new Error("example failed");
 * ```
 */
export function appendPerfRecord(dir: string, record: PerfRecord): boolean {
  try {
    Deno.mkdirSync(dir, { recursive: true });
    const path = `${dir}/perf_history.jsonl`;
    const line = JSON.stringify(record) + "\n";
    let size = 0;
    try {
      size = Deno.statSync(path).size;
    } catch {
      // first line
    }
    if (size + line.length > MAX_HISTORY_BYTES) {
      const lines = Deno.readTextFileSync(path).split("\n").filter(Boolean);
      let total = line.length;
      const kept: string[] = [];
      for (let i = lines.length - 1; i >= 0; i--) {
        total += lines[i].length + 1;
        if (total > MAX_HISTORY_BYTES * 0.9) break;
        kept.push(lines[i]);
      }
      const tmp = `${path}.tmp`;
      Deno.writeTextFileSync(
        tmp,
        kept.reverse().map((l) => l + "\n").join("") + line,
      );
      Deno.renameSync(tmp, path);
    } else {
      Deno.writeTextFileSync(path, line, { append: true });
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the history (bad lines are skipped).
 *
 * @example
 * ```ts
 * import { readPerfHistory } from "./perf_history.ts";
 * if (!(readPerfHistory(Deno.makeTempDirSync()).length === 0)) throw new Error("example failed");
 * ```
 */
export function readPerfHistory(dir: string): PerfRecord[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(`${dir}/perf_history.jsonl`);
  } catch {
    return [];
  }
  const records: PerfRecord[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    try {
      records.push(JSON.parse(line));
    } catch {
      // a torn line from a crash; skip it
    }
  }
  return records;
}
