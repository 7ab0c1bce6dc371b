// The link benchmark: blit against rsync over a real, slow link. Two
// network namespaces joined by a veth pair, each end rate-limited with
// tc's token bucket (these kernels have no netem: no added delay); an
// rsync daemon and a blit daemon side by side in the server namespace,
// the clients in the other. Each workload starts from the same old state,
// runs whole processes, interleaved (after one uncounted run of each
// tool; a workload whose uncounted round takes under 3 s runs three times
// as often), and takes medians: wall time, bytes
// on the wire (the veth's counters, both ways) and CPU. Every result is
// compared byte for byte with its source.
//
// Needs root (namespaces, tc) and rsync; without them it says so and
// exits 0. The blit client is the bundled CLI (`deno task bundle`, what
// `deno task install` installs); `--cli source` runs cli.ts instead (~20 ms
// more a process: Deno checks each module against its transpile cache).
// `deno run -A bench/link.ts [--rates 100mbit,1gbit] [--runs 3]
// [--only NAME,...] [--size MiB] [--cli bundle|source]`.
import { join } from "node:path";
import { splice as spliced } from "../tests/_bytes.ts";

import {
  blitCommand,
  block,
  cpuSeconds,
  deno,
  onInterrupt,
  repo,
  scratch,
  useBundledCli,
  writeResultsSection,
} from "./_measure.ts";

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const rates = (flag("rates") ?? "100mbit,1gbit").split(",");
const runs = Number(flag("runs") ?? 3);
/**
 * A workload whose uncounted round (each tool once) took under this runs
 * three times as often: its medians move with the machine's noise most
 * (+-10-15 ms on a 0.2 s push), and its runs cost little.
 */
const QUICK_ROUND_MS = 3000;
// Names split at commas, but not at a thousands separator ("10,000 small").
const only = flag("only")?.split(/,(?!\d{3}\b)/);
const bigMiB = Number(flag("size") ?? 128);
const cli = flag("cli") ?? "bundle";
if (cli !== "bundle" && cli !== "source") {
  console.error(`--cli is bundle or source, got ${cli}`);
  Deno.exit(2);
}
const MiB = 1 << 20;

