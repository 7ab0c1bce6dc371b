// The work item every pipeline stage carries: one filesystem entry.

/** What an entry is. Symlinks are carried as links, never followed. */
export type EntryKind = "file" | "dir" | "symlink";

/**
 * One entry of a tree, relative to the tree's root.
 *
 * @example
 * ```ts
 * import type { FileEntry } from "@blit/cli/mod";
 * const e: FileEntry = { path: "a/b.txt", kind: "file", size: 3, mtimeMs: 0, mode: 0o644 };
 * if (!(e.kind === "file")) throw new Error("example failed");
 * ```
 */
export interface FileEntry {
  /** Path relative to the root, '/'-separated, never empty, no `.`/`..`. */
  path: string;
  /** File, directory or symlink. */
  kind: EntryKind;
  /** Size in bytes (0 for directories; link text length for symlinks). */
  size: number;
  /** Modification time, whole milliseconds since the Unix epoch. */
  mtimeMs: number;
  /**
   * The modification time's nanoseconds past `mtimeMs` (0-999,999), where
   * the stat that read it knew them; absent: none.
   */
  mtimeNs?: number;
  /** Permission bits (`mode & 0o7777`). */
  mode: number;
  /** Symlink target text, for `kind === "symlink"`. */
  linkTarget?: string;
  /** Content hash (xxh3-128), present when comparing by checksum. */
  hash?: Uint8Array;
}

/** Counts every transfer reports (local, push or pull). */
export interface TransferStats {
  /** Regular files and symlinks written (or that would be, in a dry run). */
  filesTransferred: number;
  /** File content bytes written. */
  bytesTransferred: number;
  /** Files, links and directories deleted by mirroring. */
  filesDeleted: number;
  /** Entries left alone because they were already up to date. */
  filesSkipped: number;
}
