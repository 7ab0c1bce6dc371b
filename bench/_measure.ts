// What the benchmarks share: process trees' CPU and peak RSS, the blit
// daemon started as users start it, deterministic trees, a tmpfs.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLIENT_V8_FLAGS, V8_FLAGS } from "../lib/v8_flags.ts";
import { bundleAll } from "../tools/bundle.ts";
import { makeCerts } from "../tests/_certs.ts";

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The CA a "tls" variant daemon's certificate comes from. */
export function tlsCa(state: string): string {
  return join(state, "certs", "ca.pem");
}

export const repo = dirname(dirname(fileURLToPath(import.meta.url)));
export const deno = Deno.execPath();
export const decoder = new TextDecoder();
export const CLK_TCK = 100;

const cleanups = new Set<() => Promise<void> | void>();
let listening = false;

/**
 * A stop for `child` (SIGTERM, then wait), also run if the benchmark is
 * interrupted first: every process the benchmark starts, it stops.
 */
export function stopper(child: Deno.ChildProcess): () => Promise<void> {
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // gone already
    }
    await child.status;
  };
  const forget = onInterrupt(stop);
  return () => {
    forget();
    return stop();
  };
}

/**
 * Runs `fn` if the benchmark is interrupted (SIGINT, SIGTERM) before the
 * returned function is called: the daemons it started are stopped and its
 * tmpfs unmounted, whoever interrupts it.
 */
export function onInterrupt(fn: () => Promise<void> | void): () => void {
  cleanups.add(fn);
  if (!listening) {
    listening = true;
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, async () => {
        for (const cleanup of [...cleanups].reverse()) {
          try {
            await cleanup();
          } catch {
            // best effort: the next one still runs
          }
        }
        Deno.exit(130);
      });
    }
  }
  return () => void cleanups.delete(fn);
}

export type Variant = "zc" | "portable" | "grpc" | "tls";

/** A deterministic block of bytes (xorshift32), varied per call. */
export function block(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >> 2);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return out;
}

export function writeBig(path: string, bytes: number, seed: number): void {
  const chunk = block(seed, 1 << 20);
  using file = Deno.openSync(path, {
    write: true,
    create: true,
    truncate: true,
  });
  for (let done = 0, i = 0; done < bytes; i++) {
    // Vary each MiB so nothing dedups or compresses.
    new DataView(chunk.buffer).setUint32((i * 4096) % (1 << 20), i);
    const n = Math.min(chunk.length, bytes - done);
    let off = 0;
    while (off < n) off += file.writeSync(chunk.subarray(off, n));
    done += n;
  }
}

export function writeSmall(
  dir: string,
  count: number,
  size: number,
  perDir: number,
) {
  const data = block(count + size, Math.max(4, size));
  for (let i = 0; i < count; i++) {
    const sub = join(
      dir,
      `d${String(Math.floor(i / perDir)).padStart(4, "0")}`,
    );
    if (i % perDir === 0) Deno.mkdirSync(sub, { recursive: true });
    data[0] = i & 0xff;
    Deno.writeFileSync(join(sub, `f${i}`), data.subarray(0, size));
  }
}

export interface Sample {
  ms: number;
  clientCpuS: number;
  daemonCpuS: number;
  clientPeakMiB: number;
  daemonPeakMiB: number;
}

