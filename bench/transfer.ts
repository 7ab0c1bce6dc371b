// Benchmark: one big file pushed and pulled over loopback, blit (TCP data
// plane and forced gRPC) against an rsync daemon, in the same run.
//
//   deno run -A bench/transfer.ts [--size-mib 1024] [--runs 1]
//
// Source and destination live on /dev/shm (tmpfs) when it exists, so the
// disk is out of the picture. rsync comes from `apt-get install -y rsync`;
// without it the rsync rows are skipped.
import { parseArgs } from "node:util";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const deno = Deno.execPath();
const decoder = new TextDecoder();

interface Row {
  name: string;
  ms: number;
  peakClientMiB: number;
  peakDaemonMiB: number;
}

function parse(args: string[]): { sizeMiB: number; runs: number } {
  const { values } = parseArgs({
    args,
    options: {
      "size-mib": { type: "string", default: "1024" },
      runs: { type: "string", default: "3" },
    },
  });
  const sizeMiB = Number(values["size-mib"]);
  const runs = Number(values.runs);
  if (!Number.isInteger(sizeMiB) || sizeMiB <= 0) {
    throw new RangeError(
      `--size-mib must be a positive integer, got ${values["size-mib"]}`,
    );
  }
  if (!Number.isInteger(runs) || runs <= 0 || runs > 20) {
    throw new RangeError(`--runs must be 1..20, got ${values.runs}`);
  }
  return { sizeMiB, runs };
}

function scratchRoot(): string {
  try {
    // Deno sandboxes refuse paths under /dev, so tmpfs must live elsewhere.
    const dir = Deno.env.get("BLIT_BENCH_DIR");
    if (dir) return dir;
  } catch {
    // fall through to the temp dir
  }
  return Deno.env.get("TMPDIR") ?? "/tmp";
}

function makeFile(path: string, sizeMiB: number): void {
  const chunk = new Uint8Array(1 << 20);
  const file = Deno.openSync(path, {
    write: true,
    create: true,
    truncate: true,
  });
  try {
    for (let i = 0; i < sizeMiB; i++) {
      // Random-ish but cheap: vary a few bytes per MiB so nothing compresses.
      crypto.getRandomValues(chunk.subarray(0, 65536));
      chunk[65536 + (i % 1000)] = i & 0xff;
      let off = 0;
      while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
    }
  } finally {
    file.close();
  }
}

async function sha256(path: string): Promise<string> {
  const out = await new Deno.Command("sha256sum", {
    args: [path],
    stdout: "piped",
  })
    .output();
  return decoder.decode(out.stdout).split(" ")[0];
}

function peakRssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = status.match(/VmHWM:\s+(\d+) kB/);
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function descendants(pid: number): number[] {
  const found: number[] = [];
  const queue = [pid];
  for (let guard = 0; queue.length > 0 && guard < 1000; guard++) {
    const current = queue.shift()!;
    try {
      for (const task of Deno.readDirSync(`/proc/${current}/task`)) {
        const children = Deno.readTextFileSync(
          `/proc/${current}/task/${task.name}/children`,
        ).trim();
        for (const child of children.split(/\s+/).filter(Boolean)) {
          found.push(Number(child));
          queue.push(Number(child));
        }
      }
    } catch {
      // process went away
    }
  }
  return found;
}

/** Runs a command under /usr/bin/time -v and returns wall ms and peak RSS. */
async function timed(
  cmd: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; peakMiB: number; stdout: string }> {
  const start = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-v", ...cmd],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - start;
  const stderr = decoder.decode(out.stderr);
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed (${out.code}): ${stderr.slice(-2000)}`,
    );
  }
  const match = stderr.match(/Maximum resident set size \(kbytes\): (\d+)/);
  return {
    ms,
    peakMiB: match ? Number(match[1]) / 1024 : 0,
    stdout: decoder.decode(out.stdout),
  };
}

async function startDaemon(
  moduleDir: string,
  stateDir: string,
): Promise<
  { port: number; child: Deno.ChildProcess; stop: () => Promise<void> }
> {
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "--allow-all",
      join(repo, "daemon.ts"),
      "--root",
      moduleDir,
      "--port",
      "0",
    ],
    env: { BLIT_STATE_DIR: stateDir },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (!text.includes("\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const match = text.match(/listening on \S+:(\d+)/);
  if (!match) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`daemon did not start: ${text}`);
  }
  return {
    port: Number(match[1]),
    child,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

function daemonPeak(pid: number): number {
  return Math.max(peakRssMiB(pid), ...descendants(pid).map(peakRssMiB));
}

/**
 * Writes and deletes `sizeMiB` of scratch so the next writer gets recycled
 * pages: on these VMs first-touch page allocation costs ~3 s per GiB and
 * would otherwise decide which tool "wins".
 */
function recyclePages(dir: string, sizeMiB: number): void {
  const path = join(dir, "scratch.bin");
  makeFile(path, sizeMiB);
  Deno.removeSync(path);
}

async function rsyncRows(
  work: string,
  source: string,
  sizeMiB: number,
): Promise<Row[]> {
  try {
    await new Deno.Command("rsync", { args: ["--version"], stdout: "null" })
      .output();
  } catch {
    console.log(
      "rsync not installed (apt-get install -y rsync): skipping rsync rows",
    );
    return [];
  }
  const moduleDir = join(work, "rsync-module");
  Deno.mkdirSync(moduleDir);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const conf = join(work, "rsyncd.conf");
  Deno.writeTextFileSync(
    conf,
    `use chroot = no\nuid = ${Deno.uid()}\ngid = ${Deno.gid()}\npid file = ${work}/rsyncd.pid\n[bench]\n  path = ${moduleDir}\n  read only = no\n`,
  );
  const daemon = new Deno.Command("rsync", {
    args: [
      "--daemon",
      "--no-detach",
      `--config=${conf}`,
      `--port=${port}`,
      "--address=127.0.0.1",
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await new Promise((r) => setTimeout(r, 500));
    const url = `rsync://127.0.0.1:${port}/bench/`;
    recyclePages(work, sizeMiB);
    const push = await timed(["rsync", "-a", "--whole-file", source, url]);
    const pushedPeak = daemonPeak(daemon.pid);
    const back = join(work, "rsync-back");
    recyclePages(work, sizeMiB);
    const pull = await timed([
      "rsync",
      "-a",
      "--whole-file",
      `${url}big.bin`,
      back,
    ]);
    const pulledPeak = daemonPeak(daemon.pid);
    await Deno.remove(back);
    console.log(`rsync daemon port ${port}, ${sizeMiB} MiB`);
    return [
      {
        name: "rsync push",
        ms: push.ms,
        peakClientMiB: push.peakMiB,
        peakDaemonMiB: pushedPeak,
      },
      {
        name: "rsync pull",
        ms: pull.ms,
        peakClientMiB: pull.peakMiB,
        peakDaemonMiB: pulledPeak,
      },
    ];
  } finally {
    daemon.kill("SIGTERM");
    await daemon.status;
  }
}

