import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { AT, cString, loadLibc, O } from "./_libc.ts";
import { KernelFile, openLocalRead } from "./kernel_file.ts";
import { ContainmentError } from "./tree.ts";

Deno.test("KernelFile.regular: a plain file is a handle that reads, writes, stats and sets times; a directory or a hard-linked file is refused and closed", () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "abc");
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
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openLocalRead: a regular file through libc; a link through Deno's open as before; a FIFO, a directory or a missing file refused at once", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/f`, "hello");
    const file = openLocalRead(`${dir}/f`);
    assertEquals(file instanceof KernelFile, true);
    const buf = new Uint8Array(16);
    assertEquals(file.readSync(buf), 5);
    assertEquals(new TextDecoder().decode(buf.subarray(0, 5)), "hello");
    assertEquals(file.readSync(buf), null);
    assertEquals(file.statSync().size, 5);
    file.close();
    // A link at the last name: libc refuses (O_NOFOLLOW), Deno's open
    // reads the target, as the sender always did.
    Deno.symlinkSync(`${dir}/f`, `${dir}/l`);
    const viaLink = openLocalRead(`${dir}/l`);
    assertEquals(viaLink instanceof KernelFile, false);
    assertEquals(viaLink.readSync(buf), 5);
    viaLink.close();
    // A FIFO: refused without blocking (Deno's open would wait for a
    // writer forever).
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${dir}/p`] })
      .output();
    assertEquals(mkfifo.code, 0);
    const fifo = assertThrows(
      () => openLocalRead(`${dir}/p`),
      ContainmentError,
    );
    assertEquals(
      fifo.message,
      `${
        JSON.stringify(`${dir}/p`)
      } is no longer a regular file; nothing was read or written through it`,
    );
    assertThrows(() => openLocalRead(dir), ContainmentError);
    const missing = assertThrows(
      () => openLocalRead(`${dir}/nope`),
      Deno.errors.NotFound,
    );
    assertEquals(missing.message.includes(`${dir}/nope`), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
