// `deno task bench`: the throughput benchmark against rsync (writes
// bench/RESULTS.md; its flags pass through, e.g. `--runs 5` or `--quick`),
// then the local-copy, daemon-memory, tree-size memory, resume and predictor
// benchmarks, and the link benchmark (delta and compression against rsync
// over rate-limited network namespaces; it needs root and says so).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const benches: { file: string; args: string[] }[] = [
  { file: "throughput.ts", args: Deno.args },
  { file: "local_small_files.ts", args: [] },
  { file: "daemon_memory.ts", args: [] },
  { file: "tree_memory.ts", args: [] },
  { file: "resume.ts", args: [] },
  { file: "predictor.ts", args: [] },
  { file: "link.ts", args: [] },
];

let failed = 0;
for (const bench of benches) {
  console.log(`\n=== ${bench.file} ${bench.args.join(" ")}`);
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", join(here, bench.file), ...bench.args],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
