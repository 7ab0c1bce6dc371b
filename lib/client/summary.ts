// The `--json` summary of a transfer, as the contract spells it.
import { formatBytes } from "../ui/format.ts";
import type { TransferStats } from "../fs/entry.ts";

/** How the bytes travelled. */
export type TransportKind = "tcp" | "grpc" | "local";

/** What a push, pull or local copy reports. */
export interface TransferResult extends TransferStats {
  /** How the bytes travelled. */
  transport: TransportKind;
  /** Data streams used. */
  streams: number;
  /** True when the TCP data plane was tried and failed. */
  fallback: boolean;
  /** Milliseconds to connect and agree on the transfer. */
  handshakeMs: number;
  /** Milliseconds to exchange manifest and need list. */
  manifestMs: number;
  /** Milliseconds moving bytes. */
  transferMs: number;
  /** Retries after transient failures. */
  retries: number;
  /**
   * Of `bytesTransferred`, bytes an interrupted transfer had already
   * delivered that were verified and kept instead of sent again.
   */
  bytesResumed?: number;
  /** Of `bytesTransferred`, bytes sent as data (the rest was matched or resumed). */
  bytesLiteral?: number;
  /** Of `bytesTransferred`, bytes rebuilt from the receiver's old copies. */
  bytesMatched?: number;
  /** Every byte the transfer put on the network, both ways, after compression. */
  bytesOnWire?: number;
  /** Of `bytesOnWire`, those this side sent. */
  bytesSent?: number;
  /** Of `bytesOnWire`, those this side received. */
  bytesReceived?: number;
  /** Whether any file went as a delta. */
  delta?: boolean;
  /**
   * Of `filesTransferred`, those whose old copy at the destination held
   * the same content (only their mtime had changed): kept, given the new
   * mode and mtime.
   */
  filesSame?: number;
  /**
   * A pull's grown files (see `GrownFiles`): those that came as deltas
   * beginning with all of their old copy, and the others.
   */
  grown?: { appended: number; other: number };
  /** Whether any data went compressed. */
  compression?: boolean;
  /** What the predictor chose for a remote transfer, and why. */
  predictor?: { transport: "tcp" | "grpc"; streams: number; reason: string };
}

/**
 * The contract's one-object JSON summary.
 *
 * @example
 * ```ts
 * import { summaryJson } from "./summary.ts";
 * const s = summaryJson("copy", { filesTransferred: 1, bytesTransferred: 2, filesDeleted: 0, filesSkipped: 0, transport: "local", streams: 1, fallback: false, handshakeMs: 0, manifestMs: 0, transferMs: 0, retries: 0 }, 5);
 * if (!(s.startsWith('{"op":"copy"'))) throw new Error("example failed");
 * ```
 */
export function summaryJson(
  op: string,
  result: TransferResult,
  durationMs: number,
): string {
  return JSON.stringify({
    op,
    files_transferred: result.filesTransferred,
    bytes_transferred: result.bytesTransferred,
    bytes_resumed: result.bytesResumed ?? 0,
    bytes_literal: result.bytesLiteral ??
      result.bytesTransferred - (result.bytesResumed ?? 0),
    bytes_matched: result.bytesMatched ?? 0,
    bytes_on_wire: result.bytesOnWire ?? 0,
    delta: result.delta ?? false,
    compression: result.compression ?? false,
    files_deleted: result.filesDeleted,
    files_skipped: result.filesSkipped,
    transport: result.transport,
    streams: result.streams,
    fallback: result.fallback,
    duration_ms: Math.round(durationMs),
    ...(result.predictor ? { predictor: result.predictor } : {}),
  });
}

/**
 * A one-line human summary.
 *
 * @example
 * ```ts
 * import { summaryLine } from "./summary.ts";
 * if (!(summaryLine("push", { filesTransferred: 1, bytesTransferred: 2048, filesDeleted: 0, filesSkipped: 3, transport: "tcp", streams: 1, fallback: false, handshakeMs: 0, manifestMs: 0, transferMs: 0, retries: 0 }, 10, false).includes("1 file"))) throw new Error("example failed");
 * ```
 */
export function summaryLine(
  op: string,
  result: TransferResult,
  durationMs: number,
  dryRun: boolean,
): string {
  const plural = (n: number, word: string) =>
    `${n} ${word}${n === 1 ? "" : "s"}`;
  const parts = [
    `${op}${dryRun ? " (dry run)" : ""}: ${
      plural(result.filesTransferred, "file")
    } ${dryRun ? "would be " : ""}transferred (${
      formatBytes(result.bytesTransferred)
    })`,
    `${result.filesSkipped} unchanged`,
  ];
  if (result.filesDeleted > 0) {
    // Files, links and directories (rsync counts them all as deleted files).
    parts.push(`${result.filesDeleted} ${dryRun ? "would be " : ""}deleted`);
  }
  // A dry run moved no bytes: no transport to name.
  if (!dryRun) {
    parts.push(
      `via ${result.transport}${result.fallback ? " (fallback)" : ""}`,
    );
  }
  parts.push(`${Math.round(durationMs)} ms`);
  return parts.join(", ");
}