function has(command: string): boolean {
  try {
    return new Deno.Command("sh", {
      args: ["-c", `command -v ${command}`],
      stdout: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

if (Deno.uid() !== 0 || !has("ip") || !has("tc") || !has("rsync")) {
  console.log(
    "link benchmark skipped: it needs root (network namespaces, tc) and rsync",
  );
  Deno.exit(0);
}

const decoder = new TextDecoder();
function sh(command: string, ok = true): string {
  const out = new Deno.Command("sh", { args: ["-c", command] }).outputSync();
  if (ok && !out.success) {
    throw new Error(`${command}: ${decoder.decode(out.stderr).trim()}`);
  }
  return decoder.decode(out.stdout);
}

// --- the link ---------------------------------------------------------
const tag = `bl${Deno.pid}`;
const NS_S = `${tag}s`;
const NS_C = `${tag}c`;
const SERVER = "10.213.0.1";
const CLIENT = "10.213.0.2";

function linkDown(): void {
  sh(
    `ip netns del ${NS_S} 2>/dev/null; ip netns del ${NS_C} 2>/dev/null`,
    false,
  );
}

function linkUp(rate: string): void {
  sh(`ip netns add ${NS_S} && ip netns add ${NS_C}`);
  sh(
    `ip link add ${tag}a netns ${NS_S} type veth peer name ${tag}b netns ${NS_C}`,
  );
  for (
    const [ns, dev, ip] of [[NS_S, `${tag}a`, SERVER], [
      NS_C,
      `${tag}b`,
      CLIENT,
    ]]
  ) {
    sh(
      `ip -n ${ns} addr add ${ip}/24 dev ${dev} && ip -n ${ns} link set ${dev} up && ip -n ${ns} link set lo up`,
    );
    sh(
      `ip netns exec ${ns} tc qdisc add dev ${dev} root tbf rate ${rate} burst 256kb latency 100ms`,
    );
  }
}

function wireBytes(): number {
  const dev = `${tag}b`;
  const read = (what: string) =>
    Number(
      sh(`ip netns exec ${NS_C} cat /sys/class/net/${dev}/statistics/${what}`)
        .trim(),
    );
  return read("tx_bytes") + read("rx_bytes");
}

// --- processes ----------------------------------------------------------
interface Daemons {
  stop(): Promise<void>;
  /** CPU seconds of both daemons' process trees: rsync's, blit's. */
  cpu(): { rsync: number; blit: number };
}

async function startDaemons(work: string): Promise<Daemons> {
  Deno.mkdirSync(join(work, "srv"), { recursive: true });
  const conf = join(work, "rsyncd.conf");
  Deno.writeTextFileSync(
    conf,
    `use chroot = no\nuid = 0\ngid = 0\npid file = ${work}/rsyncd.pid\n[m]\n  path = ${work}/srv\n  read only = no\n  munge symlinks = no\n`,
  );
  const rsyncd = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      NS_S,
      "rsync",
      "--daemon",
      "--no-detach",
      `--config=${conf}`,
      "--port=8730",
      `--address=${SERVER}`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const blitd = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      NS_S,
      deno,
      "run",
      "-A",
      join(repo, "daemon.ts"),
      "--root",
      `${work}/srv`,
      "--bind",
      SERVER,
      "--port",
      "50551",
    ],
    env: { XDG_STATE_HOME: `${work}/dstate` },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // Up when it says it listens.
  const reader = blitd.stdout.getReader();
  let seen = "";
  for (let i = 0; i < 100 && !seen.includes("listening"); i++) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += decoder.decode(value);
  }
  reader.releaseLock();
  blitd.stdout.cancel().catch(() => {});
  if (!seen.includes("listening")) throw new Error("blit-daemon did not start");
  for (let i = 0; i < 50; i++) {
    if (
      sh(
        `ip netns exec ${NS_S} sh -c 'exec 3<>/dev/tcp/${SERVER}/8730' 2>&1 || echo no`,
        false,
      ).trim() === ""
    ) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    for (const child of [rsyncd, blitd]) {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.status;
    }
  };
  const forget = onInterrupt(stop);
  return {
    stop: () => {
      forget();
      return stop();
    },
    cpu: () => ({ rsync: cpuSeconds(rsyncd.pid), blit: cpuSeconds(blitd.pid) }),
  };
}

interface Run {
  ms: number;
  bytes: number;
  /** Client CPU. */
  cpuMs: number;
  /** The daemon's CPU over the run. */
  daemonMs: number;
}

/** Runs `argv` in the client namespace; wall time, wire bytes, CPU. */
function client(argv: string[], env: Record<string, string> = {}): Run {
  const before = wireBytes();
  const t0 = performance.now();
  const envs = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const out = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      NS_C,
      "env",
      ...envs,
      "/usr/bin/time",
      "-f",
      "%U %S",
      ...argv,
    ],
  }).outputSync();
  const ms = performance.now() - t0;
  const err = decoder.decode(out.stderr).trim().split("\n");
  if (!out.success) throw new Error(`${argv.join(" ")}: ${err.join(" ")}`);
  const [user, sys] = err.at(-1)!.split(" ").map(Number);
  return {
    ms,
    bytes: wireBytes() - before,
    cpuMs: (user + sys) * 1000,
    daemonMs: 0,
  };
}

// --- workloads ---------------------------------------------------------
/** How a workload sets up its old state and its new one. */
interface Workload {
  name: string;
  /** Pull (the daemon has the new state) rather than push. */
  pull?: boolean;
  /** A tree (directory), rather than one file named `f`. */
  tree?: boolean;
  /** Writes the old state into `dir` (absent: nothing there). */
  old?: (dir: string) => void;
  /** Writes the new state into `dir`. */
  next: (dir: string) => void;
}

