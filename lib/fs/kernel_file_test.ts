import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { AT, cString, type Libc, loadLibc, O } from "./_libc.ts";
import {
  CLOSE_LATER_MIN_BYTES,
  closeReplaced,
  KernelFile,
} from "./kernel_file.ts";
import { ContainmentError, openedStatus } from "./tree.ts";

/** Runs `fn` with libc and a fresh directory holding `f` (`text`); skipped without libc. */
function withFile(text: string, fn: (libc: Libc, dir: string) => void): void {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, text);
    fn(libc, dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("KernelFile.regular: a plain file is a handle that reads, writes, stats and sets times; a directory or a hard-linked file is refused and closed", () => {
  withFile("abc", (libc, dir) => {
    const fd = libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.RDWR, 0, 0);
    const file = KernelFile.regular(libc, fd, "f", true);
    const buf = new Uint8Array(3);
    assertEquals([file.readSync(buf), new TextDecoder().decode(buf)], [
      3,
      "abc",
    ]);
    file.utimeSync(1_500_000_000_123);
    assertEquals(file.statSync().mtime?.getTime(), 1_500_000_000_123);
    file.close();
    assertEquals(file.fd, -1);
    const dirFd = libc.openat2(
      AT.FDCWD,
      cString(dir),
      O.RDONLY | O.DIRECTORY,
      0,
      0,
    );
    assertThrows(
      () => KernelFile.regular(libc, dirFd, "d", false),
      ContainmentError,
      /is no longer a regular file/,
    );
    Deno.linkSync(`${dir}/f`, `${dir}/g`);
    const linked = libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.RDONLY, 0, 0);
    assertThrows(
      () => KernelFile.regular(libc, linked, "f", true),
      ContainmentError,
      /has other hard links/,
    );
  });
});

Deno.test("KernelFile reads to the end (then null; 0 for an empty buffer) and names a failed read or write's errno", () => {
  withFile("abcde", (libc, dir) => {
    const reading = KernelFile.regular(
      libc,
      libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.RDONLY, 0, 0),
      "f",
      true,
    );
    const buf = new Uint8Array(4);
    assertEquals(reading.readSync(buf), 4);
    assertEquals(reading.readSync(buf), 1);
    assertEquals(reading.readSync(buf), null);
    assertEquals(reading.readSync(new Uint8Array(0)), 0);
    assertThrows(
      () => reading.writeSync(new Uint8Array([1])),
      Error,
      /^write "f" failed: EBADF \(errno 9\)$/,
    );
    reading.close();
    const writing = KernelFile.regular(
      libc,
      libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.WRONLY, 0, 0),
      "f",
      true,
    );
    assertEquals(writing.writeSync(new TextEncoder().encode("xy")), 2);
    assertThrows(
      () => writing.readSync(buf),
      Error,
      /^read "f" failed: EBADF \(errno 9\)$/,
    );
    writing.close();
    assertEquals(Deno.readTextFileSync(`${dir}/f`), "xycde");
  });
});

Deno.test("KernelFile.regular keeps the status it checked: openedStatus answers with it (no second call), statSync asks anew", () => {
  withFile("abc", (libc, dir) => {
    const fd = libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.RDONLY, 0, 0);
    const file = KernelFile.regular(libc, fd, "f", true);
    try {
      Deno.writeTextFileSync(`${dir}/f`, "abcdef");
      assertEquals(file.statusAtOpen?.size, 3);
      assertEquals(openedStatus(file).size, 3);
      assertEquals(file.statSync().size, 6);
    } finally {
      file.close();
    }
    // A handle made otherwise has none: openedStatus asks it.
    const plain = new KernelFile(
      libc,
      libc.openat2(AT.FDCWD, cString(`${dir}/f`), O.RDONLY, 0, 0),
      "f",
    );
    try {
      assertEquals(plain.statusAtOpen, undefined);
      assertEquals(openedStatus(plain).size, 6);
    } finally {
      plain.close();
    }
  });
});

/**
 * Whether this process's descriptor `fd` is open on `path`. Once closed,
 * the number may already be another test's (the suite shares a process):
 * only what it points at tells.
 */
function holds(fd: number, path: string): boolean {
  try {
    return Deno.readLinkSync(`/proc/self/fd/${fd}`) === path;
  } catch {
    return false;
  }
}

