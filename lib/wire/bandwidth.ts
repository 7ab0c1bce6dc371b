// `--bwlimit`: one budget of bytes per second shared by every stream of
// a transfer.

import { sleep } from "../timer.ts";

/**
 * A bandwidth limit: each `take(n)` waits until `n` more bytes fit in the
 * rate. Callers on several streams share one limit; a short burst (50 ms
 * of the rate) passes without waiting, so small writes don't each sleep.
 *
 * @example
 * ```ts
 * import { Bandwidth } from "@blit/cli/internals";
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

  /**
   * The most bytes one write should carry under this limit: an eighth of a
   * second's worth (1 KiB to 1 MiB), so a slow limit still moves bytes
   * several times a second and the peer never takes it for idle.
   */
  get piece(): number {
    return Math.max(1024, Math.min(1 << 20, Math.floor(this.rate / 8)));
  }

  /** Waits until `n` more bytes may go (or come). */
  take(n: number): Promise<void> {
    const now = performance.now();
    this.#paidUntil = Math.max(this.#paidUntil, now) + (n / this.rate) * 1000;
    const wait = this.#paidUntil - now - this.#burstMs;
    if (wait <= 0) return Promise.resolve();
    return sleep(wait);
  }
}

const POWERS: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/**
 * Parses a rate as rsync's `--bwlimit` takes it, in bytes per second: a
 * bare number is KiB/s (`1000` = 1000 KiB/s); `K`, `M`, `G` (or `KiB`,
 * `MiB`, ...) are powers of 1024 and `KB`, `MB`, `GB` powers of 1000
 * bytes/s; `B` is bytes/s; fractions are fine (`1.5M`). `0` means no
 * limit (null). Undefined when it is not a rate, or under 1 byte/s.
 *
 * @example
 * ```ts
 * import { parseRate } from "@blit/cli/internals";
 * if (parseRate("1000") !== 1000 * 1024 || parseRate("10M") !== 10 * 1024 * 1024) throw new Error("example failed");
 * if (parseRate("500B") !== 500 || parseRate("2KB") !== 2000 || parseRate("0") !== null) throw new Error("example failed");
 * if (parseRate("x") !== undefined || parseRate("10X") !== undefined) throw new Error("example failed");
 * ```
 */
export function parseRate(text: string): number | null | undefined {
  const match = text.trim().match(
    /^(\d+(?:\.\d+)?|\.\d+)\s*(?:([kmgt])(i?b)?|(b))?$/i,
  );
  if (!match) return undefined;
  const value = Number(match[1]);
  if (value === 0) return null;
  let rate: number;
  if (match[4]) rate = value;
  else if (!match[2]) rate = value * 1024;
  else {
    const base = match[3]?.toLowerCase() === "b" ? 1000 : 1024;
    rate = value * base ** POWERS[match[2].toUpperCase()];
  }
  rate = Math.round(rate);
  return rate >= 1 && Number.isFinite(rate) ? rate : undefined;
}
