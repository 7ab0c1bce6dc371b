// Benchmark: 10,000 small files pushed to and pulled from a daemon, blit
// (TCP data plane) against an rsync daemon, in the same run.
//
//   BLIT_BENCH_DIR=/some/tmpfs deno run -A bench/remote_small_files.ts [--files 10000] [--size 4096] [--runs 3]
//
// rsync comes from `apt-get install -y rsync`; without it those rows are
// skipped. The daemon's sandbox refuses /dev, so use a tmpfs elsewhere.
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const decoder = new TextDecoder();

function options(
  args: string[],
): { files: number; size: number; runs: number } {
  const { values } = parseArgs({
    args,
    options: {
      files: { type: "string", default: "10000" },
      size: { type: "string", default: "4096" },
      runs: { type: "string", default: "3" },
    },
  });
  const out = {
    files: Number(values.files),
    size: Number(values.size),
    runs: Number(values.runs),
  };
  for (const [name, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 1 || v > 10_000_000) {
      throw new RangeError(`--${name} must be a positive integer`);
    }
  }
  return out;
}

async function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<number> {
  const start = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${decoder.decode(out.stderr)}`);
  }
  return performance.now() - start;
}

async function hasRsync(): Promise<boolean> {
  try {
    await new Deno.Command("rsync", { args: ["--version"], stdout: "null" })
      .output();
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const { files, size, runs } = options(Deno.args);
  const base = Deno.env.get("BLIT_BENCH_DIR") ?? Deno.env.get("TMPDIR") ??
    "/tmp";
  const work = await Deno.makeTempDir({
    dir: base,
    prefix: "blit-bench-remote-",
  });
  const children: Deno.ChildProcess[] = [];
  try {
    const src = join(work, "src");
    const data = new Uint8Array(size);
    for (let i = 0; i < files; i++) {
      const dir = join(src, `d${Math.floor(i / 100)}`);
      if (i % 100 === 0) Deno.mkdirSync(dir, { recursive: true });
      crypto.getRandomValues(data.subarray(0, Math.min(size, 65536)));
      Deno.writeFileSync(join(dir, `f${i}`), data);
    }
    const blitModule = join(work, "blit-module");
    Deno.mkdirSync(blitModule);
    const daemon = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(repo, "daemon.ts"),
        "--root",
        blitModule,
        "--port",
        "0",
      ],
      env: {
        BLIT_STATE_DIR: join(work, "state"),
        BLIT_DISABLE_PERF_HISTORY: "1",
      },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    children.push(daemon);
    const reader = daemon.stdout.getReader();
    let banner = "";
    for (let i = 0; i < 100 && !banner.includes("\n"); i++) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += decoder.decode(value);
    }
    reader.releaseLock();
    daemon.stdout.cancel().catch(() => {});
    const port = Number(banner.match(/:(\d+)\s*$/m)?.[1]);
    if (!port) throw new Error(`daemon did not start: ${banner}`);
    const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
    const cli = (...args: string[]) =>
      run(Deno.execPath(), ["run", "-A", join(repo, "cli.ts"), ...args], env);
    const times = new Map<string, number[]>();
    const add = (name: string, ms: number) =>
      times.set(name, [...(times.get(name) ?? []), ms]);

    let rsyncUrl: string | undefined;
    const rsyncModule = join(work, "rsync-module");
    if (await hasRsync()) {
      Deno.mkdirSync(rsyncModule);
      const conf = join(work, "rsyncd.conf");
      Deno.writeTextFileSync(
        conf,
        `use chroot = no\nuid = ${Deno.uid()}\ngid = ${Deno.gid()}\n[b]\n  path = ${rsyncModule}\n  read only = no\n`,
      );
      const rport = 20000 + Math.floor(Math.random() * 20000);
      const rsyncd = new Deno.Command("rsync", {
        args: [
          "--daemon",
          "--no-detach",
          `--config=${conf}`,
          `--port=${rport}`,
          "--address=127.0.0.1",
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      children.push(rsyncd);
      await new Promise((r) => setTimeout(r, 500));
      rsyncUrl = `rsync://127.0.0.1:${rport}/b`;
    } else {
      console.log(
        "rsync not installed (apt-get install -y rsync): skipping rsync rows",
      );
    }
    for (let r = 0; r < runs; r++) {
      await Deno.remove(join(blitModule, "t"), { recursive: true }).catch(
        () => {},
      );
      add(
        "blit push",
        await cli("push", src, `blit://127.0.0.1:${port}/default/t`),
      );
      const back = join(work, `back-${r}`);
      add(
        "blit pull",
        await cli("pull", `blit://127.0.0.1:${port}/default/t`, back),
      );
      await Deno.remove(back, { recursive: true });
      if (rsyncUrl) {
        await Deno.remove(join(rsyncModule, "t"), { recursive: true }).catch(
          () => {},
        );
        add(
          "rsync push",
          await run("rsync", ["-a", `${src}/`, `${rsyncUrl}/t/`]),
        );
        const rback = join(work, `rback-${r}`);
        add(
          "rsync pull",
          await run("rsync", ["-a", `${rsyncUrl}/t/`, `${rback}/`]),
        );
        await Deno.remove(rback, { recursive: true });
      }
    }
    const median = (v: number[]) =>
      [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    console.log(
      `${files} files x ${size} B to/from a daemon on 127.0.0.1, median of ${runs} runs (whole processes)`,
    );
    for (const [name, values] of times) {
      const ref = times.get(name.replace("blit", "rsync"));
      const ratio = ref && name.startsWith("blit")
        ? `  ${(median(values) / median(ref)).toFixed(2)}x rsync time`
        : "";
      console.log(
        `  ${name.padEnd(11)} ${
          median(values).toFixed(0).padStart(6)
        } ms${ratio}`,
      );
    }
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
    }
    await Deno.remove(work, { recursive: true });
  }
}

await main();
