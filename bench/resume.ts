// Benchmark: what a crash costs. A 1 GiB push is cut at ~70% by kill -9
// of the daemon (and a 1 GiB pull by kill -9 of the client), the daemon
// restarted, the same command run again: how many bytes the rerun kept
// and how long it took, next to an uninterrupted transfer of the same
// file. Writes "Resume after a crash" into bench/RESULTS.md; needs a
// tmpfs like the throughput benchmark (mounted when root, else
// BLIT_BENCH_DIR).
//
//   deno run -A bench/resume.ts [--mib 1024]
import { parseArgs } from "node:util";
import { join } from "node:path";
import {
  blitCommand,
  procTree,
  scratch,
  startBlitDaemon,
  timed,
  writeBig,
  writeResultsSection,
} from "./_measure.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { mib: { type: "string", default: "1024" } },
});
const mib = Number(values.mib);
if (!Number.isInteger(mib) || mib < 64 || mib > 8192) {
  throw new RangeError(`--mib takes 64-8192, got ${values.mib}`);
}
const SIZE = mib * 1024 * 1024;
const CUT = Math.floor(SIZE * 0.7);

const blit = blitCommand;

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

/** Runs `args` (slowed down) until `partial` holds CUT bytes; then `cut()`. */
async function cutAt(
  args: string[],
  partial: string,
  env: Record<string, string>,
  cut: (client: Deno.ChildProcess) => Promise<void>,
): Promise<number> {
  const [cmd, ...rest] = blit(args);
  const client = new Deno.Command(cmd, {
    args: rest,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 120_000;
  while (sizeOf(partial) < CUT && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2));
  }
  await cut(client);
  try {
    client.kill("SIGKILL");
  } catch {
    // gone already
  }
  await client.status;
  return sizeOf(partial);
}

const gib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
const rows: string[] = [];
/** A table row: the cut, what the rerun kept and resent, both times. */
function row(
  what: string,
  kept: number,
  rerun: { ms: number; stdout: string },
  fullMs: number,
): void {
  const resumed = JSON.parse(rerun.stdout).bytes_resumed;
  rows.push(
    `| ${what} | ${gib(kept)} | ${gib(resumed)} | ${gib(SIZE - resumed)} | ${
      (fullMs / 1000).toFixed(2)
    } s | ${(rerun.ms / 1000).toFixed(2)} s |`,
  );
  console.log(rows.at(-1));
}
const space = await scratch(`${Math.ceil((mib * 4) / 1024) + 1}g`);
try {
  const work = Deno.makeTempDirSync({ dir: space.dir, prefix: "resume-" });
  const src = join(work, "src");
  const module = join(work, "module");
  const state = join(work, "state");
  const back = join(work, "back");
  for (const d of [src, module, state, back]) Deno.mkdirSync(d);
  writeBig(join(src, "big.bin"), SIZE, 7);
  const env = { BLIT_STATE_DIR: state, BLIT_DISABLE_PERF_HISTORY: "1" };
  // A slowed first run, so the cut lands near 70% on any machine.
  const rate = `${Math.max(64, Math.round(mib / 4))}M`;
  let daemon = await startBlitDaemon(module, state, "portable");
  try {
    const url = `blit://127.0.0.1:${daemon.port}/m`;
    const full = await timed(
      blit(["push", join(src, "big.bin"), `${url}/`]),
      daemon.pid,
      env,
    );
    Deno.removeSync(join(module, "big.bin"));

    // Push: kill -9 the daemon (parent and sandboxed child) mid-way.
    const kept = await cutAt(
      [
        "push",
        "--retries",
        "0",
        "--bwlimit",
        rate,
        join(src, "big.bin"),
        `${url}/`,
      ],
      join(module, ".big.bin.blit-partial.tmp"),
      env,
      async () => {
        for (const pid of procTree(daemon.pid)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // gone already
          }
        }
        await daemon.stop();
      },
    );
    daemon = await startBlitDaemon(module, state, "portable");
    const url2 = `blit://127.0.0.1:${daemon.port}/m`;
    const rerun = await timed(
      blit(["push", "--json", join(src, "big.bin"), `${url2}/`]),
      daemon.pid,
      env,
    );
    row("push, daemon killed -9", kept, rerun, full.ms);

    // Pull: kill -9 the client mid-way.
    const fullPull = await timed(
      blit(["pull", `${url2}/big.bin`, join(back, "whole.bin")]),
      daemon.pid,
      env,
    );
    Deno.removeSync(join(back, "whole.bin"));
    const keptPull = await cutAt(
      [
        "pull",
        "--retries",
        "0",
        "--bwlimit",
        rate,
        `${url2}/big.bin`,
        `${back}/`,
      ],
      join(back, ".big.bin.blit-partial.tmp"),
      env,
      () => Promise.resolve(),
    );
    const rerunPull = await timed(
      blit(["pull", "--json", `${url2}/big.bin`, `${back}/`]),
      daemon.pid,
      env,
    );
    row("pull, client killed -9", keptPull, rerunPull, fullPull.ms);
  } finally {
    await daemon.stop();
    Deno.removeSync(work, { recursive: true });
  }
} finally {
  await space.done();
}

const section = [
  "## Resume after a crash",
  "",
  `Written by \`bench/resume.ts\` on ${
    new Date().toISOString().slice(0, 10)
  } (part of \`deno task bench\`): a ${
    gib(SIZE)
  } file, the first run slowed with \`--bwlimit\` and cut once ~70% had landed (kill -9), the daemon restarted on the same state directory, the same command run again; the uninterrupted time is a plain run of the same file. "kept" is what the rerun verified block by block (4 MiB blocks) and did not send again (\`bytes_resumed\`).`,
  "",
  "| what | partial copy at the cut | kept | resent | uninterrupted | rerun |",
  "|---|---|---|---|---|---|",
  ...rows,
  "",
].join("\n");
writeResultsSection("Resume after a crash", section);
