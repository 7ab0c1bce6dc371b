// What an rsync user types, with rsync's meanings: --bwlimit in KiB/s and
// slow limits that outlast the daemon's idle timeout, HOST::MODULE/PATH,
// list -r, --info=progress2 and --info=stats. The real CLI and daemon.
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { readPerfHistory } from "../lib/telemetry/perf_history.ts";

async function withDaemon(
  fn: (ctx: {
    url: string;
    port: number;
    work: string;
    module: string;
    env: Record<string, string>;
  }) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "blit-rsync-habits-" });
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  const daemon = await startDaemon({
    modules: { m: { path: module } },
    config,
  });
  const env = { BLIT_STATE_DIR: `${work}/client-state` };
  try {
    await fn({ url: daemon.url, port: daemon.port, work, module, env });
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    await Deno.remove(work, { recursive: true });
  }
}

const bytes = (n: number, seed: number) =>
  new Uint8Array(n).map((_, i) => ((i + seed) * 2654435761) >>> 24);

Deno.test("--bwlimit under the daemon's idle timeout's pace: push and pull, TCP and gRPC, finish slow, never idle; not in the predictor", async () => {
  // A 1 s idle timeout and ~2.5 s transfers: each would be cut as idle if
  // the limited side sent in bursts.
  await withDaemon(async ({ url, work, module, env }) => {
    const data = bytes(160 * 1024, 7);
    Deno.mkdirSync(`${work}/src`);
    Deno.writeFileSync(`${work}/src/f.bin`, data);
    Deno.writeFileSync(`${module}/g.bin`, data);
    // The same limit in three spellings, one transfer each.
    const limited = (op: string, ...rest: string[]) =>
      runCli([op, "--json", "--retries", "0", ...rest], { env });
    const runs = await Promise.all([
      limited("push", "--bwlimit", "64", `${work}/src/f.bin`, `${url}/m/f.bin`),
      limited("pull", "--bwlimit=64K", `${url}/m/g.bin`, `${work}/tcp.bin`),
      limited(
        "pull",
        "--force-grpc-data",
        "--bwlimit",
        "65536B",
        `${url}/m/g.bin`,
        `${work}/grpc.bin`,
      ),
    ]);
    for (const run of runs) {
      assertEquals(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assertEquals(summary.files_transferred, 1);
      // 160 KiB at 64 KiB/s: the limit held (the first 50 ms are a burst).
      assertEquals(summary.duration_ms >= 2000, true, run.stdout);
    }
    assertEquals(JSON.parse(runs[2].stdout).transport, "grpc");
    assertEquals(Deno.readFileSync(`${module}/f.bin`), data);
    assertEquals(Deno.readFileSync(`${work}/tcp.bin`), data);
    assertEquals(Deno.readFileSync(`${work}/grpc.bin`), data);
    // The history says so, and the predictor leaves them out.
    const history = readPerfHistory(`${work}/client-state`);
    assertEquals(history.map((r) => r.bwlimit).sort(), [
      65536,
      65536,
      65536,
    ]);
    const diag = await runCli(["diagnostics", "perf", "--json"], { env });
    assertMatch(
      JSON.parse(diag.stdout).predictor.reason,
      /no history for this route/,
    );
  }, { limits: { idleTimeout: 1 } });
});

Deno.test("HOST::MODULE/PATH is blit://HOST/MODULE/PATH; list -r lists everything beneath, depth first", async () => {
  await withDaemon(async ({ port, work, module, env }) => {
    Deno.mkdirSync(`${work}/src/b/c`, { recursive: true });
    Deno.writeTextFileSync(`${work}/src/a.txt`, "a");
    Deno.writeTextFileSync(`${work}/src/b/c/d.txt`, "dd");
    Deno.writeTextFileSync(`${work}/src/b/e.txt`, "eee");
    Deno.symlinkSync("c/d.txt", `${work}/src/b/link`);
    const rsyncStyle = `127.0.0.1:${port}::m`;
    const push = await runCli([
      "push",
      "--json",
      `${work}/src/`,
      `${rsyncStyle}/tree/`,
    ], { env });
    assertEquals(push.code, 0, push.stderr);
    assertEquals(JSON.parse(push.stdout).files_transferred, 4);
    assertEquals(Deno.readTextFileSync(`${module}/tree/b/c/d.txt`), "dd");

    const listed = await runCli(
      ["list", "-r", "--json", `${rsyncStyle}/tree`],
      {
        env,
      },
    );
    assertEquals(listed.code, 0, listed.stderr);
    assertEquals(
      JSON.parse(listed.stdout).map((
        e: { name: string; is_dir: boolean; is_symlink: boolean; size: number },
      ) => [e.name, e.is_dir, e.is_symlink, e.size]),
      [
        ["a.txt", false, false, 1],
        ["b", true, false, 0],
        ["b/c", true, false, 0],
        ["b/c/d.txt", false, false, 2],
        ["b/e.txt", false, false, 3],
        ["b/link", false, true, 7],
      ],
    );
    const text = await runCli(["list", "--recursive", `${rsyncStyle}/tree/b`], {
      env,
    });
    assertEquals(
      text.stdout.split("\n").filter(Boolean).map((l) =>
        l.replace(/^(\w+)\s+\S+ \S+\s+\S+ \S+\s+/, "$1 ")
      ),
      ["dir c/", "file c/d.txt", "file e.txt", "link link -> c/d.txt"],
    );
    // Without -r: one level, as before.
    const flat = await runCli(["list", "--json", `${rsyncStyle}/tree`], {
      env,
    });
    assertEquals(
      JSON.parse(flat.stdout).map((e: { name: string }) => e.name),
      ["a.txt", "b"],
    );
    // A file lists as itself; a missing path is the usual error.
    const one = await runCli([
      "list",
      "-r",
      "--json",
      `${rsyncStyle}/tree/a.txt`,
    ], {
      env,
    });
    assertEquals(JSON.parse(one.stdout).map((e: { name: string }) => e.name), [
      "a.txt",
    ]);
    const missing = await runCli(["list", "-r", `${rsyncStyle}/nosuch`], {
      env,
    });
    assertEquals(missing.code, 1);
    assertEquals(
      missing.stderr,
      'blit: error: Path "nosuch" not found in module "m"\n',
    );
    // Pull with rsync's syntax too.
    const pull = await runCli([
      "pull",
      "--json",
      `${rsyncStyle}/tree/b/`,
      `${work}/back`,
    ], { env });
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(Deno.readTextFileSync(`${work}/back/e.txt`), "eee");
    assertEquals(Deno.readLinkSync(`${work}/back/link`), "c/d.txt");
  });
});

Deno.test("--info=progress2 is --progress, --info=stats is --stats; unknown words are usage errors", async () => {
  await withDaemon(async ({ port, work, env }) => {
    Deno.writeFileSync(`${work}/f.bin`, bytes(300_000, 3));
    const run = await runCli([
      "push",
      "--info=progress2,stats",
      `${work}/f.bin`,
      `127.0.0.1:${port}::m/f.bin`,
    ], { env });
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stdout, /^Literal data: 300,000 bytes$/m);
    // The bar (on stderr, asked for though stderr is not a terminal:
    // its first frame, scanning or under way); without it, nothing.
    assertMatch(run.stderr, /^\r(scanning \d+ entries|\[[^\]]+\] +\d+%)/);
    const plain = await runCli([
      "push",
      "--info=stats",
      `${work}/f.bin`,
      `127.0.0.1:${port}::m/g.bin`,
    ], { env });
    assertEquals([plain.code, plain.stderr], [0, ""]);
    const bad = await runCli([
      "push",
      "--info=frob",
      `${work}/f.bin`,
      `127.0.0.1:${port}::m/f.bin`,
    ], { env });
    assertEquals(bad.code, 2);
    assertEquals(
      bad.stderr,
      `blit: error: --info: blit knows progress2, progress, progress0, stats, name and none, got "frob" (see 'blit push --help')\n`,
    );
  });
});