async function main(): Promise<void> {
  const { sizeMiB, runs } = parse(Deno.args);
  const work = await Deno.makeTempDir({
    dir: scratchRoot(),
    prefix: "blit-bench-",
  });
  try {
    const source = join(work, "big.bin");
    makeFile(source, sizeMiB);
    const want = await sha256(source);
    const rows: Row[] = [];
    for (let run = 0; run < runs; run++) {
      for (const mode of ["tcp", "grpc"]) {
        const moduleDir = join(work, `module-${mode}`);
        Deno.mkdirSync(moduleDir);
        const daemon = await startDaemon(moduleDir, join(work, "state"));
        const env = {
          BLIT_STATE_DIR: join(work, "state"),
          BLIT_DISABLE_PERF_HISTORY: "1",
        };
        const extra = mode === "grpc" ? ["--force-grpc-data"] : [];
        const url = `blit://127.0.0.1:${daemon.port}/default/`;
        try {
          recyclePages(work, sizeMiB);
          const push = await timed(
            [
              deno,
              "run",
              "-A",
              join(repo, "cli.ts"),
              "push",
              "--json",
              ...extra,
              source,
              url,
            ],
            env,
          );
          const summary = JSON.parse(push.stdout);
          if (summary.transport !== mode) {
            throw new Error(`push used ${summary.transport}, expected ${mode}`);
          }
          if (await sha256(join(moduleDir, "big.bin")) !== want) {
            throw new Error(`push over ${mode}: hash mismatch`);
          }
          rows.push({
            name: `blit push ${mode}`,
            ms: push.ms,
            peakClientMiB: push.peakMiB,
            peakDaemonMiB: daemonPeak(daemon.child.pid),
          });
          const back = join(work, `back-${mode}.bin`);
          recyclePages(work, sizeMiB);
          const pull = await timed(
            [
              deno,
              "run",
              "-A",
              join(repo, "cli.ts"),
              "pull",
              "--json",
              ...extra,
              `${url}big.bin`,
              back,
            ],
            env,
          );
          if (await sha256(back) !== want) {
            throw new Error(`pull over ${mode}: hash mismatch`);
          }
          rows.push({
            name: `blit pull ${mode}`,
            ms: pull.ms,
            peakClientMiB: pull.peakMiB,
            peakDaemonMiB: daemonPeak(daemon.child.pid),
          });
          await Deno.remove(back);
        } finally {
          await daemon.stop();
          await Deno.remove(moduleDir, { recursive: true });
        }
      }
      rows.push(...await rsyncRows(work, source, sizeMiB));
      await Deno.remove(join(work, "rsync-module"), { recursive: true }).catch(
        () => {},
      );
    }
    // Medians per row: first-touch page allocation on these VMs makes any
    // single run of any tool (cp included) swing by 2-3x.
    const names = [...new Set(rows.map((r) => r.name))];
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const summary = names.map((name) => {
      const mine = rows.filter((r) => r.name === name);
      return {
        name,
        ms: median(mine.map((r) => r.ms)),
        peakClientMiB: Math.max(...mine.map((r) => r.peakClientMiB)),
        peakDaemonMiB: Math.max(...mine.map((r) => r.peakDaemonMiB)),
      };
    });
    const rsyncPush = summary.find((r) => r.name === "rsync push");
    const rsyncPull = summary.find((r) => r.name === "rsync pull");
    console.log(
      `\n${sizeMiB} MiB over loopback (tmpfs), hash-verified; median of ${runs} interleaved runs, times include process start`,
    );
    console.log(
      "what               ms     MiB/s  speed vs rsync  client peak RSS  daemon peak RSS",
    );
    for (const row of summary) {
      const ref = row.name.includes("push") ? rsyncPush : rsyncPull;
      const ratio = ref ? (ref.ms / row.ms).toFixed(2) + "x" : "-";
      console.log(
        `${row.name.padEnd(16)} ${row.ms.toFixed(0).padStart(6)} ${
          (sizeMiB / (row.ms / 1000)).toFixed(0).padStart(8)
        } ${ratio.padStart(15)} ${
          row.peakClientMiB.toFixed(0).padStart(12)
        } MiB ${row.peakDaemonMiB.toFixed(0).padStart(12)} MiB`,
      );
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

await main();
