// Local copy and mirror through the real CLI process.
import { assertEquals, assertMatch } from "./_assert.ts";
import {
  makeTree,
  mtimeStamp,
  runCli,
  runMain,
  snapshot,
  tempFiles,
  touchNs,
} from "./_helpers.ts";

const env = { BLIT_DISABLE_PERF_HISTORY: "1" };

Deno.test("blit copy: identical tree, then a no-op second run", async () => {
  const work = await Deno.makeTempDir();
  try {
    makeTree(`${work}/src`);
    const first = await runCli(
      ["copy", "--json", `${work}/src`, `${work}/dst`],
      { env },
    );
    assertEquals(first.code, 0, first.stderr);
    const summary = JSON.parse(first.stdout);
    assertEquals(Object.keys(summary), [
      "op",
      "files_transferred",
      "bytes_transferred",
      "bytes_resumed",
      "bytes_literal",
      "bytes_matched",
      "bytes_on_wire",
      "delta",
      "compression",
      "files_deleted",
      "files_skipped",
      "transport",
      "streams",
      "fallback",
      "duration_ms",
    ]);
    assertEquals(summary.op, "copy");
    assertEquals(summary.files_transferred, 6);
    assertEquals(summary.bytes_transferred, 6 + 8 + 1536 * 1024 + 18);
    assertEquals(summary.transport, "local");
    assertEquals(await snapshot(`${work}/dst`), await snapshot(`${work}/src`));
    assertEquals(Deno.statSync(`${work}/dst/bin/run.sh`).mode! & 0o777, 0o755);
    assertEquals(Deno.readLinkSync(`${work}/dst/link to a`), "a.txt");
    assertEquals(tempFiles(`${work}/dst`), []);

    const second = await runCli([
      "copy",
      "--json",
      `${work}/src`,
      `${work}/dst`,
    ], { env });
    assertEquals(second.code, 0);
    assertEquals(JSON.parse(second.stdout).files_transferred, 0);
    assertEquals(JSON.parse(second.stdout).files_skipped, 6);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("blit mirror deletes what the source lost; --dry-run changes nothing", async () => {
  const work = await Deno.makeTempDir();
  try {
    makeTree(`${work}/src`);
    assertEquals(
      (await runCli(["copy", `${work}/src`, `${work}/dst`], { env })).code,
      0,
    );
    Deno.removeSync(`${work}/src/a.txt`);
    Deno.removeSync(`${work}/src/link to a`);
    Deno.writeTextFileSync(`${work}/src/new.txt`, "new");
    const before = await snapshot(`${work}/dst`);
    const dry = await runCli([
      "mirror",
      "--dry-run",
      "--json",
      `${work}/src`,
      `${work}/dst`,
    ], { env });
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(JSON.parse(dry.stdout).files_deleted, 2);
    assertEquals(JSON.parse(dry.stdout).files_transferred, 1);
    assertEquals(await snapshot(`${work}/dst`), before);

    const real = await runCli([
      "mirror",
      "--json",
      `${work}/src`,
      `${work}/dst`,
    ], { env });
    assertEquals(real.code, 0, real.stderr);
    assertEquals(JSON.parse(real.stdout).op, "mirror");
    assertEquals(JSON.parse(real.stdout).files_deleted, 2);
    assertEquals(await snapshot(`${work}/dst`), await snapshot(`${work}/src`));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("blit copy: --exclude and --checksum", async () => {
  const work = await Deno.makeTempDir();
  try {
    makeTree(`${work}/src`);
    const r = await runCli([
      "copy",
      "--json",
      "--exclude",
      "*.bin",
      "--exclude",
      "bin",
      `${work}/src`,
      `${work}/dst`,
    ], {
      env,
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout).files_transferred, 4);
    assertEquals(
      Object.keys(await snapshot(`${work}/dst`)).filter((p) =>
        p.includes("bin")
      ),
      [],
    );
    // Same size and mtime, different content: only --checksum notices.
    Deno.writeTextFileSync(`${work}/dst/a.txt`, "HELLO\n");
    Deno.utimeSync(`${work}/dst/a.txt`, 1_600_000_000, 1_600_000_005);
    const plain = await runCli([
      "copy",
      "--json",
      "--exclude",
      "*.bin",
      `${work}/src`,
      `${work}/dst`,
    ], { env });
    assertEquals(JSON.parse(plain.stdout).files_transferred, 1); // bin/run.sh, newly included
    const summed = await runCli([
      "copy",
      "--json",
      "--checksum",
      `${work}/src`,
      `${work}/dst`,
    ], { env });
    assertEquals(JSON.parse(summed.stdout).files_transferred, 2); // a.txt and x.bin
    assertEquals(Deno.readTextFileSync(`${work}/dst/a.txt`), "hello\n");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("blit copy: a file into a directory, or to a new name", async () => {
  const work = await Deno.makeTempDir();
  try {
    Deno.writeTextFileSync(`${work}/f.txt`, "x");
    Deno.mkdirSync(`${work}/out`);
    assertEquals(
      (await runCli(["copy", `${work}/f.txt`, `${work}/out`], { env })).code,
      0,
    );
    assertEquals(Deno.readTextFileSync(`${work}/out/f.txt`), "x");
    assertEquals(
      (await runCli(["copy", `${work}/f.txt`, `${work}/new/`], { env })).code,
      0,
    );
    assertEquals(Deno.readTextFileSync(`${work}/new/f.txt`), "x");
    assertEquals(
      (await runCli(["copy", `${work}/f.txt`, `${work}/g.txt`], { env })).code,
      0,
    );
    assertEquals(Deno.readTextFileSync(`${work}/g.txt`), "x");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("blit: usage errors exit 2, runtime errors exit 1, one error line", async () => {
  const cases: [string[], number, RegExp][] = [
    [
      ["copy", "/definitely/not/here", "/tmp/x"],
      1,
      /^blit: error: source not found: \/definitely\/not\/here\n$/,
    ],
    [
      ["copy", "onlyone"],
      2,
      /^blit: error: copy takes SRC DST; got 1 argument/,
    ],
    [["frobnicate"], 2, /^blit: error: unknown command "frobnicate"/],
    [
      ["copy", "--bogus", "a", "b"],
      2,
      /^blit: error: unknown option '--bogus' \(see 'blit copy --help'\)\n$/,
    ],
    [
      ["list", "blit://"],
      2,
      /^blit: error: bad address blit:\/\/: missing host/,
    ],
    [["list", "blit://h:0/m"], 2, /port must be 1-65535/],
    [["list", "blit://h:70000/m"], 2, /port must be 1-65535/],
    [["list", "blit://h"], 2, /missing module/],
    [["list", "blit://[::1/m"], 2, /unclosed '\['/],
    [["list", "blit://::1/m"], 2, /put IPv6 hosts in brackets/],
    [["list", "blit://h/m/../x"], 2, /contains '\.\.'/],
    [["push", "blit://h/m", "blit://h/n"], 2, /push takes LOCAL REMOTE/],
    [["copy", "blit://h/m", "blit://h/n"], 2, /not supported/],
    [
      ["copy", "--streams", "abc", "a", "b"],
      2,
      /--streams must be a whole number from 1 to 16, got "abc"/,
    ],
    [
      ["push", "--bwlimit", "fast", "a", "blit://h/m"],
      2,
      /^blit: error: --bwlimit must be a rate like rsync's: KiB\/s \(1000\), or with a unit \(10M, 500K, 800B\), got "fast" \(see 'blit push --help'\)\n$/,
    ],
    [["push", "--bwlimit", "0.1B", "a", "blit://h/m"], 2, /--bwlimit must be/],
    [["push", "--bwlimit", "-5", "a", "blit://h/m"], 2, /--bwlimit must be/],
  ];
  for (const [args, code, pattern] of cases) {
    const r = await runMain(args, env);
    assertEquals(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, pattern);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  const writers = await runMain(["pull", "blit://127.0.0.1:1/m", "x"], {
    ...env,
    BLIT_PULL_WRITERS: "lots",
  });
  assertEquals(writers.code, 2, writers.stderr);
  assertEquals(
    writers.stderr,
    `blit: error: BLIT_PULL_WRITERS must be a whole number 0-8, got "lots" (see 'blit pull --help')\n`,
  );
});

Deno.test("blit copy into a read-only destination fails cleanly", async () => {
  if (Deno.uid() === 0) return; // root ignores directory permissions
  const work = await Deno.makeTempDir();
  try {
    Deno.writeTextFileSync(`${work}/f`, "x");
    Deno.mkdirSync(`${work}/ro`, { mode: 0o555 });
    const r = await runCli(["copy", `${work}/f`, `${work}/ro/`], { env });
    assertEquals(r.code, 1);
    assertMatch(r.stderr, /^blit: error: permission denied/);
  } finally {
    Deno.chmodSync(`${work}/ro`, 0o755);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("copy and mirror: the copied directory's own mtime crosses too, to the nanosecond; a dry run leaves it alone", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const src = `${work}/src`;
    Deno.mkdirSync(`${src}/sub`, { recursive: true });
    Deno.writeTextFileSync(`${src}/sub/a`, "a");
    touchNs("2020-01-01 01:02:03.123456789", `${src}/sub`, src);
    const stamp = mtimeStamp;
    const want = stamp(src);
    Deno.mkdirSync(`${work}/b`);
    Deno.mkdirSync(`${work}/d`);
    const before = stamp(`${work}/d`);
    for (
      const args of [
        ["copy", src, `${work}/a`],
        ["copy", `${src}/`, `${work}/b/`],
        ["mirror", `${src}/`, `${work}/c/`],
        ["copy", "-n", `${src}/`, `${work}/d/`],
      ]
    ) {
      const run = await runCli([args[0], "-q", ...args.slice(1)]);
      assertEquals(run.code, 0, run.stderr);
    }
    for (const dir of ["a", "a/sub", "b", "c"]) {
      assertEquals(stamp(`${work}/${dir}`), want, dir);
    }
    assertEquals(stamp(`${work}/d`), before);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
