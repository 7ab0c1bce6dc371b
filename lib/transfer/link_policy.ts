// When a transfer sends deltas and compresses: by the user's choice, or,
// left to blit (`auto`), by the link. Delta costs reading the old copy
// back on the receiver and the new one through the chunker on the sender
// (~0.5-1 GB/s here): it pays on any network link slower than that, never
// on loopback. Compression decides block by block from what the stream
// measures (see compressed_stream.ts); on loopback it stays off.
import type { CompressOptions } from "../wire/compressed_stream.ts";
import { loadZstd } from "../wire/zstd.ts";

/** A user's choice: always, never, or left to blit. */
export type Choice = "auto" | "on" | "off";

/** Faster than this (bytes/s), a link outruns the chunker: no delta. */
export const DELTA_MAX_LINK_BYTES_PER_S = 400e6;

/**
 * Whether `host` is this machine (a loopback address or `localhost`).
 *
 * @example
 * ```ts
 * import { isLoopback } from "@blit/cli/internals";
 * if (!isLoopback("127.0.0.1") || !isLoopback("[::1]") || isLoopback("10.0.0.2")) throw new Error("example failed");
 * ```
 */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^(::ffff:)?127\./.test(h);
}

/**
 * Whether a sender sends big file bodies by sendfile(2): as told (`true`,
 * `false`), else (undefined) unless the peer is this machine. Over
 * loopback the receiver's copy of pages sent that way is slower than of
 * pages written (they arrive as fragments): a 1 GiB push there took
 * 821 ms with it against 671 ms without (5 runs each, 2-core VM, tmpfs).
 *
 * @example
 * ```ts
 * import { useSendfile } from "@blit/cli/internals";
 * if (useSendfile(undefined, "127.0.0.1") || !useSendfile(undefined, "10.1.1.2") || !useSendfile(true, "::1")) throw new Error("example failed");
 * ```
 */
export function useSendfile(
  choice: boolean | undefined,
  peerHost: string,
): boolean {
  return choice ?? !isLoopback(peerHost);
}

/**
 * Whether the receiver should describe its old copies for deltas: `on`
 * always, `off` never, `auto` when the peer is not this machine and the
 * link (`linkBytesPerS`, when known from the route's history) is slower
 * than {@linkcode DELTA_MAX_LINK_BYTES_PER_S}.
 *
 * @example
 * ```ts
 * import { useDelta } from "@blit/cli/internals";
 * if (useDelta("auto", "127.0.0.1") || !useDelta("auto", "10.1.1.2") || !useDelta("on", "127.0.0.1")) throw new Error("example failed");
 * ```
 */
export function useDelta(
  choice: Choice,
  peerHost: string,
  linkBytesPerS?: number,
): boolean {
  if (choice !== "auto") return choice === "on";
  if (isLoopback(peerHost)) return false;
  return !(linkBytesPerS && linkBytesPerS > DELTA_MAX_LINK_BYTES_PER_S);
}

/**
 * How the sender compresses its data streams, or undefined for not at
 * all: `on` every block that shrinks, `off` none, `auto` block by block
 * while it pays (never to or from this machine; `linkBytesPerS`, the
 * route's rate from its history, when known).
 *
 * @example
 * ```ts
 * import { compressionFor } from "@blit/cli/internals";
 * if (compressionFor("auto", "127.0.0.1") !== undefined) throw new Error("example failed");
 * if (compressionFor("on", "127.0.0.1", 5)?.level !== 5) throw new Error("example failed");
 * ```
 * @throws {RangeError} for a level outside 1-19.
 */
export function compressionFor(
  choice: Choice,
  peerHost: string,
  level?: number,
  linkBytesPerS?: number,
): CompressOptions | undefined {
  if (
    level !== undefined && (!Number.isInteger(level) || level < 1 || level > 19)
  ) {
    throw new RangeError(`compression level must be 1-19, got ${level}`);
  }
  if (choice === "off") return undefined;
  if (choice === "auto" && isLoopback(peerHost)) return undefined;
  // zstd will likely be needed: loaded now, not when the first block is
  // due (libzstd: a few ms; node:zlib, without it: ~35).
  loadZstd().catch(() => {});
  return {
    mode: choice,
    ...(level ? { level } : {}),
    ...(choice === "auto" && linkBytesPerS ? { linkBytesPerS } : {}),
  };
}
