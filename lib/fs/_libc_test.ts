import { assertEquals } from "../../tests/_assert.ts";
import {
  AT,
  cScratch,
  cString,
  ERRNO,
  Libc,
  loadLibc,
  O,
  RESOLVE,
  setTimespecs,
  UNSURE_TRIES,
} from "./_libc.ts";

Deno.test("libc's openat2 beneath a directory: a name inside opens; a link or a climb out is refused by the kernel", () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI: the walk fallback is used there
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/f`, "x");
    Deno.symlinkSync("/etc", `${dir}/l`);
    const top = libc.openat2(
      AT.FDCWD,
      cString(dir),
      O.RDONLY | O.DIRECTORY,
      0,
      0,
    );
    assertEquals(top >= 0, true);
    const beneath = RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS;
    const f = libc.openat2(top, cString("f"), O.RDONLY, 0, beneath);
    assertEquals(f >= 0, true);
    libc.fn.close(f);
    assertEquals(
      libc.openat2(top, cString("l/passwd"), O.RDONLY, 0, beneath),
      -ERRNO.ELOOP,
    );
    assertEquals(
      libc.openat2(top, cString("../x"), O.RDONLY, 0, beneath),
      -ERRNO.EXDEV,
    );
    const info = libc.statx(top, cString("f"), AT.SYMLINK_NOFOLLOW);
    assertEquals(typeof info === "object" && [info.isFile, info.size], [
      true,
      1,
    ]);
    libc.fn.close(top);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cString and cScratch: NUL-terminated names, ASCII or not; a NUL inside is refused", () => {
  for (const make of [cString, cScratch]) {
    assertEquals([...make("ab").subarray(0, 3)], [0x61, 0x62, 0]);
    assertEquals(
      [...make("é/😀").subarray(0, 8)],
      [0xc3, 0xa9, 0x2f, 0xf0, 0x9f, 0x98, 0x80, 0],
    );
    assertEquals(make("").indexOf(0), 0);
    let refused: unknown;
    try {
      make("a\0b");
    } catch (error) {
      refused = error;
    }
    assertEquals(refused instanceof TypeError, true);
    assertEquals((refused as Error).message, 'Name contains NUL: "a\\u0000b"');
  }
  // cString copies; cScratch reuses one buffer (the next call overwrites).
  const a = cString("one");
  const b = cString("two");
  assertEquals(a === b, false);
  const s = cScratch("one");
  assertEquals(cScratch("xy") === s, true);
  assertEquals([...s.subarray(0, 3)], [0x78, 0x79, 0]);
  // A name too long for a system call is still encoded whole (the kernel
  // then says ENAMETOOLONG), never cut.
  const long = "a".repeat(5000);
  assertEquals(cScratch(long).length, 5001);
  assertEquals(cScratch("b".repeat(4096)).length, 4097);
  assertEquals(cScratch("c".repeat(4095))[4095], 0);
});

Deno.test("a file with a non-ASCII name is found by statx through cScratch", () => {
  const libc = loadLibc();
  if (!libc) throw new Error("libc is needed here");
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/été`, "x");
    const info = libc.statx(AT.FDCWD, cScratch(`${dir}/été`), 0);
    assertEquals(typeof info === "number" ? info : info.size, 1);
    const missing = libc.statx(AT.FDCWD, cScratch(`${dir}/ete`), 0);
    assertEquals(missing, -ERRNO.ENOENT);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("libc's errno after a failed call: a value the runtime may have left (EAGAIN, EINTR, 0) or one read while binding errno's own symbols makes the call again; a sure one stands", () => {
  const shared = loadLibc();
  if (!shared) return; // not Linux, or no FFI
  const missing = cString(`/definitely-not-here-${crypto.randomUUID()}/x`);
  const statx = (libc: Libc) =>
    libc.fn.statx(
      AT.FDCWD,
      missing,
      AT.SYMLINK_NOFOLLOW,
      0x7ff,
      new Uint8Array(256),
    );
  // A fresh binding: reading errno binds __errno_location and memcpy
  // (the dynamic loader may set errno itself), so the call is made again.
  const fresh = new Libc(shared.path);
  assertEquals(statx(fresh), -1);
  let again = 0;
  assertEquals(fresh.failed(() => (again++, statx(fresh) === 0)), ERRNO.ENOENT);
  assertEquals(again, 1);
  // Bound now: a sure errno is answered at once.
  assertEquals(statx(fresh), -1);
  again = 0;
  assertEquals(fresh.failed(() => (again++, statx(fresh) === 0)), ERRNO.ENOENT);
  assertEquals(again, 0);
  // errno left as a futex wait leaves it: the call is made again and its
  // own errno answers; a call that succeeds the second time answers 0.
  const errnoCell = new Int32Array(
    Deno.UnsafePointerView.getArrayBuffer(fresh.fn.__errno_location()!, 4),
  );
  for (const left of [ERRNO.EAGAIN, ERRNO.EINTR, 110, 0]) {
    errnoCell[0] = left;
    again = 0;
    assertEquals(
      fresh.failed(() => (again++, statx(fresh) === 0)),
      ERRNO.ENOENT,
    );
    assertEquals(again, 1);
    errnoCell[0] = left;
    assertEquals(fresh.failed(() => true), 0);
  }
  // An errno that stays unsure: bounded, then the value read stands.
  errnoCell[0] = ERRNO.EAGAIN;
  again = 0;
  assertEquals(fresh.failed(() => (again++, false)), ERRNO.EAGAIN);
  assertEquals(again, UNSURE_TRIES - 1);
  // The methods that read errno themselves make the call again too.
  assertEquals(
    fresh.statx(AT.FDCWD, missing, AT.SYMLINK_NOFOLLOW),
    -ERRNO.ENOENT,
  );
  assertEquals(fresh.pread(-1, new Uint8Array(8), 8, 0), -ERRNO.EBADF);
  assertEquals(fresh.attempt(() => fresh.fn.close(-1)), ERRNO.EBADF);
  assertEquals(
    fresh.counted(() => Number(fresh.fn.lseek(-1, 0n, 0))),
    -ERRNO.EBADF,
  );
  assertEquals(fresh.counted(() => 5), 5);
  assertEquals(fresh.attempt(() => 0), 0);
});

