// Log lines a flood can't multiply: one line per cause per window.

/** Options for {@linkcode RateLimitedLog}. */
export interface RateLimitedLogOptions {
  /** Window in milliseconds. Default: 10000. */
  windowMs?: number;
  /** Clock, for tests. Default: `Date.now`. */
  now?: () => number;
}

/**
 * Writes the first line of each cause at once, then at most one line per
 * window for that cause, saying how many were held back.
 *
 * @example
 * ```ts
 * import { RateLimitedLog } from "./rate_log.ts";
 * const lines: string[] = [];
 * const log = new RateLimitedLog((l) => lines.push(l));
 * for (let i = 0; i < 100; i++) log.write("accept", "accept failed");
 * if (lines.length !== 1) throw new Error(lines.join());
 * ```
 */
export class RateLimitedLog {
  readonly #sink: (line: string) => void;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #causes = new Map<string, { until: number; held: number }>();

  constructor(
    sink: (line: string) => void,
    options: RateLimitedLogOptions = {},
  ) {
    const windowMs = options.windowMs ?? 10_000;
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`windowMs must be positive, got ${windowMs}`);
    }
    this.#sink = sink;
    this.#windowMs = windowMs;
    this.#now = options.now ?? Date.now;
  }

  /** Logs `line` unless `cause` already logged within the window. */
  write(cause: string, line: string): void {
    const now = this.#now();
    const state = this.#causes.get(cause);
    if (state && now < state.until) {
      state.held++;
      return;
    }
    const held = state?.held ?? 0;
    this.#sink(
      held > 0 ? `${line} (and ${held} more like it since the last)` : line,
    );
    this.#causes.set(cause, { until: now + this.#windowMs, held: 0 });
    // Bounded: causes are a fixed set of kinds, but stay safe anyway.
    if (this.#causes.size > 1000) {
      for (const [key, value] of this.#causes) {
        if (value.until <= now) this.#causes.delete(key);
      }
    }
  }
}