function randomBig(seed: number): Uint8Array {
  return block(seed, bigMiB * MiB);
}

/** Log-like text: compressible about 4-5x. */
function textBig(size: number, seed = 12345): Uint8Array {
  const words = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "error",
    "warning",
    "GET",
    "POST",
    "/api/v1/items",
    "200",
    "404",
    "user=",
    "ms",
  ];
  const parts: string[] = [];
  let n = 0;
  let s = seed;
  while (n < size) {
    // xorshift32: a log's variety (a plain LCG in doubles collapses
    // into a short cycle and compresses a thousandfold).
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const line = `2026-12-03T${
      (s % 24).toString().padStart(2, "0")
    }:${(s % 60)}:${(s >>> 8) % 60} ${words[s % words.length]} ${
      words[(s >>> 4) % words.length]
    } id=${s.toString(16)} t=${s % 997}\n`;
    parts.push(line);
    n += line.length;
  }
  return new TextEncoder().encode(parts.join("")).subarray(0, size);
}

function edited(data: Uint8Array, edits: [number, Uint8Array][]): Uint8Array {
  const out = data.slice();
  for (const [at, bytes] of edits) out.set(bytes, at);
  return out;
}

const pyRoot = [...Deno.readDirSync("/usr/lib")].map((e) => e.name)
  .filter((n) => /^python3\.\d+$/.test(n)).sort().at(-1);

function copyTree(
  from: string,
  to: string,
  change?: (rel: string, i: number) => boolean,
  append = false,
): void {
  sh(
    `mkdir -p '${to}' && cp -a '${from}/.' '${to}/' && find '${to}' -name __pycache__ -prune -exec rm -rf {} + ; find '${to}' -type l -lname '/*' -delete`,
  );
  if (!change) return;
  const files = sh(`cd '${to}' && find . -type f | sort`).trim().split("\n");
  files.forEach((rel, i) => {
    if (!change(rel, i)) return;
    const path = join(to, rel);
    const line = new TextEncoder().encode(`# changed ${i}\n`);
    if (append) {
      Deno.writeFileSync(path, line, { append: true });
      return;
    }
    const data = Deno.readFileSync(path);
    Deno.writeFileSync(
      path,
      spliced(data, Math.floor(data.length / 2), 0, line),
    );
  });
}

/**
 * 10,000 source-like files of 600-1,500 bytes in 100 directories: words
 * from a 3,000-word vocabulary, indented lines (what a tree costs per
 * file, beyond its bytes).
 */
function smallFiles(to: string): void {
  let s = 0x2545f491;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  const letters = "abcdefghijklmnopqrstuvwxyz_";
  const words = Array.from({ length: 3000 }, () => {
    let w = "";
    for (let n = 2 + next() % 9; n > 0; n--) w += letters[next() % 27];
    return w;
  });
  for (let d = 0; d < 100; d++) {
    const dir = join(to, `d${String(d).padStart(3, "0")}`);
    Deno.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < 100; f++) {
      const size = 600 + next() % 901;
      let text = "";
      while (text.length < size) {
        text += "    ".repeat(next() % 4);
        for (let n = 2 + next() % 8; n > 0; n--) {
          text += words[next() % 3000] + (n > 1 ? " " : "\n");
        }
      }
      Deno.writeTextFileSync(
        join(dir, `f${String(f).padStart(3, "0")}.py`),
        text.slice(0, size),
      );
    }
  }
}

