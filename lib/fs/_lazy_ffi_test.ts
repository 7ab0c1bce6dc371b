import { assertEquals } from "../../tests/_assert.ts";
import { bindIdle, lazySymbols } from "./_lazy_ffi.ts";
import { findLibc } from "./_libc.ts";

const libc = findLibc();
const GETPID = { getpid: { parameters: [], result: "i32" } } as const;
/** Whether this libc can look symbols up (glibc 2.34 on): else all bind at once. */
const canLook = libc !== undefined &&
  Deno.dlopen(libc, {
      dlsym: {
        parameters: ["pointer", "buffer"],
        result: "pointer",
        optional: true,
      },
    }).symbols.dlsym !== null;

Deno.test("lazySymbols binds a symbol when first read, then keeps it", () => {
  if (!libc) return;
  const fns = lazySymbols(libc, {
    ...GETPID,
    getppid: { parameters: [], result: "i32" },
  }, libc);
  // Where symbols can be looked up, nothing is bound before it is read.
  assertEquals(Object.hasOwn(fns, "getpid"), !canLook);
  assertEquals(fns.getpid(), Deno.pid);
  assertEquals(Object.hasOwn(fns, "getpid"), true);
  assertEquals(Object.hasOwn(fns, "getppid"), !canLook);
  const first = fns.getpid;
  assertEquals(fns.getpid, first);
});

Deno.test("lazySymbols keeps a symbol bound under another key lazy, and refuses a missing real name", () => {
  if (!libc) return;
  // The same function twice, once nonblocking (as zstd's are): looked up
  // by its real name, not its key.
  const fns = lazySymbols(libc, {
    ...GETPID,
    getpid_async: {
      name: "getpid",
      parameters: [],
      result: "i32",
      nonblocking: true,
    },
  }, libc);
  assertEquals(Object.hasOwn(fns, "getpid_async"), !canLook);
  assertEquals(Object.hasOwn(fns, "getpid"), !canLook);
  assertEquals(fns.getpid(), Deno.pid);
  let failed = false;
  try {
    lazySymbols(libc, {
      renamed: {
        name: "no_such_symbol_in_libc",
        parameters: [],
        result: "i32",
      },
    }, libc);
  } catch (error) {
    failed = error instanceof Error;
  }
  assertEquals(failed, true);
});

Deno.test("lazySymbols refuses a library lacking a symbol at once, as dlopen would", () => {
  if (!libc) return;
  const failure = (libcPath: string | undefined) => {
    try {
      lazySymbols(libc, {
        ...GETPID,
        no_such_symbol_in_libc: { parameters: [], result: "i32" },
      }, libcPath);
    } catch (error) {
      return error instanceof Error;
    }
    return false;
  };
  // Looked up through dlsym, and bound at once where it can't be.
  assertEquals(failure(libc), true);
  assertEquals(failure(undefined), true);
  // Without a lookup, every symbol is bound at once (and works).
  const eager = lazySymbols(libc, GETPID, undefined);
  assertEquals(Object.hasOwn(eager, "getpid"), true);
  assertEquals(eager.getpid(), Deno.pid);
});

Deno.test("lazySymbols refuses a library that can't be loaded at once", () => {
  let failed = false;
  try {
    lazySymbols("/nonexistent/libnothing.so", GETPID, libc);
  } catch (error) {
    failed = error instanceof Error;
  }
  assertEquals(failed, true);
});

Deno.test("bindIdle binds the listed symbols one an event-loop turn, none once stopped; those it bound are bound", async () => {
  if (!libc || !canLook) return;
  const symbols = {
    ...GETPID,
    getppid: { parameters: [], result: "i32" },
    getuid: { parameters: [], result: "u32" },
  } as const;
  const names = ["getpid", "getppid", "getuid"];
  const bound = (fns: object) => names.filter((n) => Object.hasOwn(fns, n));
  // Stopped before its first turn: nothing bound.
  const early = lazySymbols(libc, symbols, libc);
  bindIdle([[early, names]])();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertEquals(bound(early), []);
  // Given turns: each bound in one; the caller's own reads come first.
  const fns = lazySymbols(libc, symbols, libc);
  const stop = bindIdle([[fns, names]]);
  assertEquals(bound(fns), []);
  assertEquals(fns.getppid(), Deno.ppid);
  await new Promise((resolve) => setTimeout(resolve, 50));
  stop();
  assertEquals(bound(fns), names);
  assertEquals([fns.getpid(), fns.getuid()], [Deno.pid, Deno.uid()]);
});