export function procTree(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length && i < 1000; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${found[i]}/task`)) {
        const kids = Deno.readTextFileSync(
          `/proc/${found[i]}/task/${task.name}/children`,
        ).trim();
        for (const k of kids.split(/\s+/).filter(Boolean)) {
          found.push(Number(k));
        }
      }
    } catch {
      // gone
    }
  }
  return found;
}

/** CPU seconds of a process tree, children that were waited for included. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of procTree(pid)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // utime stime cutime cstime are fields 14-17 (1-based, from pid).
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      // gone
    }
  }
  return ticks / CLK_TCK;
}

export function rssMiB(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(
      /VmRSS:\s+(\d+) kB/,
    );
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples the largest process of a tree every 20 ms until stopped. */
export function rssSampler(pid: number): () => number {
  let peak = 0;
  const timer = setInterval(() => {
    for (const p of procTree(pid)) peak = Math.max(peak, rssMiB(p));
  }, 20);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

export async function timed(
  cmd: string[],
  daemonPid: number,
  env: Record<string, string> = {},
): Promise<Sample & { stdout: string }> {
  const cpu0 = cpuSeconds(daemonPid);
  const stopSampling = rssSampler(daemonPid);
  const start = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %U %S %M", ...cmd],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - start;
  const daemonPeakMiB = stopSampling();
  const stderr = decoder.decode(out.stderr).trim();
  if (!out.success) {
    throw new Error(
      `${cmd.join(" ")} failed (${out.code}): ${stderr.slice(-1500)}`,
    );
  }
  const [, user, sys, maxKb] = stderr.split("\n").at(-1)!.split(" ").map(
    Number,
  );
  return {
    ms,
    clientCpuS: user + sys,
    daemonCpuS: cpuSeconds(daemonPid) - cpu0,
    clientPeakMiB: maxKb / 1024,
    daemonPeakMiB,
    stdout: decoder.decode(out.stdout),
  };
}

export interface Daemon {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export async function waitForLine(
  child: Deno.ChildProcess,
  pattern: RegExp,
): Promise<RegExpMatchArray> {
  const reader = child.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const match = text.match(pattern);
    if (match) {
      reader.releaseLock();
      child.stdout.cancel().catch(() => {});
      return match;
    }
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error(`daemon did not start: ${text}`);
}

export async function startBlitDaemon(
  module: string,
  state: string,
  variant: Variant,
  extra: Record<string, unknown> = {},
): Promise<Daemon> {
  const config = join(state, `daemon-${variant}.jsonc`);
  // "tls": the default daemon serving both planes over TLS, with a
  // certificate for 127.0.0.1 from a CA made here (see tlsCa).
  let tls: { cert: string; key: string } | undefined;
  if (variant === "tls") {
    const certs = join(state, "certs");
    if (!existsSync(join(certs, "ca.pem"))) {
      Deno.mkdirSync(certs, { recursive: true });
      await makeCerts(certs, { daemon: "IP:127.0.0.1" });
    }
    tls = { cert: join(certs, "daemon.pem"), key: join(certs, "daemon.key") };
  }
  Deno.writeTextFileSync(
    config,
    JSON.stringify({
      port: 0,
      zeroCopy: variant === "zc",
      stateDir: join(state, `daemon-${variant}`),
      modules: { m: { path: module } },
      ...(tls ? { tls } : {}),
      ...extra,
    }),
  );
  const child = new Deno.Command(deno, {
    args: [
      "run",
      "--allow-all",
      V8_FLAGS,
      join(repo, "daemon.ts"),
      "--config",
      config,
    ],
    env: { BLIT_DISABLE_PERF_HISTORY: "1" },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stop = stopper(child);
  const match = await waitForLine(child, /listening on \S+:(\d+)/);
  return { pid: child.pid, port: Number(match[1]), stop };
}

/** A tmpfs for the run: mounted when root, else BLIT_BENCH_DIR. */
export async function scratch(size = "8g"): Promise<
  { dir: string; how: string; done(): Promise<void> }
> {
  const given = Deno.env.get("BLIT_BENCH_DIR");
  if (given) {
    const dir = Deno.makeTempDirSync({ dir: given, prefix: "blit-bench-" });
    return {
      dir,
      how: `BLIT_BENCH_DIR=${given}`,
      done: () => Deno.remove(dir, { recursive: true }),
    };
  }
  if (Deno.uid() === 0) {
    const dir = Deno.makeTempDirSync({ prefix: "blit-bench-tmpfs-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
    }).output();
    if (mount.success) {
      const unmount = async () => {
        await new Deno.Command("umount", { args: [dir] }).output();
        Deno.removeSync(dir);
      };
      const forget = onInterrupt(unmount);
      return {
        dir,
        how: `tmpfs mounted by the benchmark on ${dir}`,
        done: async () => {
          forget();
          await unmount();
        },
      };
    }
    Deno.removeSync(dir);
  }
  throw new Error(
    "the benchmark needs a tmpfs outside /dev: run it as root (it mounts one) or set BLIT_BENCH_DIR to one (mount -t tmpfs tmpfs DIR)",
  );
}

/**
 * Puts `section` (a markdown section starting with `## title`) into
 * bench/RESULTS.md: in place of the one with that title, else at the end.
 */
export function writeResultsSection(title: string, section: string): void {
  const results = join(repo, "bench", "RESULTS.md");
  let text = "";
  try {
    text = Deno.readTextFileSync(results);
  } catch {
    text = "# Benchmark results\n\n";
  }
  const at = text.indexOf(`## ${title}`);
  const body = section.trimEnd() + "\n";
  if (at >= 0) {
    const next = text.indexOf("\n## ", at + 1);
    text = text.slice(0, at) + body +
      (next >= 0 ? "\n" + text.slice(next + 1) : "");
  } else text = text.trimEnd() + "\n\n" + body;
  Deno.writeTextFileSync(results, text);
  console.log(`wrote ${results}`);
}

/** The bundled CLI {@linkcode blitCommand} runs, once {@linkcode useBundledCli} built it. */
let bundledCli: string | undefined;

/**
 * Bundles the CLI and its Workers into `dir` (`deno task bundle`, what
 * `deno task install` installs); {@linkcode blitCommand} runs that bundle
 * from then on. Returns its path.
 */
export async function useBundledCli(dir: string): Promise<string> {
  await bundleAll(dir);
  bundledCli = join(dir, "blit.js");
  return bundledCli;
}

/**
 * The command line of the CLI as the benchmarks run it (`deno task blit`'s
 * V8 settings; the bundle once {@linkcode useBundledCli} made one, else
 * cli.ts), with `args`.
 */
export function blitCommand(args: string[]): string[] {
  return [
    deno,
    "run",
    "-A",
    CLIENT_V8_FLAGS,
    bundledCli ?? join(repo, "cli.ts"),
    ...args,
  ];
}
