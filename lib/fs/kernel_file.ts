// A regular file open by descriptor, for the kernel tree: reads, writes,
// modes and times through libc on the descriptor itself.
import { AT, cString, ERRNO, errnoError, type Libc } from "./_libc.ts";

const EMPTY = cString("");
import { ContainmentError, type ReadHandle, type WriteHandle } from "./tree.ts";

/** A regular file open by descriptor: reads and writes through libc. */
export class KernelFile implements ReadHandle, WriteHandle {
  readonly #libc: Libc;
  #fd: number;
  /** What errors call the file. */
  readonly #shown: string;

  /**
   * `fd`, opened without following a link or blocking, as a file handle
   * when it is a regular file (with `oneLink`, one with no other hard
   * link); else it is closed and refused.
   *
   * @throws {ContainmentError} for anything but such a file.
   */
  static regular(
    libc: Libc,
    fd: number,
    shown: string,
    oneLink: boolean,
  ): KernelFile {
    const handle = new KernelFile(libc, fd, shown);
    let info: Deno.FileInfo;
    try {
      info = handle.statSync();
    } catch (error) {
      handle.close();
      throw error;
    }
    if (!info.isFile || (oneLink && info.nlink !== 1)) {
      handle.close();
      throw new ContainmentError(
        shown,
        info.isFile ? "has other hard links" : "is no longer a regular file",
      );
    }
    handle.#opened = info;
    return handle;
  }

  #opened: Deno.FileInfo | undefined;

  /**
   * The status checked when {@linkcode KernelFile.regular} opened it (see
   * `openedStatus` in tree.ts); undefined for a handle made otherwise.
   */
  get statusAtOpen(): Deno.FileInfo | undefined {
    return this.#opened;
  }

  /**
   * A handle on the open descriptor `fd` (owned from now on); `shown`
   * names it in errors.
   */
  constructor(libc: Libc, fd: number, shown = "file") {
    this.#libc = libc;
    this.#fd = fd;
    this.#shown = shown;
  }

  /** The raw descriptor (for sendfile); -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  #live(): number {
    if (this.#fd < 0) throw new Deno.errors.BadResource("File is closed");
    return this.#fd;
  }

  readSync(p: Uint8Array): number | null {
    const fd = this.#live();
    const bytes = p as Uint8Array<ArrayBuffer>;
    // No closure while it succeeds (a read or more a sent file).
    let n = Number(this.#libc.fn.read(fd, bytes, BigInt(p.length)));
    if (n < 0) {
      n = this.#moved(
        "read",
        () => Number(this.#libc.fn.read(fd, bytes, BigInt(p.length))),
      );
    }
    if (n > 0) return n;
    return p.length === 0 ? 0 : null;
  }

  writeSync(p: Uint8Array): number {
    const fd = this.#live();
    const bytes = p as Uint8Array<ArrayBuffer>;
    // No closure while it succeeds (a write or more a received file).
    const n = Number(this.#libc.fn.write(fd, bytes, BigInt(p.length)));
    if (n >= 0) return n;
    return this.#moved(
      "write",
      () => Number(this.#libc.fn.write(fd, bytes, BigInt(p.length))),
    );
  }

  /** Bytes `call` (a read or a write) moved, made again after EINTR. */
  #moved(what: string, call: () => number): number {
    for (let tries = 0; tries < 1000; tries++) {
      const n = this.#libc.counted(call);
      if (n >= 0) return n;
      if (n !== -ERRNO.EINTR) throw errnoError(what, this.#shown, -n);
    }
    throw errnoError(what, this.#shown, ERRNO.EINTR);
  }

  /**
   * Appends `length` bytes of `source` from `offset` at this file's
   * position, copied by the kernel (copy_file_range: no bytes through
   * this process; on a filesystem that shares extents, none copied at
   * all). Returns the bytes copied: fewer (down to 0) where the kernel
   * can't (another filesystem, an old kernel), the rest to be copied
   * another way, at the position this leaves.
   */
  copyFrom(source: KernelFile, offset: number, length: number): number {
    const out = this.#live();
    const fd = source.#live();
    let done = 0;
    for (let tries = 0; done < length && tries < 1000; tries++) {
      const n = this.#libc.copyFileRange(
        fd,
        offset + done,
        out,
        length - done,
      );
      if (n === -ERRNO.EINTR) continue;
      if (n <= 0) break;
      done += n;
    }
    return done;
  }