const workloads: Workload[] = [
  {
    name: "new big file",
    next: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
  },
  {
    name: "1 MiB overwritten in the middle",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) =>
      Deno.writeFileSync(
        join(d, "f"),
        edited(randomBig(1), [[bigMiB * MiB / 2, block(9, MiB)]]),
      ),
  },
  {
    name: "100 bytes inserted at 1 KiB",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) =>
      Deno.writeFileSync(
        join(d, "f"),
        spliced(randomBig(1), 1024, 0, block(7, 100)),
      ),
  },
  {
    name: "1 MiB appended",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) => {
      const old = randomBig(1);
      Deno.writeFileSync(
        join(d, "f"),
        spliced(old, old.length, 0, block(5, MiB)),
      );
    },
  },
  {
    name: "pull of a file changed on the daemon",
    pull: true,
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) =>
      Deno.writeFileSync(
        join(d, "f"),
        edited(randomBig(1), [[bigMiB * MiB / 3, block(11, MiB)]]),
      ),
  },
  {
    name: "scattered edits (64 x 100 B)",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) => {
      const edits: [number, Uint8Array][] = [];
      for (let i = 0; i < 64; i++) {
        edits.push([
          Math.floor((i + 0.5) * bigMiB * MiB / 64),
          block(100 + i, 100),
        ]);
      }
      Deno.writeFileSync(join(d, "f"), edited(randomBig(1), edits));
    },
  },
  {
    name: "1 MiB deleted from the middle",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) =>
      Deno.writeFileSync(
        join(d, "f"),
        spliced(randomBig(1), bigMiB * MiB / 2, MiB, new Uint8Array(0)),
      ),
  },
  {
    name: "truncated by 1 MiB",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) =>
      Deno.writeFileSync(
        join(d, "f"),
        randomBig(1).subarray(0, (bigMiB - 1) * MiB),
      ),
  },
  {
    name: "two halves swapped",
    old: (d) => Deno.writeFileSync(join(d, "f"), randomBig(1)),
    next: (d) => {
      const old = randomBig(1);
      const half = old.length / 2;
      const out = new Uint8Array(old.length);
      out.set(old.subarray(half));
      out.set(old.subarray(0, half), half);
      Deno.writeFileSync(join(d, "f"), out);
    },
  },
  {
    name: "big compressible file, new",
    next: (d) => Deno.writeFileSync(join(d, "f"), textBig(bigMiB * MiB / 2)),
  },
  {
    name: "big compressible file, 1% changed",
    old: (d) => Deno.writeFileSync(join(d, "f"), textBig(bigMiB * MiB / 2)),
    next: (d) => {
      const old = textBig(bigMiB * MiB / 2);
      const edits: [number, Uint8Array][] = [];
      for (let i = 0; i < 16; i++) {
        edits.push([
          Math.floor((i + 0.5) * old.length / 16),
          textBig(old.length / 1600),
        ]);
      }
      Deno.writeFileSync(join(d, "f"), edited(old, edits));
    },
  },
  ...(pyRoot
    ? [{
      name: `source tree (${pyRoot} stdlib), new`,
      tree: true,
      next: (d: string) => copyTree(`/usr/lib/${pyRoot}`, join(d, "t")),
    }, {
      name: `source tree, 10% of files changed`,
      tree: true,
      old: (d: string) => copyTree(`/usr/lib/${pyRoot}`, join(d, "t")),
      next: (d: string) =>
        copyTree(`/usr/lib/${pyRoot}`, join(d, "t"), (_, i) => i % 10 === 3),
    }, {
      // Many small files changed a little (a line appended to 4 of each
      // 10): what each changed file costs, beyond the tree's walk.
      name: `source tree, a line appended to 40% of files`,
      tree: true,
      old: (d: string) => copyTree(`/usr/lib/${pyRoot}`, join(d, "t")),
      next: (d: string) =>
        copyTree(
          `/usr/lib/${pyRoot}`,
          join(d, "t"),
          (_, i) => i % 10 < 4,
          true,
        ),
    }, {
      name: `source tree, 10% of files changed, pulled`,
      tree: true,
      pull: true,
      old: (d: string) => copyTree(`/usr/lib/${pyRoot}`, join(d, "t")),
      next: (d: string) =>
        copyTree(`/usr/lib/${pyRoot}`, join(d, "t"), (_, i) => i % 10 === 3),
    }]
    : []),
  {
    name: "10,000 small files (~1 KiB), new",
    tree: true,
    next: (d) => smallFiles(join(d, "t")),
  },
  {
    name: "10,000 small files (~1 KiB), new, pulled",
    tree: true,
    pull: true,
    next: (d) => smallFiles(join(d, "t")),
  },
];

