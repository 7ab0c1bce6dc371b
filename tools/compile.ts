// `deno task compile`: single binaries of the CLI and the daemon in dist/.
// `deno compile` downloads a runtime (denort) on first use; where that
// download fails, this says so in one line instead of deno's backtrace.
import { CLIENT_V8_FLAGS, V8_FLAGS } from "../lib/v8_flags.ts";

// The heap settings of `deno task blit` and `deno task daemon`.
const TARGETS = [
  ["dist/blit", "cli.ts", CLIENT_V8_FLAGS],
  ["dist/blit-daemon", "daemon.ts", V8_FLAGS],
];

/**
 * The one line to print for a failed `deno compile`, from its stderr: the
 * runtime download named when that is what failed, else deno's first
 * error line.
 */
export function compileError(stderr: string): string {
  // deno colours its output; the line is read without the escapes.
  // deno-lint-ignore no-control-regex
  const text = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const url = text.match(/https:\/\/\S*denort\S*\.zip/)?.[0];
  if (url) {
    const cause = text.match(
      /(dns error[^\n]*|Connection refused[^\n]*|timed out[^\n]*|status code \d+[^\n]*)/i,
    )?.[0]?.trim();
    return `could not download the Deno runtime that deno compile builds on (${url}${
      cause ? `: ${cause}` : ""
    }); compile where dl.deno.land is reachable, point DENORT_BIN at a denort binary, or use 'deno task bundle'`;
  }
  const line = text.split("\n").find((l) => /^error:/.test(l.trim()));
  return line?.trim().replace(/^error:\s*/, "") ?? "deno compile failed";
}

if (import.meta.main) {
  for (const [output, script, v8] of TARGETS) {
    const out = await new Deno.Command(Deno.execPath(), {
      // hash-wasm is imported by a URL made at run time (see
      // lib/deps/hash_wasm.ts): named here, it is in the binary too.
      args: [
        "compile",
        "--allow-all",
        v8,
        "--include",
        "lib/deps/_hash_wasm.ts",
        "-o",
        output,
        script,
      ],
      stdout: "inherit",
      stderr: "piped",
      env: { RUST_BACKTRACE: "0" },
    }).output();
    if (!out.success) {
      console.error(
        `compile: error: ${compileError(new TextDecoder().decode(out.stderr))}`,
      );
      Deno.exit(1);
    }
    console.log(`compile: ${output} (from ${script})`);
  }
}
