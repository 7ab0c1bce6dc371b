// Local copy of one file: the kernel's copy_file_range (or one reused
// buffer for small files) into a temp name, then mode, mtime and rename.
import { loadNativeStat, setPathTimes } from "./native_stat.ts";
import type { FileEntry } from "./entry.ts";
import { resolveInside, type ResolveOptions } from "./safe_path.ts";
import { tempNameFor } from "./temp_names.ts";
import { conflict, removePath, umask } from "./_replace.ts";

/**
 * Copies a local file into place with the kernel's copy_file_range
 * (`Deno.copyFileSync`), then applies mode and mtime and renames.
 *
 * Permissions: read on `srcAbs`, read and write on `root`.
 *
 * @example
 * ```ts
 * import { copyFileAtomic } from "@blit/cli/internals";
 * const src = Deno.makeTempFileSync();
 * Deno.writeTextFileSync(src, "abc");
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * copyFileAtomic(src, root, { path: "c", kind: "file", size: 3, mtimeMs: 0, mode: 0o644 });
 * if (!(Deno.readTextFileSync(`${root}/c`) === "abc")) throw new Error("example failed");
 * Deno.removeSync(src);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function copyFileAtomic(
  srcAbs: string,
  root: string,
  entry: FileEntry,
  options: ResolveOptions = {},
): void {
  const finalPath = resolveInside(root, entry.path, options);
  const tmp = localTempPath(finalPath);
  try {
    if (entry.size <= SMALL_COPY) copySmall(srcAbs, tmp, finalPath, entry);
    else {
      try {
        Deno.copyFileSync(srcAbs, tmp);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        // Parent missing (cheaper to find out this way than to stat first).
        ensureParent(finalPath);
        Deno.copyFileSync(srcAbs, tmp);
      }
      // copyFile already carried the source's permission bits over.
      setPathTimes(tmp, entry.mtimeMs, entry.mtimeNs);
    }
    renameOrConflict(tmp, finalPath, entry.path);
  } catch (error) {
    removePath(tmp);
    throw error;
  }
}

/** Files up to this size are copied through one reused buffer. */
const SMALL_COPY = 1 << 20;
let copyBuffer: Uint8Array | undefined;
/**
 * Small files: read into a reused buffer, write a new temp file, set its
 * mtime on the open descriptor. Fewer syscalls than copy_file_range's
 * set-up for a few KiB, which is what dominates trees of small files.
 */
function copySmall(
  srcAbs: string,
  tmp: string,
  finalPath: string,
  entry: FileEntry,
): void {
  copyBuffer ??= new Uint8Array(SMALL_COPY + 1);
  const source = Deno.openSync(srcAbs, { read: true });
  let n = 0;
  try {
    for (;;) {
      const r = source.readSync(copyBuffer.subarray(n));
      if (r === null || r === 0) break;
      n += r;
      // A regular file's read comes back short only at its end: when the
      // declared size arrived with room to spare, skip the EOF read.
      if (n === entry.size && r < copyBuffer.length - (n - r)) break;
      if (n > SMALL_COPY) break;
    }
  } finally {
    source.close();
  }
  if (n > SMALL_COPY) {
    // It grew past the small-file size since we looked: let the kernel copy it.
    Deno.copyFileSync(srcAbs, tmp);
    setPathTimes(tmp, entry.mtimeMs, entry.mtimeNs);
    Deno.chmodSync(tmp, entry.mode & 0o7777);
    return;
  }
  writeTemp(tmp, finalPath, entry, copyBuffer.subarray(0, n));
}

/**
 * Writes `data` to a new temp file with the entry's mode and mtime (set on
 * the open descriptor), creating the parent directory if it is missing.
 */
function writeTemp(
  tmp: string,
  finalPath: string,
  entry: FileEntry,
  data: Uint8Array,
): void {
  const mode = entry.mode & 0o7777;
  const precise = entry.mtimeNs !== undefined && loadNativeStat() !== undefined;
  let target: Deno.FsFile;
  try {
    target = Deno.openSync(tmp, { write: true, createNew: true, mode });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    // Parent missing: cheaper to find out this way than to stat first.
    ensureParent(finalPath);
    target = Deno.openSync(tmp, { write: true, createNew: true, mode });
  }
  try {
    let off = 0;
    while (off < data.length) off += target.writeSync(data.subarray(off));
    // To the nanosecond by name where libc can (once the file is
    // closed), else to the microsecond on the descriptor.
    if (!precise) {
      const seconds = entry.mtimeMs / 1000;
      target.utimeSync(seconds, seconds);
    }
  } finally {
    target.close();
  }
  if (precise) setPathTimes(tmp, entry.mtimeMs, entry.mtimeNs);
  // open() applies the umask; fix the bits only when it took some away.
  if ((mode & umask()) !== 0) Deno.chmodSync(tmp, mode);
}

// Local copies (client side, the user's own tree): path helpers.

function localTempPath(abs: string): string {
  const slash = abs.lastIndexOf("/");
  return `${abs.slice(0, slash + 1)}${tempNameFor(abs.slice(slash + 1))}`;
}

function ensureParent(abs: string): void {
  const dir = abs.slice(0, abs.lastIndexOf("/")) || "/";
  try {
    if (Deno.statSync(dir).isDirectory) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  Deno.mkdirSync(dir, { recursive: true });
}

function renameOrConflict(tmp: string, finalPath: string, rel: string): void {
  try {
    Deno.renameSync(tmp, finalPath);
  } catch (error) {
    if (
      error instanceof Deno.errors.IsADirectory ||
      Deno.statSync(finalPath).isDirectory
    ) throw conflict(rel);
    throw error;
  }
}