Deno.test("Libc.prime binds the functions named once; calling them after is unchanged", () => {
  const libc = loadLibc();
  if (!libc) return;
  libc.prime(["lseek", "ftruncate", "close"]);
  // All bound now (some may have been before, by other tests): plain
  // properties of their own, bound once.
  assertEquals(libc.prime(["lseek", "ftruncate", "close"]), 0);
  for (const name of ["lseek", "ftruncate", "close"]) {
    assertEquals(Object.hasOwn(libc.fn, name), true, name);
  }
  // A primed function is called as before: close(-1) fails with -1.
  assertEquals(libc.fn.close(-1), -1);
});

Deno.test("setTimespecs: both timespecs hold the time's seconds and nanoseconds, before 1970 and past 2038 too", () => {
  const times = new BigInt64Array(4);
  const cases: [number, number, bigint, bigint][] = [
    [0, 0, 0n, 0n],
    [1_700_000_000_123, 456_789, 1_700_000_000n, 123_456_789n],
    [1_700_000_000_999, 999_999, 1_700_000_000n, 999_999_999n],
    [-1, 0, -1n, 999_000_000n], // 1969-12-31T23:59:59.999Z
    [-86_400_000 * 365 * 70, 5, -2_207_520_000n, 5n],
    [4_102_444_800_000, 0, 4_102_444_800n, 0n], // 2100
    [2 ** 32 * 1000 + 1, 7, 2n ** 32n, 1_000_007n],
    [1.5, 0, 0n, 1_500_000n], // a fraction of a millisecond counts
  ];
  for (const [ms, ns, sec, nsec] of cases) {
    setTimespecs(times, ms, ns);
    assertEquals([...times], [sec, nsec, sec, nsec], `${ms} ms + ${ns} ns`);
  }
});
