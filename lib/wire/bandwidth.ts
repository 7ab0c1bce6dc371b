// `--bwlimit`: one budget of bytes per second shared by every stream of
// a transfer.

/**
 * A bandwidth limit: each `take(n)` waits until `n` more bytes fit in the
 * rate. Callers on several streams share one limit; a short burst (50 ms
 * of the rate) passes without waiting, so small writes don't each sleep.
 *
 * @example
 * ```ts
 * import { Bandwidth } from "./bandwidth.ts";
 * const limit = new Bandwidth(1 << 20); // 1 MiB/s
 * const t0 = performance.now();
 * await limit.take(256 << 10);
 * await limit.take(256 << 10);
 * if (performance.now() - t0 < 300) throw new Error("example failed");
 * ```
 */
export class Bandwidth {
  /** Bytes per second. */
  readonly rate: number;
  readonly #burstMs: number;
  /** When the bytes taken so far are paid for (performance.now() time). */
  #paidUntil = 0;

  /**
   * A limit of `bytesPerSecond`.
   *
   * @throws {RangeError} when it is not a positive finite number.
   */
  constructor(bytesPerSecond: number) {
    if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) {
      throw new RangeError(
        `A bandwidth limit must be a positive number, got ${bytesPerSecond}`,
      );
    }
    this.rate = bytesPerSecond;
    this.#burstMs = 50;
  }

  /** Waits until `n` more bytes may go (or come). */
  take(n: number): Promise<void> {
    const now = performance.now();
    this.#paidUntil = Math.max(this.#paidUntil, now) + (n / this.rate) * 1000;
    const wait = this.#paidUntil - now - this.#burstMs;
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, wait));
  }
}

const UNITS: Record<string, number> = {
  "": 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
};

/**
 * Parses a rate as users write it: bytes per second, with an optional
 * `K`, `M` or `G` (powers of 1024; `KB`, `KiB` and lower case too).
 * Undefined when it is not one.
 *
 * @example
 * ```ts
 * import { parseRate } from "./bandwidth.ts";
 * if (parseRate("10M") !== 10 * 1024 * 1024 || parseRate("x") !== undefined) throw new Error("example failed");
 * ```
 */
export function parseRate(text: string): number | undefined {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?$/i);
  if (!match) return undefined;
  const rate = Number(match[1]) * UNITS[match[2].toUpperCase()];
  return rate >= 1 && Number.isFinite(rate) ? rate : undefined;
}
