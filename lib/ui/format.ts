// Human-readable sizes, for summaries and the progress bar.

/**
 * Bytes in binary units.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./format.ts";
 * if (!(formatBytes(1536) === "1.5 KiB")) throw new Error("example failed");
 * ```
 */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${Math.round(n)} B`
    : `${value.toFixed(1)} ${units[unit]}`;
}
