// Grown files: what a receiver counts of the files that came as deltas and
// had grown past their old copies, and when that says to offer such old
// copies by their content hash alone (see PROTOCOL.md, "Grown files by hash").

/**
 * Files that came as deltas and had grown past their old copies: how many
 * began with all of it (`appended`: a log, a file written to at its end)
 * and how many did not (`other`: edited so it grew; an old copy offered
 * by hash and asked for again counts here too). While appends are at
 * least half of them (of {@linkcode GROWN_SEEN} or more), a receiver
 * offers such old copies by their content hash alone, as it does those
 * of the file's own size: the sender then compares the start of its file
 * with it, one hash, and sends a copy of it and the rest; a chunk-by-chunk
 * description (a read and a cut of every byte, its hashes on the wire)
 * is made only for a file asked for again. Before a transfer has seen
 * its own, it goes by its destination's last two transfers: both mostly
 * appends (`streak` 2 or more), it offers by hash from the start (a
 * destination whose pushes take turns appending and editing never pays
 * for offers its edited files turn down: answers come late, after most
 * files were offered).
 */
export interface GrownFiles {
  /** Files of the last transfer that began with all of their old copy. */
  appended: number;
  /** Files of the last transfer that did not (or were asked for again). */
  other: number;
  /** Transfers before the last, in a row, whose grown files were mostly appends. */
  streak: number;
}

/** Grown files a receiver judges by (see {@linkcode GrownFiles}). */
export const GROWN_SEEN = 8;

/**
 * Whether grown files counted so were mostly appends (at least
 * {@linkcode GROWN_SEEN} of them, appends at least half; see
 * {@linkcode GrownFiles}).
 *
 * @example
 * ```ts
 * import { appendsMostly } from "@blit/cli/internals";
 * if (!appendsMostly({ appended: 6, other: 2 }) || appendsMostly({ appended: 3, other: 0 })) throw new Error("example failed");
 * ```
 */
export function appendsMostly(
  grown: { appended: number; other: number },
): boolean {
  return grown.appended + grown.other >= GROWN_SEEN &&
    grown.appended >= grown.other;
}
