// `deno task bench`: runs every benchmark in this folder, one after another.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const benches: { file: string; args: string[] }[] = [
  { file: "local_small_files.ts", args: [] },
  { file: "remote_small_files.ts", args: [] },
  { file: "daemon_memory.ts", args: [] },
  {
    file: "transfer.ts",
    args: Deno.args.length > 0 ? Deno.args : ["--size-mib", "1024"],
  },
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
