// The one place blit's version is written (deno.json's "version" must
// match; a test checks).

/**
 * blit's version.
 *
 * @example
 * ```ts
 * import { VERSION } from "@blit/cli/mod";
 * if (!/^\d+\.\d+\.\d+$/.test(VERSION)) throw new Error("example failed");
 * ```
 */
export const VERSION = "0.1.0";
