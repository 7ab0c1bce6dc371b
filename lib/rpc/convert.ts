// Converts between pipeline entries and their protobuf messages.
import { create } from "@bufbuild/protobuf";
import type { FileEntry } from "../fs/entry.ts";
import { normalizeRelative, PathEscapeError } from "../fs/safe_path.ts";
import {
  EntryKind,
  type FileHeader,
  FileHeaderSchema,
  type ManifestComplete,
  ManifestCompleteSchema,
} from "./gen/blit_pb.ts";

/** Longest symlink target accepted from a peer, in characters. */
export const MAX_LINK_TARGET = 4096;

/**
 * Builds the manifest message for an entry.
 *
 * @example
 * ```ts
 * import { entryToHeader } from "./convert.ts";
 * const h = entryToHeader({ path: "a", kind: "file", size: 1, mtimeMs: 5, mode: 0o644 });
 * console.assert(h.path === "a" && h.size === 1n);
 * ```
 */
export function entryToHeader(entry: FileEntry): FileHeader {
  return create(FileHeaderSchema, {
    path: entry.path,
    size: BigInt(entry.size),
    mtimeMs: BigInt(Math.trunc(entry.mtimeMs)),
    mode: entry.mode,
    kind: entry.kind === "file"
      ? EntryKind.FILE
      : entry.kind === "dir"
      ? EntryKind.DIR
      : EntryKind.SYMLINK,
    linkTarget: entry.linkTarget ?? "",
    hash: entry.hash ?? new Uint8Array(0),
  });
}

/**
 * Validates a manifest message from a peer and turns it into an entry.
 * The path is normalised; `..`, absolute paths, NUL and backslashes are
 * refused, as are unknown kinds and out-of-range numbers.
 *
 * @example
 * ```ts
 * import { entryToHeader, headerToEntry } from "./convert.ts";
 * const e = headerToEntry(entryToHeader({ path: "./a", kind: "dir", size: 0, mtimeMs: 0, mode: 0o755 }));
 * console.assert(e.path === "a" && e.kind === "dir");
 * ```
 * @throws {PathEscapeError} for unsafe paths.
 * @throws {RangeError} for bad kinds, sizes, modes or link targets.
 */
export function headerToEntry(header: FileHeader): FileEntry {
  const path = normalizeRelative(header.path);
  if (path === "") {
    throw new PathEscapeError(header.path, "names the transfer root itself");
  }
  if (header.size > BigInt(Number.MAX_SAFE_INTEGER) || header.size < 0n) {
    throw new RangeError(`Size ${header.size} of ${path} is out of range`);
  }
  if (header.mode > 0o7777) {
    throw new RangeError(
      `Mode ${header.mode.toString(8)} of ${path} is out of range`,
    );
  }
  const entry: FileEntry = {
    path,
    kind: "file",
    size: Number(header.size),
    mtimeMs: Number(header.mtimeMs),
    mode: header.mode,
  };
  switch (header.kind) {
    case EntryKind.FILE:
      break;
    case EntryKind.DIR:
      entry.kind = "dir";
      entry.size = 0;
      break;
    case EntryKind.SYMLINK:
      entry.kind = "symlink";
      if (
        header.linkTarget === "" || header.linkTarget.includes("\0") ||
        header.linkTarget.length > MAX_LINK_TARGET
      ) {
        throw new RangeError(`Symlink ${path} has an invalid target`);
      }
      entry.linkTarget = header.linkTarget;
      break;
    default:
      throw new RangeError(`Entry ${path} has unknown kind ${header.kind}`);
  }
  if (header.hash.length > 0) entry.hash = header.hash;
  return entry;
}

/** The two manifest payloads both streaming calls carry. */
export type ManifestPayload =
  | { case: "file"; value: FileHeader }
  | { case: "manifestComplete"; value: ManifestComplete };

/**
 * Streams a manifest (each entry, then the completion) through `write`,
 * and returns the regular files offered, by path, for the transfer that
 * follows.
 *
 * @example
 * ```ts
 * import { sendManifest } from "./convert.ts";
 * const sent: string[] = [];
 * const files = await sendManifest([{ path: "a", kind: "file", size: 1, mtimeMs: 0, mode: 0o644 }], async (p) => {
 *   sent.push(p.case);
 * });
 * console.assert(sent.join() === "file,manifestComplete" && files.has("a"));
 * ```
 */
export async function sendManifest(
  entries: AsyncIterable<FileEntry> | Iterable<FileEntry>,
  write: (payload: ManifestPayload) => Promise<void>,
): Promise<Map<string, FileEntry>> {
  const files = new Map<string, FileEntry>();
  let count = 0;
  for await (const entry of entries) {
    if (entry.kind === "file") files.set(entry.path, entry);
    count++;
    await write({ case: "file", value: entryToHeader(entry) });
  }
  await write({
    case: "manifestComplete",
    value: create(ManifestCompleteSchema, { entries: BigInt(count) }),
  });
  return files;
}
