// Calls on directory descriptors for the kernel tree, each beneath the
// handle it is given (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_MAGICLINKS): listing, making directories level by level, and
// what a failed resolution means.
import {
  AT,
  cString,
  ERRNO,
  errnoError,
  type Libc,
  O,
  RESOLVE,
} from "./_libc.ts";
import { PathEscapeError } from "./safe_path.ts";
import { joinRel } from "./tree.ts";
import { asciiText } from "../text.ts";

/** Every resolution: beneath the handle, no link followed. */
export const BENEATH = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS |
  RESOLVE.NO_MAGICLINKS;
const DOT = cString(".");
const decoder = new TextDecoder("utf-8", { fatal: false });
/** getdents64 buffer: one call lists a few hundred names. */
const DENTS_BYTES = 64 * 1024;
/** Upper bound on getdents64 calls for one directory (~ 60 M names). */
const MAX_DENTS_CALLS = 1_000_000;
/**
 * The getdents64 buffer, one for this thread: a fresh 64 KiB a directory
 * cost its 16 pages' first touch (~0.2 ms a directory here), more than
 * listing it. A listing is synchronous and keeps only the names.
 */
let dents: { buf: Uint8Array; view: DataView } | undefined;

/** The error a failed resolution of `shown` means. */
export function resolveError(
  call: string,
  shown: string,
  errno: number,
): Error {
  if (errno === ERRNO.ELOOP) {
    return new PathEscapeError(shown, "goes through a symlink");
  }
  if (errno === ERRNO.EXDEV || errno === ERRNO.EAGAIN) {
    // The kernel also says so when a rename raced the lookup.
    return new PathEscapeError(
      shown,
      "leaves the module, or was moved while being looked up",
    );
  }
  return errnoError(call, shown, errno);
}

/**
 * The names in the directory open as `fd` (unsorted, without "." and
 * ".."); `shown` names it in errors.
 */
export function listDir(libc: Libc, fd: number, shown: string): string[] {
  const names: string[] = [];
  dents ??= (() => {
    const buf = new Uint8Array(DENTS_BYTES);
    return { buf, view: new DataView(buf.buffer) };
  })();
  const { buf, view } = dents;
  for (let calls = 0; calls < MAX_DENTS_CALLS; calls++) {
    const n = libc.counted(() =>
      Number(libc.fn.getdents64(fd, buf, BigInt(buf.length)))
    );
    if (n < 0) throw errnoError("readdir", shown, -n);
    if (n === 0) break;
    for (let off = 0; off < n;) {
      const reclen = view.getUint16(off + 16, true);
      const start = off + 19;
      const end = buf.indexOf(0, start);
      const name = asciiText(buf, start, end) ??
        decoder.decode(buf.subarray(start, end));
      if (name !== "." && name !== "..") names.push(name);
      off += reclen;
    }
  }
  return names;
}

/** Makes `rel` and missing parents beneath `top`, one checked level at a time. */
export function mkdirsBeneath(libc: Libc, top: number, rel: string): void {
  // Fast path: it is there already.
  const fd = libc.openat2(
    top,
    cString(rel),
    O.PATH | O.DIRECTORY | O.CLOEXEC,
    0,
    BENEATH,
  );
  if (fd >= 0) {
    libc.fn.close(fd);
    return;
  }
  if (-fd !== ERRNO.ENOENT && -fd !== ERRNO.ENOTDIR) {
    throw resolveError("open", rel, -fd);
  }
  let dirfd = libc.openat2(
    top,
    DOT,
    O.PATH | O.DIRECTORY | O.CLOEXEC,
    0,
    BENEATH,
  );
  if (dirfd < 0) throw resolveError("open", "", -dirfd);
  let shown = "";
  try {
    for (const part of rel.split("/")) {
      shown = joinRel(shown, part);
      const name = cString(part);
      const errno = libc.attempt(() => libc.fn.mkdirat(dirfd, name, 0o755));
      if (errno !== 0 && errno !== ERRNO.EEXIST) {
        throw errnoError("mkdir", shown, errno);
      }
      const next = libc.openat2(
        dirfd,
        name,
        O.PATH | O.DIRECTORY | O.CLOEXEC | O.NOFOLLOW,
        0,
        BENEATH,
      );
      if (next < 0) {
        if (-next === ERRNO.ENOTDIR) {
          throw new Deno.errors.NotADirectory(`Not a directory: ${shown}`);
        }
        throw resolveError("open", shown, -next);
      }
      libc.fn.close(dirfd);
      dirfd = next;
    }
  } finally {
    libc.fn.close(dirfd);
  }
}

/** The target text of the link `name` in the directory open as `dirfd`. */
export function readLinkAt(
  libc: Libc,
  dirfd: number,
  name: Uint8Array<ArrayBuffer>,
  shown: string,
): string {
  const buf = new Uint8Array(4097);
  const n = libc.counted(() =>
    Number(libc.fn.readlinkat(dirfd, name, buf, BigInt(buf.length)))
  );
  if (n < 0) throw errnoError("readlink", shown, -n);
  if (n >= buf.length) {
    throw new PathEscapeError(shown, "has a link target over 4096 bytes");
  }
  return decoder.decode(buf.subarray(0, n));
}

/** Removes the file, link or empty directory `name` in `dirfd`. */
export function removeAt(
  libc: Libc,
  dirfd: number,
  name: Uint8Array<ArrayBuffer>,
  shown: string,
): void {
  const unlink = (flags: number) =>
    libc.attempt(() => libc.fn.unlinkat(dirfd, name, flags));
  let errno = unlink(0);
  if (errno === ERRNO.EISDIR || errno === ERRNO.EPERM) {
    errno = unlink(AT.REMOVEDIR);
  }
  if (errno !== 0) throw errnoError("remove", shown, errno);
}

/** Sets mode and/or mtime on the open descriptor `fd`. */
export function setAttrs(
  libc: Libc,
  fd: number,
  attrs: { mode?: number; mtimeMs?: number; mtimeNs?: number },
  shown: string,
): void {
  if (attrs.mode !== undefined) {
    const mode = attrs.mode & 0o7777;
    const errno = libc.attempt(() => libc.fn.fchmod(fd, mode));
    if (errno !== 0) throw errnoError("chmod", shown, errno);
  }
  if (attrs.mtimeMs !== undefined) {
    const r = libc.futimens(fd, attrs.mtimeMs, attrs.mtimeNs);
    if (r !== 0) throw errnoError("utime", shown, -r);
  }
}