/** `%.9Y` of each path (a link's own time): seconds with nanoseconds. */
async function mtimes(paths: string[]): Promise<string[]> {
  const out = await new Deno.Command("stat", {
    args: ["-c", "%.9Y", ...paths],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim().split("\n");
}

async function touch(path: string, when: string, link = false) {
  const out = await new Deno.Command("touch", {
    args: [...(link ? ["-h"] : []), "-d", when, path],
  }).output();
  assertEquals(out.code, 0);
}

Deno.test("mtimes to the nanosecond, and symlinks' own mtimes, like rsync -a: local copy, push and pull over TCP and gRPC", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    Deno.mkdirSync(`${src}/d`, { recursive: true });
    Deno.writeTextFileSync(`${src}/d/small.txt`, "small");
    Deno.writeFileSync(`${src}/big.bin`, bytes(3 << 20, 11));
    Deno.symlinkSync("d/small.txt", `${src}/link`);
    await touch(`${src}/d/small.txt`, "2024-01-02 03:04:05.123456789");
    await touch(`${src}/big.bin`, "2021-06-07 08:09:10.000000001");
    await touch(`${src}/link`, "2023-05-06 07:08:09.987654321", true);
    await touch(`${src}/d`, "2022-02-03 04:05:06.555555555");
    const names = ["d/small.txt", "big.bin", "link", "d"];
    const want = await mtimes(names.map((n) => `${src}/${n}`));
    assertEquals(want, [
      "1704164645.123456789",
      "1623053350.000000001",
      "1683356889.987654321",
      "1643861106.555555555",
    ]);
    const copies: [string[], string][] = [
      [["copy", `${src}/`, `${work}/local/`], `${work}/local`],
      [["push", `${src}/`, `${url}/m/tcp/`], `${module}/tcp`],
      [
        ["push", "--force-grpc-data", `${src}/`, `${url}/m/grpc/`],
        `${module}/grpc`,
      ],
      [["pull", `${url}/m/tcp/`, `${work}/pulled/`], `${work}/pulled`],
      [
        ["pull", "--force-grpc-data", `${url}/m/tcp/`, `${work}/pulled-grpc/`],
        `${work}/pulled-grpc`,
      ],
    ];
    for (const [args, dest] of copies) {
      const run = await runCli(["--json", ...args], { env });
      assertEquals(run.code, 0, run.stderr);
      assertEquals(JSON.parse(run.stdout).files_transferred, 3, args.join(" "));
      assertEquals(
        await mtimes(names.map((n) => `${dest}/${n}`)),
        want,
        args.join(" "),
      );
    }
    // A delta rebuild keeps them too.
    const f = await Deno.open(`${src}/big.bin`, { write: true });
    await f.write(new Uint8Array([1, 2, 3]));
    f.close();
    await touch(`${src}/big.bin`, "2021-06-07 08:09:11.999999999");
    const delta = await runCli([
      "push",
      "--json",
      "--no-whole-file",
      `${src}/`,
      `${url}/m/tcp/`,
    ], { env });
    assertEquals(JSON.parse(delta.stdout).delta, true, delta.stdout);
    assertEquals(await mtimes([`${module}/tcp/big.bin`]), [
      "1623053351.999999999",
    ]);
  });
});

