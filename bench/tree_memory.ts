// Benchmark: peak RSS per side against the number of files. For each tree
// size (default 100,000 and 1,000,000 files of 1 byte, 1,000 a directory)
// on a fresh portable daemon: push, no-op push, pull into an empty
// directory, no-op pull; time and the peak RSS of the largest process on
// each side. Writes the table into bench/RESULTS.md ("Memory in the tree
// size"); needs a tmpfs like the throughput benchmark (12 GiB mounted when
// root, else BLIT_BENCH_DIR).
//
//   deno run -A bench/tree_memory.ts [--files 100000,1000000]
import { parseArgs } from "node:util";
import { join } from "node:path";
import {
  blitCommand,
  scratch,
  startBlitDaemon,
  timed,
  writeResultsSection,
  writeSmall,
} from "./_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { files: { type: "string", default: "100000,1000000" } },
});
const sizes = values.files.split(",").map(Number);
for (const n of sizes) {
  if (!Number.isInteger(n) || n < 1000 || n > 2_000_000) {
    throw new RangeError(`--files takes counts of 1000-2000000, got ${n}`);
  }
}

const rows: string[] = [];
const space = await scratch("12g");
try {
  for (const files of sizes) {
    const work = Deno.makeTempDirSync({ dir: space.dir, prefix: "tree-" });
    const src = join(work, "src");
    const module = join(work, "module");
    const back = join(work, "back");
    const state = join(work, "state");
    for (const d of [src, module, state]) Deno.mkdirSync(d);
    writeSmall(src, files, 1, 1000);
    const daemon = await startBlitDaemon(module, state, "portable");
    const env = { BLIT_STATE_DIR: state, BLIT_DISABLE_PERF_HISTORY: "1" };
    const blit = blitCommand;
    const url = `blit://127.0.0.1:${daemon.port}/m`;
    try {
      const steps: [string, string[]][] = [
        ["push", ["push", `${src}/`, `${url}/`]],
        ["no-op push", ["push", `${src}/`, `${url}/`]],
        ["pull", ["pull", `${url}/`, back]],
        ["no-op pull", ["pull", `${url}/`, back]],
      ];
      for (const [label, args] of steps) {
        // The source is not needed once pushed: room for the pull's copy.
        if (label === "pull") Deno.removeSync(src, { recursive: true });
        const s = await timed(blit(args), daemon.pid, env);
        const row = `| ${files.toLocaleString("en")} | ${label} | ${
          (s.ms / 1000).toFixed(1)
        } s | ${Math.round(s.clientPeakMiB)} | ${
          Math.round(s.daemonPeakMiB)
        } |`;
        console.log(row);
        rows.push(row);
      }
    } finally {
      await daemon.stop();
      Deno.removeSync(work, { recursive: true });
    }
  }
} finally {
  await space.done();
}

const section = [
  "## Memory in the tree size",
  "",
  `Written by \`bench/tree_memory.ts\` on ${
    new Date().toISOString().slice(0, 10)
  } (part of \`deno task bench\`): 1-byte files, 1,000 a directory, a fresh default (portable) daemon per tree size; peak RSS of the largest process on each side, as \`deno task blit\` / \`deno task daemon\` run them. Target: <= 200 MiB each side, flat in the file count.`,
  "",
  "| files | step | time | peak RSS MiB client | peak RSS MiB daemon |",
  "|---|---|---|---|---|",
  ...rows,
  "",
].join("\n");
writeResultsSection("Memory in the tree size", section);