// --- one measurement ---------------------------------------------------
type Tool = "rsync -a" | "rsync -az" | "blit";
const TOOLS: Tool[] = ["rsync -a", "rsync -az", "blit"];

function reset(dir: string): void {
  sh(`rm -rf '${dir}' && mkdir -p '${dir}'`);
}

/** Copies `from` to `to` keeping mtimes (the old state, as last synced). */
function place(from: string, to: string): void {
  reset(to);
  sh(`cp -a '${from}/.' '${to}/'`);
}

function measure(work: string, w: Workload, tool: Tool, daemons: Daemons): Run {
  const oldDir = join(work, "old");
  const newDir = join(work, "new");
  // The side that sends holds the new state; the other the old one.
  const local = join(work, "local");
  const remote = join(work, "srv", "dest");
  const [sendDir, recvDir] = w.pull ? [remote, local] : [local, remote];
  place(newDir, sendDir);
  place(oldDir, recvDir);
  // The new state's mtimes differ from the old one's (a changed file).
  sh(`find '${sendDir}' -type f -exec touch -d '2026-01-02 03:04:05' {} +`);
  const state = join(work, "cstate");
  let run: Run;
  const cpu0 = daemons.cpu();
  if (tool === "blit") {
    const url = `blit://${SERVER}:50551/default/dest`;
    const argv = blitCommand([w.pull ? "pull" : "push", "-q"]);
    run = client(
      w.pull ? [...argv, url, local] : [...argv, local, url],
      { XDG_STATE_HOME: state },
    );
  } else {
    const argv = ["rsync", tool === "rsync -az" ? "-az" : "-a"];
    const url = `rsync://${SERVER}:8730/m/dest/`;
    run = client(
      w.pull ? [...argv, url, `${local}/`] : [...argv, `${local}/`, url],
    );
  }
  const cpu1 = daemons.cpu();
  run.daemonMs = 1000 *
    (tool === "blit" ? cpu1.blit - cpu0.blit : cpu1.rsync - cpu0.rsync);
  const diff = sh(
    `diff -r --no-dereference '${sendDir}' '${recvDir}' >/dev/null && echo same || echo differ`,
    false,
  ).trim();
  if (diff !== "same") {
    const why = sh(
      `diff -r --no-dereference '${sendDir}' '${recvDir}' 2>&1 | head -5`,
      false,
    );
    throw new Error(
      `${tool} on "${w.name}": the result differs from the source: ${why}`,
    );
  }
  return run;
}