Deno.test("a mode changed at the source crosses without the file, like rsync -a: push and pull (TCP and gRPC), local copy, --checksum; a dry run changes nothing", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    Deno.mkdirSync(`${src}/d`, { recursive: true });
    const files = ["a.txt", "d/b.sh", "d/c.ro"];
    files.forEach((name, i) =>
      Deno.writeTextFileSync(`${src}/${name}`, name + i)
    );
    const chmodAll = (dir: string, modes: number[]) =>
      files.forEach((name, i) => Deno.chmodSync(`${dir}/${name}`, modes[i]));
    const modesOf = (dir: string) =>
      files.map((name) => Deno.lstatSync(`${dir}/${name}`).mode! & 0o7777);
    const statusOf = (dir: string) =>
      files.map((name) => {
        const info = Deno.lstatSync(`${dir}/${name}`);
        return [
          info.ino,
          info.mtime!.getTime(),
          Deno.readTextFileSync(`${dir}/${name}`),
        ];
      });
    chmodAll(src, [0o644, 0o755, 0o444]);
    const run = async (args: string[]) => {
      const out = await runCli(["--json", ...args], { env });
      assertEquals(out.code, 0, out.stderr);
      return JSON.parse(out.stdout);
    };
    const copies: [string[], string, string][] = [
      [["push", `${src}/`, `${url}/m/tcp/`], src, `${module}/tcp`],
      [
        ["push", "--force-grpc-data", `${src}/`, `${url}/m/grpc/`],
        src,
        `${module}/grpc`,
      ],
      [["copy", `${src}/`, `${work}/local/`], src, `${work}/local`],
      [
        ["copy", "--checksum", `${src}/`, `${work}/summed/`],
        src,
        `${work}/summed`,
      ],
    ];
    for (const [args, from, to] of copies) {
      assertEquals((await run(args)).files_transferred, 3, args.join(" "));
      assertEquals(modesOf(to), modesOf(from), args.join(" "));
    }
    // The pulls start from what the daemon holds.
    const pulls: [string[], string, string][] = [
      [
        ["pull", `${url}/m/tcp/`, `${work}/pulled/`],
        `${module}/tcp`,
        `${work}/pulled`,
      ],
      [
        ["pull", "--force-grpc-data", `${url}/m/tcp/`, `${work}/pulled-grpc/`],
        `${module}/tcp`,
        `${work}/pulled-grpc`,
      ],
    ];
    for (const [args] of pulls) {
      assertEquals((await run(args)).files_transferred, 3, args.join(" "));
    }
    // Modes change at the sources only (chmod keeps mtimes and contents).
    const before = copies.map(([, , to]) => statusOf(to));
    chmodAll(src, [0o600, 0o700, 0o640]);
    chmodAll(`${module}/tcp`, [0o640, 0o750, 0o400]);
    const pulledBefore = pulls.map(([, , to]) => statusOf(to));
    // A dry run reports nothing to send and changes no mode.
    for (const [args, , to] of copies.slice(1)) {
      const dry = await run([
        ...args.slice(0, 1),
        "--dry-run",
        ...args.slice(1),
      ]);
      assertEquals(dry.files_transferred, 0, args.join(" "));
      assertEquals(modesOf(to), [0o644, 0o755, 0o444], args.join(" "));
    }
    // Run again: nothing sent, every file skipped, the source's modes.
    const again = async ([args, from, to]: [string[], string, string]) => {
      const summary = await run(args);
      assertEquals(summary.files_transferred, 0, args.join(" "));
      assertEquals(summary.files_skipped, 3, args.join(" "));
      assertEquals(modesOf(to), modesOf(from), args.join(" "));
    };
    for (const one of pulls) await again(one);
    copies.forEach(([args, , to], i) => {
      if (i === 0) return; // the daemon's own copy changed above: pushed below
      assertEquals(statusOf(to), before[i], args.join(" "));
    });
    for (const one of copies) await again(one);
    // The files themselves were not rewritten: same inodes, mtimes, bytes.
    copies.forEach(([args, , to], i) => {
      assertEquals(statusOf(to), before[i], args.join(" "));
    });
    pulls.forEach(([args, , to], i) => {
      assertEquals(statusOf(to), pulledBefore[i], args.join(" "));
    });
  });
});
