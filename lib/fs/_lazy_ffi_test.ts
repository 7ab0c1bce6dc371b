import { assertEquals } from "../../tests/_assert.ts";
import { lazySymbols } from "./_lazy_ffi.ts";

const SYMBOLS = {
  getpid: { parameters: [], result: "i32" },
  no_such_symbol_in_libc: { parameters: [], result: "i32" },
} as const;

Deno.test("lazySymbols binds a symbol when first read, then keeps it", () => {
  if (Deno.build.os !== "linux") return;
  const libc = lazySymbols("libc.so.6", SYMBOLS);
  assertEquals(Object.hasOwn(libc, "getpid"), false);
  assertEquals(libc.getpid(), Deno.pid);
  assertEquals(Object.hasOwn(libc, "getpid"), true);
  const first = libc.getpid;
  assertEquals(libc.getpid, first);
  // A symbol the library lacks fails when it is read, not before.
  let error: unknown;
  try {
    libc.no_such_symbol_in_libc();
  } catch (e) {
    error = e;
  }
  assertEquals(error instanceof Error, true);
  assertEquals(libc.getpid(), Deno.pid);
});

Deno.test("lazySymbols refuses a library that can't be loaded at once", () => {
  let error: unknown;
  try {
    lazySymbols("/nonexistent/libnothing.so", SYMBOLS);
  } catch (e) {
    error = e;
  }
  assertEquals(error instanceof Error, true);
});