function sec(ms: number): string {
  return (ms / 1000).toFixed(2);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// --- main --------------------------------------------------------------
const tmp = await scratch("6g");
const work = tmp.dir;
if (cli === "bundle") {
  try {
    await useBundledCli(join(work, "dist"));
  } catch (error) {
    await tmp.done();
    throw error;
  }
}
const cliShown = cli === "bundle"
  ? "dist/blit.js, bundled by the benchmark (deno task bundle; what deno task install installs)"
  : "cli.ts (its modules, as deno task blit runs it)";
linkDown();
const forgetWork = onInterrupt(linkDown);
const lines: string[] = [];
const say = (line: string) => {
  console.log(line);
  lines.push(line);
};
try {
  for (const rate of rates) {
    linkUp(rate);
    const daemons = await startDaemons(work);
    try {
      say(
        `\n### ${rate} (veth + tbf), ${runs} runs (${
          3 * runs
        } where a round of the three tools takes under ${
          QUICK_ROUND_MS / 1000
        } s), medians; ${bigMiB} MiB files; blit client: ${cliShown}\n`,
      );
      say(
        "| workload | rsync -a | rsync -az | blit | blit / best rsync | wire blit / fewer rsync, / rsync -a | CPU client / daemon, blit vs rsync -a |",
      );
      say("|---|---|---|---|---|---|---|");
      for (const w of workloads) {
        if (only && !only.some((o) => w.name.includes(o))) continue;
        reset(join(work, "old"));
        reset(join(work, "new"));
        w.old?.(join(work, "old"));
        w.next(join(work, "new"));
        const got = new Map<Tool, Run[]>(TOOLS.map((t) => [t, []]));
        // One run of each tool first, not counted (as hyperfine's
        // --warmup): the page cache, and the long-running blit daemon's
        // compiled code for this workload's paths, as in steady use.
        let round = 0;
        for (const tool of TOOLS) round += measure(work, w, tool, daemons).ms;
        const count = round < QUICK_ROUND_MS ? 3 * runs : runs;
        for (let r = 0; r < count; r++) {
          for (const tool of TOOLS) {
            got.get(tool)!.push(measure(work, w, tool, daemons));
          }
        }
        const med = (t: Tool, k: keyof Run) =>
          median(got.get(t)!.map((x) => x[k]));
        const cell = (t: Tool) =>
          `${(med(t, "ms") / 1000).toFixed(2)} s, ${
            (med(t, "bytes") / MiB).toFixed(2)
          } MiB`;
        const best = Math.min(med("rsync -a", "ms"), med("rsync -az", "ms"));
        const bestBytes = Math.min(
          med("rsync -a", "bytes"),
          med("rsync -az", "bytes"),
        );
        say(
          `| ${w.name} | ${cell("rsync -a")} | ${cell("rsync -az")} | ${
            cell("blit")
          } | ${(med("blit", "ms") / best).toFixed(2)} | ${
            (med("blit", "bytes") / bestBytes).toFixed(2)
          }, ${
            (med("blit", "bytes") / med("rsync -a", "bytes")).toFixed(2)
          } | ${sec(med("blit", "cpuMs"))} / ${
            sec(med("blit", "daemonMs"))
          } vs ${sec(med("rsync -a", "cpuMs"))} / ${
            sec(med("rsync -a", "daemonMs"))
          } s |`,
        );
      }
    } finally {
      await daemons.stop();
      linkDown();
    }
  }
} finally {
  forgetWork();
  linkDown();
  await tmp.done();
}
if (!only && cli === "bundle" && !args.includes("--no-write")) {
  writeResultsSection(
    "Link: delta and compression against rsync",
    [
      "## Link: delta and compression against rsync",
      "",
      "`deno run -A bench/link.ts` (in `deno task bench` when run as root): two network",
      "namespaces joined by a veth pair, each end limited by `tc ... tbf` (no added",
      "delay: these kernels have no netem); rsync's daemon and blit's side by side",
      "in one namespace, the clients in the other; whole processes, interleaved;",
      "bytes on the wire from the veth's counters (both ways); every result",
      "compared with its source. blit runs with its defaults (delta and",
      "compression automatic); its client is the bundled CLI (`deno task bundle`,",
      "what `deno task install` installs). Each workload runs each tool once",
      "uncounted first; one whose uncounted round takes under 3 s runs three",
      "times as often (its median moves most with the machine's noise). Bytes",
      "are compared with the fewer of the two rsyncs' and with `rsync -a`'s:",
      "blit compresses only where that pays, and where the link is not what",
      "limits a transfer (many small files over 1 Gbit/s) it sends about what",
      "`rsync -a` sends, as `rsync -a` is then faster than `rsync -az`.",
      ...lines,
    ].join("\n"),
  );
}
