import { assertEquals } from "../tests/_assert.ts";
import { compileError } from "./compile.ts";

Deno.test("compile: a failed runtime download is one line naming it", () => {
  const stderr = [
    "\x1b[0m\x1b[32mCheck\x1b[0m cli.ts",
    "Download https://dl.deno.land/release/v2.9.3/denort-x86_64-unknown-linux-gnu.zip",
    "\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'dist/blit.tmp-1'",
    "Caused by:",
    "    0: Setting up base binary.",
    "    1: error sending request for url (https://dl.deno.land/release/v2.9.3/denort-x86_64-unknown-linux-gnu.zip): client error (Connect): dns error: failed to lookup address information: Name or service not known",
    "Stack backtrace:",
    "   0: <unknown>",
  ].join("\n");
  assertEquals(
    compileError(stderr),
    "could not download the Deno runtime that deno compile builds on (https://dl.deno.land/release/v2.9.3/denort-x86_64-unknown-linux-gnu.zip: dns error: failed to lookup address information: Name or service not known); compile where dl.deno.land is reachable, point DENORT_BIN at a denort binary, or use 'deno task bundle'",
  );
  assertEquals(
    compileError('error: Module not found "file:///x.ts".\n'),
    'Module not found "file:///x.ts".',
  );
  assertEquals(compileError(""), "deno compile failed");
});