Deno.test("KernelFile.closeLater: the handle is closed at once, the descriptor once the promise settles; closeReplaced closes a small file (or another handle) at once and a big one later; both idempotent", async () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const path = `${dir}/f`;
    Deno.writeTextFileSync(path, "abc");
    const open = () =>
      KernelFile.regular(
        libc,
        libc.openat2(AT.FDCWD, cString(path), O.RDONLY, 0, 0),
        "f",
        true,
      );
    const later = open();
    const fd = later.fd;
    assertEquals(holds(fd, path), true);
    const closing = later.closeLater();
    assertEquals(later.fd, -1);
    assertThrows(
      () => later.readSync(new Uint8Array(1)),
      Deno.errors.BadResource,
    );
    await closing;
    assertEquals(holds(fd, path), false);
    await later.closeLater(); // nothing left to close
    later.close();

    const small = open();
    const smallFd = small.fd;
    const done = closeReplaced(small, CLOSE_LATER_MIN_BYTES - 1);
    assertEquals([small.fd, holds(smallFd, path)], [-1, false]);
    await done;

    const big = open();
    const bigFd = big.fd;
    const bigDone = closeReplaced(big, CLOSE_LATER_MIN_BYTES);
    assertEquals(big.fd, -1);
    await bigDone;
    assertEquals(holds(bigFd, path), false);

    // Any other handle (Deno's own file, say) is closed at once.
    let closed = 0;
    await closeReplaced({ close: () => closed++ }, 1 << 30);
    assertEquals(closed, 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Opens `name` under `dir` through libc as a plain file's handle. */
function openIn(
  libc: Libc,
  dir: string,
  name: string,
  flags: number,
  mode = 0,
): KernelFile {
  const fd = libc.openat2(AT.FDCWD, cString(`${dir}/${name}`), flags, mode, 0);
  if (fd < 0) throw new Error(`open ${name}: ${-fd}`);
  return KernelFile.regular(libc, fd, name, false);
}

/** `f` under `dir` to read, and a new `g` holding "ab" to write. */
function copyPair(libc: Libc, dir: string): [KernelFile, KernelFile] {
  const src = openIn(libc, dir, "f", O.RDONLY);
  const out = openIn(libc, dir, "g", O.WRONLY | O.CREAT | O.EXCL, 0o600);
  out.writeSync(new TextEncoder().encode("ab"));
  return [src, out];
}

Deno.test("KernelFile.copyFrom appends a range of another file at this one's position, copied by the kernel; a range past the source's end copies what there is", () => {
  withFile("0123456789", (libc, dir) => {
    const [src, out] = copyPair(libc, dir);
    try {
      assertEquals(out.copyFrom(src, 3, 4), 4);
      assertEquals(out.copyFrom(src, 8, 10), 2);
      assertEquals(out.copyFrom(src, 10, 5), 0);
      out.writeSync(new TextEncoder().encode("!"));
    } finally {
      src.close();
      out.close();
    }
    assertEquals(Deno.readTextFileSync(`${dir}/g`), "ab345689!");
  });
});

Deno.test("KernelFile.copyFromLater copies a range of another file to an offset of this one on another thread, leaving this file's position; past the source's end it copies what there is; a closed source is refused", async () => {
  const libc = loadLibc();
  if (!libc) return;
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "0123456789");
    const [src, out] = copyPair(libc, dir);
    try {
      // Into the range after "ab", while the position stays at 2.
      assertEquals(await out.copyFromLater(src, 3, 2, 4), 4);
      assertEquals(out.seekSync(0, Deno.SeekMode.Current), 2);
      out.seekSync(6, Deno.SeekMode.Start);
      assertEquals(await out.copyFromLater(src, 8, 6, 10), 2);
      assertEquals(await out.copyFromLater(src, 10, 8, 5), 0);
      out.seekSync(8, Deno.SeekMode.Start);
      out.writeSync(new TextEncoder().encode("!"));
      src.close();
      await assertRejects(
        () => out.copyFromLater(src, 0, 9, 3),
        Deno.errors.BadResource,
        /^File is closed$/,
      );
    } finally {
      src.close();
      out.close();
    }
    assertEquals(Deno.readTextFileSync(`${dir}/g`), "ab345689!");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
