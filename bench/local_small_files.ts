// Benchmark: local copy of many small files, blit vs `cp -r` vs `rsync -a`.
//
//   deno run -A bench/local_small_files.ts [--files 10000] [--size 4096] [--runs 5]
//
// Each tool copies into a fresh destination on /dev/shm (tmpfs) when it
// exists; times are wall-clock medians of whole processes, measured in the
// same run. rsync comes from `apt-get install -y rsync`; without it that row
// is skipped.
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = dirname(dirname(fileURLToPath(import.meta.url)));

function options(
  args: string[],
): { files: number; size: number; runs: number } {
  const { values } = parseArgs({
    args,
    options: {
      files: { type: "string", default: "10000" },
      size: { type: "string", default: "4096" },
      runs: { type: "string", default: "5" },
    },
  });
  const files = Number(values.files);
  const size = Number(values.size);
  const runs = Number(values.runs);
  for (
    const [name, v, max] of [["files", files, 1_000_000], [
      "size",
      size,
      1 << 26,
    ], ["runs", runs, 50]] as const
  ) {
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new RangeError(`--${name} must be 1..${max}, got ${v}`);
    }
  }
  return { files, size, runs };
}

function scratch(): string {
  try {
    if (Deno.statSync("/dev/shm").isDirectory) return "/dev/shm";
  } catch {
    // no tmpfs
  }
  return "/tmp";
}

async function has(command: string): Promise<boolean> {
  try {
    await new Deno.Command(command, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return true;
  } catch {
    return false;
  }
}

async function time(cmd: string, args: string[]): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "null",
    stderr: "piped",
    env: { BLIT_DISABLE_PERF_HISTORY: "1" },
  })
    .output();
  const ms = performance.now() - start;
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return ms;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { files, size, runs } = options(Deno.args);
  const work = await Deno.makeTempDir({
    dir: scratch(),
    prefix: "blit-bench-small-",
  });
  try {
    const src = join(work, "src");
    const perDir = 100;
    const data = new Uint8Array(size);
    for (let i = 0; i < files; i++) {
      const dir = join(src, `d${Math.floor(i / perDir)}`);
      if (i % perDir === 0) Deno.mkdirSync(dir, { recursive: true });
      crypto.getRandomValues(data.subarray(0, Math.min(size, 65536)));
      Deno.writeFileSync(join(dir, `f${i}.bin`), data);
    }
    const tools: { name: string; run: (dst: string) => Promise<number> }[] = [
      { name: "cp -r", run: (dst) => time("cp", ["-r", src, dst]) },
      {
        name: "blit copy",
        run: (dst) =>
          time(Deno.execPath(), [
            "run",
            "-A",
            join(repo, "cli.ts"),
            "copy",
            src,
            dst,
          ]),
      },
    ];
    if (await has("rsync")) {
      tools.push({
        name: "rsync -a",
        run: (dst) => time("rsync", ["-a", `${src}/`, `${dst}/`]),
      });
    } else {
      console.log(
        "rsync not installed (apt-get install -y rsync): skipping its row",
      );
    }
    const results = new Map<string, number[]>();
    let n = 0;
    for (let r = 0; r < runs; r++) {
      // Interleave the tools so machine noise hits them alike.
      for (const tool of tools) {
        const dst = join(work, `dst-${n++}`);
        const ms = await tool.run(dst);
        results.set(tool.name, [...(results.get(tool.name) ?? []), ms]);
        await Deno.remove(dst, { recursive: true });
      }
    }
    // No-change rerun: blit copy onto an up-to-date tree, and rsync likewise.
    const same = join(work, "same");
    await tools[1].run(same);
    const again: number[] = [];
    for (let r = 0; r < runs; r++) again.push(await tools[1].run(same));
    const rsyncAgain: number[] = [];
    if (tools[2]) {
      const rsame = join(work, "rsame");
      await tools[2].run(rsame);
      for (let r = 0; r < runs; r++) rsyncAgain.push(await tools[2].run(rsame));
    }
    console.log(
      `${files} files x ${size} B on ${scratch()}, median of ${runs} runs (whole processes)`,
    );
    const rsync = results.get("rsync -a");
    for (const [name, values] of results) {
      const m = median(values);
      const ratio = rsync
        ? ` ${(m / median(rsync)).toFixed(2)}x rsync time`
        : "";
      console.log(
        `  ${name.padEnd(10)} ${m.toFixed(0).padStart(6)} ms${ratio}`,
      );
    }
    console.log(`  blit copy, nothing changed: ${median(again).toFixed(0)} ms`);
    if (rsyncAgain.length > 0) {
      console.log(
        `  rsync -a, nothing changed:  ${median(rsyncAgain).toFixed(0)} ms`,
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

await main();