  /**
   * Copies `length` bytes of `source` from `offset` to `at` in this file,
   * by the kernel on another thread (this thread goes on meanwhile; the
   * file position does not move): resolves with the bytes copied, from
   * the start of the range (0 where it can't: the rest is the caller's to
   * copy another way). Both files must stay open until it settles.
   */
  async copyFromLater(
    source: KernelFile,
    offset: number,
    at: number,
    length: number,
  ): Promise<number> {
    let done = 0;
    for (let tries = 0; done < length && tries < 1000; tries++) {
      // Asked for each call: a file closed meanwhile ends it (its number
      // may be another file's by now).
      const n = await this.#libc.copyFileRangeOffThread(
        source.#live(),
        offset + done,
        this.#live(),
        at + done,
        length - done,
      );
      if (n <= 0) break;
      done += n;
    }
    return done;
  }

  seekSync(offset: number, whence: Deno.SeekMode): number {
    const fd = this.#live();
    const r = this.#libc.counted(() =>
      Number(this.#libc.fn.lseek(fd, BigInt(offset), whence))
    );
    if (r < 0) throw errnoError("seek", this.#shown, -r);
    return r;
  }

  truncateSync(length: number): void {
    const fd = this.#live();
    const errno = this.#libc.attempt(() =>
      this.#libc.fn.ftruncate(fd, BigInt(length))
    );
    if (errno !== 0) throw errnoError("truncate", this.#shown, errno);
  }

  statSync(): Deno.FileInfo {
    const info = this.#libc.statx(this.#live(), EMPTY, AT.EMPTY_PATH);
    if (typeof info === "number") throw errnoError("stat", this.#shown, -info);
    return info;
  }

  chmodSync(mode: number): void {
    const fd = this.#live();
    const errno = this.#libc.attempt(() =>
      this.#libc.fn.fchmod(fd, mode & 0o7777)
    );
    if (errno !== 0) throw errnoError("chmod", this.#shown, errno);
  }

  utimeSync(mtimeMs: number, mtimeNs?: number): void {
    const r = this.#libc.futimens(this.#live(), mtimeMs, mtimeNs);
    if (r !== 0) throw errnoError("utime", this.#shown, -r);
  }

  /** Releases the handles this tree holds (idempotent). */
  close(): void {
    if (this.#fd < 0) return;
    this.#libc.fn.close(this.#fd);
    this.#fd = -1;
  }

  /**
   * Closes the descriptor off this thread (the handle is closed at once;
   * the returned promise settles when the descriptor is). The last close
   * of a file another has replaced frees its pages: ~15 ms for 128 MiB
   * here, which a transfer need not wait for. Idempotent.
   */
  closeLater(): Promise<void> {
    if (this.#fd < 0) return Promise.resolve();
    const fd = this.#fd;
    this.#fd = -1;
    // A close has nothing to report that anyone could act on.
    return this.#libc.fn.closeOffThread(fd).then(() => {}, () => {});
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Bytes from which a replaced file is closed off the thread: its pages'
 * freeing (~0.12 ms a MiB here) then outweighs handing the call over.
 */
export const CLOSE_LATER_MIN_BYTES = 8 << 20;

/**
 * Closes `handle`, an old copy of `size` bytes a transfer has just
 * replaced: off this thread where it is a {@linkcode KernelFile} of at
 * least {@linkcode CLOSE_LATER_MIN_BYTES} (see
 * {@linkcode KernelFile.closeLater}), else at once. The promise settles
 * once the descriptor is closed (nobody need wait for it).
 */
export function closeReplaced(
  handle: { close(): void },
  size: number,
): Promise<void> {
  if (handle instanceof KernelFile && size >= CLOSE_LATER_MIN_BYTES) {
    return handle.closeLater();
  }
  handle.close();
  return Promise.resolve();
}
