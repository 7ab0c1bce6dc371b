// `deno task bundle`: the CLI and the daemon as single files in dist/
// (or the directory given), each with the Workers it starts bundled
// beside it, where a bundle's modules look for them (see `workerUrl`),
// and hash-wasm, loaded from beside them only where libxxhash can't be.
// A bundled CLI starts ~20 ms sooner than `deno run cli.ts`: Deno loads
// one file instead of checking some eighty TypeScript modules against its
// transpile cache, every run.
import { join } from "node:path";

/** What is bundled: the file written, from the module. */
export const BUNDLES: readonly (readonly [string, string])[] = [
  ["blit.js", "cli.ts"],
  ["blit-daemon.js", "daemon.ts"],
  ["_hash_worker.js", "lib/fs/_hash_worker.ts"],
  ["_write_worker.js", "lib/fs/_write_worker.ts"],
  ["_basis_worker.js", "lib/delta/_basis_worker.ts"],
  ["_copy_worker.js", "lib/client/_copy_worker.ts"],
  // hash-wasm, imported only where libxxhash can't be (lib/deps/hash_wasm.ts).
  ["_hash_wasm.js", "lib/deps/_hash_wasm.ts"],
];

const REPO = decodeURIComponent(new URL("..", import.meta.url).pathname)
  .replace(/\/$/, "");

/**
 * Writes every bundle of {@linkcode BUNDLES} into `outDir` (created if
 * missing), two `deno bundle` runs at a time.
 *
 * Permissions: run on deno, read on the repository, write on `outDir`.
 *
 * @throws {Error} naming the bundle that failed, with deno's first error line.
 */
export async function bundleAll(outDir: string): Promise<void> {
  await Deno.mkdir(outDir, { recursive: true });
  const queue = [...BUNDLES];
  const one = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      const [out, entry] = next;
      const built = await new Deno.Command(Deno.execPath(), {
        args: [
          "bundle",
          "--quiet",
          "--platform=deno",
          "-o",
          join(outDir, out),
          join(REPO, entry),
        ],
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      if (!built.success) {
        const text = new TextDecoder().decode(built.stderr);
        const line = text.split("\n").find((l) => l.trim() !== "") ?? "";
        throw new Error(`deno bundle ${entry} failed: ${line.trim()}`);
      }
    }
  };
  await Promise.all([one(), one()]);
}

if (import.meta.main) {
  const outDir = Deno.args[0] ?? join(REPO, "dist");
  try {
    await bundleAll(outDir);
    console.log(
      `bundled ${BUNDLES.map(([out]) => out).join(", ")} into ${outDir}`,
    );
  } catch (error) {
    console.error(
      `bundle: ${error instanceof Error ? error.message : String(error)}`,
    );
    Deno.exit(1);
  }
}
