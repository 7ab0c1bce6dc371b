// Remote transfers: the real CLI against the real daemon on loopback.
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import {
  makeTree,
  mtimeStamp,
  runCli,
  snapshot,
  tempFiles,
  touchNs,
} from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";

async function withDaemon(
  fn: (
    ctx: {
      url: string;
      work: string;
      module: string;
      env: Record<string, string>;
      daemonState: string;
    },
  ) => Promise<void>,
  options: { config?: Record<string, unknown>; readOnly?: string } = {},
): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "blit-remote-" });
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  const modules: Record<string, { path: string; readOnly?: boolean }> = {
    m: { path: module },
  };
  if (options.readOnly) modules.ro = { path: options.readOnly, readOnly: true };
  const daemon = await startDaemon({ modules, config: options.config });
  const env = { BLIT_STATE_DIR: `${work}/client-state` };
  try {
    await fn({
      url: daemon.url,
      work,
      module,
      env,
      daemonState: daemon.stateDir,
    });
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    await Deno.remove(work, { recursive: true });
  }
}

function json(stdout: string) {
  return JSON.parse(stdout);
}

Deno.test("push and pull a tree over TCP; repeats transfer nothing", async () => {
  await withDaemon(async ({ url, work, module, env, daemonState }) => {
    makeTree(`${work}/src`);
    const push = await runCli([
      "push",
      "--json",
      `${work}/src`,
      `${url}/m/tree`,
    ], { env });
    assertEquals(push.code, 0, push.stderr);
    const summary = json(push.stdout);
    assertEquals(summary.op, "push");
    assertEquals(summary.transport, "tcp");
    assertEquals(summary.fallback, false);
    assertEquals(summary.files_transferred, 6);
    assertEquals(
      await snapshot(`${module}/tree`),
      await snapshot(`${work}/src`),
    );

    const again = await runCli([
      "push",
      "--json",
      `${work}/src`,
      `${url}/m/tree`,
    ], { env });
    assertEquals(json(again.stdout).files_transferred, 0);
    assertEquals(json(again.stdout).files_skipped, 6);

    const pull = await runCli([
      "pull",
      "--json",
      `${url}/m/tree`,
      `${work}/back`,
    ], { env });
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(json(pull.stdout).transport, "tcp");
    assertEquals(json(pull.stdout).files_transferred, 6);
    assertEquals(await snapshot(`${work}/back`), await snapshot(`${work}/src`));
    const pullAgain = await runCli([
      "pull",
      "--json",
      `${url}/m/tree`,
      `${work}/back`,
    ], { env });
    assertEquals(json(pullAgain.stdout).files_transferred, 0);
    assertEquals(tempFiles(module), []);

    // Perf history: one line per transfer.
    const lines = Deno.readTextFileSync(
      `${work}/client-state/perf_history.jsonl`,
    ).trim().split("\n");
    assertEquals(lines.length, 4);
    assertEquals(JSON.parse(lines[0]).op, "push");
    assertEquals(JSON.parse(lines[0]).transport, "tcp");
    // The daemon keeps its own history in its state directory.
    const daemonLines = Deno.readTextFileSync(
      `${daemonState}/perf_history.jsonl`,
    ).trim().split("\n");
    // Its own line per transfer, and each client's uploaded summary.
    assertEquals(
      daemonLines.map((l) => [JSON.parse(l).op, JSON.parse(l).source]),
      [
        ["push", "daemon"],
        ["push", "client"],
        ["push", "daemon"],
        ["push", "client"],
        ["pull", "daemon"],
        ["pull", "client"],
        ["pull", "daemon"],
        ["pull", "client"],
      ],
    );
    assertEquals(JSON.parse(daemonLines[0]).files, 6);
  });
});

Deno.test("single files: placement rules for push and pull", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    Deno.writeTextFileSync(`${work}/a.txt`, "alpha");
    Deno.mkdirSync(`${module}/dir`);
    const cases: [string, string][] = [
      [`${url}/m/`, "a.txt"],
      [`${url}/m/dir`, "dir/a.txt"],
      [`${url}/m/new/`, "new/a.txt"],
      [`${url}/m/renamed.txt`, "renamed.txt"],
    ];
    for (const [target, landed] of cases) {
      const r = await runCli(["push", `${work}/a.txt`, target], { env });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        Deno.readTextFileSync(`${module}/${landed}`),
        "alpha",
        target,
      );
    }
    Deno.mkdirSync(`${work}/out`);
    const r1 = await runCli(["pull", `${url}/m/dir/a.txt`, `${work}/out`], {
      env,
    });
    assertEquals(r1.code, 0, r1.stderr);
    assertEquals(Deno.readTextFileSync(`${work}/out/a.txt`), "alpha");
    const r2 = await runCli([
      "pull",
      `${url}/m/renamed.txt`,
      `${work}/out/b.txt`,
    ], { env });
    assertEquals(r2.code, 0, r2.stderr);
    assertEquals(Deno.readTextFileSync(`${work}/out/b.txt`), "alpha");
  });
});

Deno.test("a 64 MiB file crosses intact both ways", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const big = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 65536) {
      crypto.getRandomValues(big.subarray(i, i + 65536));
    }
    Deno.writeFileSync(`${work}/big.bin`, big);
    const want = new Uint8Array(await crypto.subtle.digest("SHA-256", big));
    const push = await runCli([
      "push",
      "--json",
      `${work}/big.bin`,
      `${url}/m/`,
    ], { env });
    assertEquals(push.code, 0, push.stderr);
    assertEquals(json(push.stdout).bytes_transferred, big.length);
    const pushed = Deno.readFileSync(`${module}/big.bin`);
    assertEquals(
      new Uint8Array(await crypto.subtle.digest("SHA-256", pushed)),
      want,
    );
    const pull = await runCli([
      "pull",
      "--json",
      `${url}/m/big.bin`,
      `${work}/copy.bin`,
    ], { env });
    assertEquals(pull.code, 0, pull.stderr);
    const pulled = Deno.readFileSync(`${work}/copy.bin`);
    assertEquals(
      new Uint8Array(await crypto.subtle.digest("SHA-256", pulled)),
      want,
    );
  });
});

Deno.test("zero-copy (sendfile) and portable paths move the same bytes, modes and mtimes", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    makeTree(src);
    // Bodies on both sides of the 256 KiB sendfile threshold.
    const sizes = [256 * 1024 - 1, 256 * 1024, 3 * 1024 * 1024 + 5];
    sizes.forEach((size, i) => {
      const data = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) {
        crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
      }
      Deno.writeFileSync(`${src}/z${i}.bin`, data, { mode: 0o600 });
      Deno.chmodSync(`${src}/z${i}.bin`, 0o600 + i);
      Deno.utimeSync(`${src}/z${i}.bin`, 1_600_000_000 + i, 1_600_000_000 + i);
    });
    const want = await snapshot(src);
    for (const [name, zeroCopy] of [["zc", "1"], ["portable", "0"]]) {
      const run = { env: { ...env, BLIT_ZERO_COPY: zeroCopy } };
      const push = await runCli(
        ["push", "--json", src, `${url}/m/${name}`],
        run,
      );
      assertEquals(push.code, 0, push.stderr);
      assertEquals(json(push.stdout).transport, "tcp");
      assertEquals(json(push.stdout).files_transferred, 9);
      assertEquals(await snapshot(`${module}/${name}`), want);
      // The daemon's need list (libc lstat here) finds it all up to date.
      const again = await runCli(
        ["push", "--json", src, `${url}/m/${name}`],
        run,
      );
      assertEquals(json(again.stdout).files_transferred, 0);
      assertEquals(json(again.stdout).files_skipped, 9);
      // The daemon sends by sendfile (its config allows it).
      const pull = await runCli(
        ["pull", "--json", `${url}/m/${name}`, `${work}/back-${name}`],
        run,
      );
      assertEquals(pull.code, 0, pull.stderr);
      assertEquals(json(pull.stdout).transport, "tcp");
      assertEquals(await snapshot(`${work}/back-${name}`), want);
    }
    assertEquals(tempFiles(module), []);
  }, { config: { zeroCopy: true } });
});

Deno.test("--streams N: big files in ranges over N connections, small ones spread; both ways, both send paths", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    makeTree(src);
    // 40 MiB + 7 is cut into ranges; 9 MiB + 1 too; many small files spread.
    const big = [40 * 1024 * 1024 + 7, 9 * 1024 * 1024 + 1];
    big.forEach((size, i) => {
      const data = new Uint8Array(size);
      for (let at = 0; at < size; at += 65536) {
        crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
      }
      Deno.writeFileSync(`${src}/big${i}.bin`, data);
      Deno.chmodSync(`${src}/big${i}.bin`, 0o640 + i);
      Deno.utimeSync(`${src}/big${i}.bin`, 1_600_000_000 + i, 1_600_000_000);
    });
    Deno.mkdirSync(`${src}/small`);
    for (let i = 0; i < 300; i++) {
      Deno.writeTextFileSync(`${src}/small/s${i}`, `small ${i}\n`.repeat(i));
      Deno.utimeSync(`${src}/small/s${i}`, 1_500_000_000 + i, 1_500_000_000);
    }
    const want = await snapshot(src);
    const runs: [string, string, string][] = [
      ["4", "1", "s4"],
      ["3", "0", "s3-portable"],
      ["16", "1", "s16"],
    ];
    for (const [streams, zeroCopy, name] of runs) {
      const run = { env: { ...env, BLIT_ZERO_COPY: zeroCopy } };
      const push = await runCli(
        ["push", "--json", "--streams", streams, src, `${url}/m/${name}`],
        run,
      );
      assertEquals(push.code, 0, push.stderr);
      const pushed = json(push.stdout);
      assertEquals(pushed.transport, "tcp");
      assertEquals(pushed.streams, Number(streams));
      assertEquals(pushed.files_transferred, 308);
      assertEquals(await snapshot(`${module}/${name}`), want);
      const pull = await runCli(
        [
          "pull",
          "--json",
          "--streams",
          streams,
          `${url}/m/${name}`,
          `${work}/back-${name}`,
        ],
        run,
      );
      assertEquals(pull.code, 0, pull.stderr);
      assertEquals(json(pull.stdout).streams, Number(streams));
      assertEquals(json(pull.stdout).files_transferred, 308);
      assertEquals(await snapshot(`${work}/back-${name}`), want);
    }
    // Streams are dialled before the manifest: as many as asked.
    Deno.writeTextFileSync(`${src}/small/new`, "new");
    const small = await runCli(
      ["push", "--json", "--streams", "8", src, `${url}/m/s4`],
      { env },
    );
    assertEquals(json(small.stdout).files_transferred, 1);
    assertEquals(json(small.stdout).streams, 8);
    // Forced gRPC: one stream, said so.
    const grpc = await runCli(
      [
        "push",
        "--json",
        "--streams",
        "4",
        "--force-grpc-data",
        src,
        `${url}/m/g`,
      ],
      { env },
    );
    assertEquals(json(grpc.stdout).transport, "grpc");
    assertEquals(json(grpc.stdout).streams, 1);
    assertEquals(tempFiles(module), []);
    assertEquals(tempFiles(work), []);
  }, { config: { zeroCopy: true } });
});

Deno.test("12,000 small files both ways: the plan paces itself on what has landed, a pull writes on two Workers", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    // More files than a plan may name ahead (8,192), and than a pull
    // writes on its own thread (256): both mechanisms engage.
    for (let d = 0; d < 12; d++) {
      Deno.mkdirSync(`${src}/d${d}`, { recursive: true });
      for (let i = 0; i < 1000; i++) {
        const path = `${src}/d${d}/f${i}`;
        Deno.writeTextFileSync(path, `${d}/${i}\n`.repeat(i % 9));
        Deno.chmodSync(path, i % 3 === 0 ? 0o600 : 0o644);
        Deno.utimeSync(path, 1_500_000_000 + i, 1_500_000_000 + d * 1000 + i);
      }
    }
    const want = await snapshot(src);
    for (const [streams, name] of [["1", "one"], ["3", "three"]]) {
      const push = await runCli(
        ["push", "--json", "--streams", streams, src, `${url}/m/${name}`],
        { env },
      );
      assertEquals(push.code, 0, push.stderr);
      assertEquals(json(push.stdout).files_transferred, 12_000);
      assertEquals(json(push.stdout).transport, "tcp");
      assertEquals(await snapshot(`${module}/${name}`), want);
      const back = `${work}/back-${name}`;
      // Two writer Workers (on a 2-core loopback run the default is none).
      const pull = await runCli(
        ["pull", "--json", "--streams", streams, `${url}/m/${name}`, back],
        { env: { ...env, BLIT_PULL_WRITERS: "2" } },
      );
      assertEquals(pull.code, 0, pull.stderr);
      assertEquals(json(pull.stdout).files_transferred, 12_000);
      assertEquals(await snapshot(back), want);
      const again = await runCli(
        ["pull", "--json", `${url}/m/${name}`, back],
        { env },
      );
      assertEquals(json(again.stdout).files_transferred, 0);
    }
    assertEquals(tempFiles(module), []);
    assertEquals(tempFiles(work), []);
  });
});

Deno.test("a zeroCopy daemon says what it trades: --allow-ffi on everything, not on libc alone", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-zc-" });
  try {
    for (const zeroCopy of [true, false]) {
      const daemon = await startDaemon({
        modules: { m: { path: work } },
        config: { zeroCopy },
      });
      try {
        const text = daemon.stderr();
        if (zeroCopy) {
          assertMatch(
            text,
            /zero-copy: on \(sendfile and lstat through FFI: --allow-ffi/,
          );
          assertMatch(text, /sandbox: .*--allow-ffi( |\n)/);
        } else {
          assertMatch(text, /zero-copy: off \("zeroCopy": true trades/);
          // FFI on the C library only (openat2 and the *at calls).
          assertMatch(text, /sandbox: .*--allow-ffi=\/\S*libc\.so\.6/);
          assertEquals(/--allow-ffi( |\n)/.test(text), false);
        }
      } finally {
        assertEquals(await daemon.stop(), 0, daemon.stderr());
      }
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("--force-grpc-data moves the bytes over gRPC, without a warning", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    makeTree(`${work}/src`);
    const push = await runCli([
      "push",
      "--json",
      "--force-grpc-data",
      `${work}/src`,
      `${url}/m/t`,
    ], { env });
    assertEquals(push.code, 0, push.stderr);
    assertEquals(json(push.stdout).transport, "grpc");
    assertEquals(json(push.stdout).fallback, false);
    assertEquals(push.stderr, "");
    const pull = await runCli([
      "pull",
      "--json",
      "--force-grpc-data",
      `${url}/m/t`,
      `${work}/back`,
    ], { env });
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(json(pull.stdout).transport, "grpc");
    assertEquals(await snapshot(`${work}/back`), await snapshot(`${work}/src`));
    assertEquals(await snapshot(`${module}/t`), await snapshot(`${work}/src`));
  });
});

Deno.test("an unreachable data plane falls back to gRPC with a warning", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    makeTree(`${work}/src`);
    const push = await runCli(["push", "--json", `${work}/src`, `${url}/m/t`], {
      env,
    });
    assertEquals(push.code, 0, push.stderr);
    assertEquals(json(push.stdout).transport, "grpc");
    assertEquals(json(push.stdout).fallback, true);
    assertEquals(
      push.stderr,
      "blit: warning: data plane 127.0.0.1:1 unreachable (connection refused); sending over gRPC instead\n",
    );
    assertEquals(await snapshot(`${module}/t`), await snapshot(`${work}/src`));
    const pull = await runCli(
      ["pull", "--json", `${url}/m/t`, `${work}/back`],
      { env },
    );
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(json(pull.stdout).fallback, true);
    assertMatch(
      pull.stderr,
      /^blit: warning: data plane 127\.0\.0\.1:1 unreachable \(connection refused\)/,
    );
    assertEquals(await snapshot(`${work}/back`), await snapshot(`${work}/src`));
  }, { config: { advertiseData: "127.0.0.1:1" } });
});

Deno.test("mirror deletes extraneous files on the daemon and locally", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    makeTree(`${work}/src`);
    assertEquals(
      (await runCli(["push", `${work}/src`, `${url}/m/t`], { env })).code,
      0,
    );
    Deno.writeTextFileSync(`${module}/t/extra.txt`, "extra");
    Deno.mkdirSync(`${module}/t/extra dir/sub`, { recursive: true });
    const dry = await runCli([
      "mirror",
      "--json",
      "--dry-run",
      `${work}/src`,
      `${url}/m/t`,
    ], { env });
    // The same count the real run reports: the file and both
    // directories (rsync counts deleted directories too).
    assertEquals(json(dry.stdout).files_deleted, 3);
    assertEquals(Deno.readTextFileSync(`${module}/t/extra.txt`), "extra");
    const push = await runCli(
      ["mirror", "--json", `${work}/src`, `${url}/m/t`],
      { env },
    );
    assertEquals(push.code, 0, push.stderr);
    assertEquals(json(push.stdout).op, "mirror");
    assertEquals(json(push.stdout).files_deleted, 3);
    assertEquals(await snapshot(`${module}/t`), await snapshot(`${work}/src`));

    assertEquals(
      (await runCli(["pull", `${url}/m/t`, `${work}/back`], { env })).code,
      0,
    );
    Deno.writeTextFileSync(`${work}/back/local-only.txt`, "x");
    const pull = await runCli([
      "pull",
      "--mirror",
      "--json",
      `${url}/m/t`,
      `${work}/back`,
    ], { env });
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(json(pull.stdout).files_deleted, 1);
    assertEquals(await snapshot(`${work}/back`), await snapshot(`${work}/src`));
  });
});

Deno.test("list, modules and purge", async () => {
  const work = await Deno.makeTempDir();
  const ro = `${work}/ro`;
  Deno.mkdirSync(ro);
  Deno.writeTextFileSync(`${ro}/keep.txt`, "keep");
  try {
    await withDaemon(async ({ url, work, module, env }) => {
      makeTree(`${work}/src`);
      assertEquals(
        (await runCli(["push", `${work}/src`, `${url}/m/t`], { env })).code,
        0,
      );
      const list = await runCli(["list", "--json", `${url}/m/t`], { env });
      assertEquals(list.code, 0, list.stderr);
      const entries = json(list.stdout);
      assertEquals(entries.map((e: { name: string }) => e.name), [
        "a.txt",
        "bin",
        "dir one",
        "empty dir",
        "empty.txt",
        "link to a",
      ]);
      assertEquals(entries[0], {
        name: "a.txt",
        is_dir: false,
        is_symlink: false,
        size: 6,
        mtime: 1_600_000_005,
      });
      assertEquals(entries[5].is_symlink, true);
      const table = await runCli(["list", `${url}/m/t`], { env });
      assertMatch(table.stdout, /^file +6 B +2020-09-13 12:26:45 +a\.txt$/m);
      assertMatch(table.stdout, /^link .* link to a -> a\.txt$/m);
      const one = await runCli(["list", "--json", `${url}/m/t/a.txt`], { env });
      assertEquals(json(one.stdout).length, 1);

      const modules = await runCli([
        "modules",
        url.replace("blit://", "blit://"),
      ], { env });
      assertEquals(modules.stdout, "m\nro (read-only)\n");

      const noYes = await runCli(["purge", `${url}/m/t`], { env });
      assertEquals(noYes.code, 2);
      assertMatch(noYes.stderr, /is a directory; add --yes/);
      const file = await runCli(["purge", "--json", `${url}/m/t/a.txt`], {
        env,
      });
      assertEquals(file.code, 0, file.stderr);
      assertEquals(json(file.stdout), {
        op: "purge",
        files_deleted: 1,
        dirs_deleted: 0,
        dry_run: false,
      });
      const tree = await runCli(["purge", "--yes", "--json", `${url}/m/t`], {
        env,
      });
      assertEquals(json(tree.stdout), {
        op: "purge",
        files_deleted: 5,
        dirs_deleted: 5,
        dry_run: false,
      });
      assertEquals([...Deno.readDirSync(module)].length, 0);
      const root = await runCli(["purge", `${url}/m`], { env });
      assertEquals(root.code, 2);
      Deno.writeTextFileSync(`${module}/x`, "x");
      const rootYes = await runCli(["purge", "--yes", `${url}/m`], { env });
      assertEquals(rootYes.code, 0, rootYes.stderr);
      assertEquals([...Deno.readDirSync(module)].length, 0);
      assertEquals(Deno.statSync(module).isDirectory, true);

      // Read-only module: nothing changes.
      const push = await runCli(["push", `${work}/src`, `${url}/ro/t`], {
        env,
      });
      assertEquals(push.code, 1);
      assertEquals(push.stderr, 'blit: error: Module "ro" is read-only\n');
      const purge = await runCli(["purge", "--yes", `${url}/ro/keep.txt`], {
        env,
      });
      assertEquals(purge.code, 1);
      assertEquals(Deno.readTextFileSync(`${ro}/keep.txt`), "keep");
      assertEquals([...Deno.readDirSync(ro)].map((e) => e.name), ["keep.txt"]);
    }, { readOnly: ro });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("clear errors: unknown module, missing path, no daemon", async () => {
  await withDaemon(async ({ url, work, env }) => {
    const unknown = await runCli(["list", `${url}/nope`], { env });
    assertEquals(unknown.code, 1);
    assertEquals(
      unknown.stderr,
      'blit: error: Module "nope" not found (available: m)\n',
    );
    const missing = await runCli(["pull", `${url}/m/none`, `${work}/x`], {
      env,
    });
    assertEquals(missing.code, 1);
    assertEquals(
      missing.stderr,
      'blit: error: Path "none" not found in module "m"\n',
    );
    const noSource = await runCli(["push", `${work}/none`, `${url}/m/`], {
      env,
    });
    assertEquals(noSource.code, 1);
    assertEquals(
      noSource.stderr,
      `blit: error: source not found: ${work}/none\n`,
    );
  });
  const down = await runCli(["list", "blit://127.0.0.1:1/m"]);
  assertEquals(down.code, 1);
  assertEquals(
    down.stderr,
    "blit: error: cannot reach daemon at 127.0.0.1:1 (connection refused); is blit-daemon running?\n",
  );
});

Deno.test("a daemon with forceGrpcData never offers TCP, and nobody warns", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    makeTree(`${work}/src`);
    const push = await runCli(["push", "--json", `${work}/src`, `${url}/m/t`], {
      env,
    });
    assertEquals(push.code, 0, push.stderr);
    assertEquals([json(push.stdout).transport, json(push.stdout).fallback], [
      "grpc",
      false,
    ]);
    assertEquals(push.stderr, "");
    const pull = await runCli(
      ["pull", "--json", `${url}/m/t`, `${work}/back`],
      { env },
    );
    assertEquals([json(pull.stdout).transport, json(pull.stdout).fallback], [
      "grpc",
      false,
    ]);
    assertEquals(await snapshot(`${work}/back`), await snapshot(`${work}/src`));
    assertEquals(await snapshot(`${module}/t`), await snapshot(`${work}/src`));
  }, { config: { forceGrpcData: true } });
});

Deno.test("the transferred directory's own mtime crosses too (push and pull, TCP and gRPC, with or without a trailing slash), to the nanosecond; a dry run and a single file leave it alone", async () => {
  await withDaemon(async ({ url, work, module, env }) => {
    const src = `${work}/src`;
    makeTree(src);
    const old = new Date("2020-01-01T01:02:03.123Z");
    // To the nanosecond (Deno's utime takes milliseconds).
    touchNs("2020-01-01 01:02:03.123456789", src);
    const stamp = mtimeStamp;
    const want = stamp(src);
    const cases: [string[], string, string][] = [
      [["push"], src, `${url}/m/a`],
      [["push", "--force-grpc-data"], `${src}/`, `${url}/m/b/`],
      [["pull"], `${url}/m/a`, `${work}/pa`],
      [["pull", "--force-grpc-data"], `${url}/m/a/`, `${work}/pb/`],
    ];
    Deno.mkdirSync(`${module}/b`);
    Deno.mkdirSync(`${work}/pb`);
    for (const [args, from, to] of cases) {
      const run = await runCli([...args, "-q", from, to], { env });
      assertEquals(run.code, 0, run.stderr);
    }
    for (
      const dir of [`${module}/a`, `${module}/b`, `${work}/pa`, `${work}/pb`]
    ) {
      assertEquals(stamp(dir), want, dir);
    }
    // A dry run sets nothing; a single file's directory keeps its own time.
    Deno.mkdirSync(`${module}/c`);
    const before = stamp(`${module}/c`);
    const dry = await runCli(["push", "-q", "-n", src, `${url}/m/c/`], { env });
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(stamp(`${module}/c`), before);
    Deno.writeTextFileSync(`${work}/one`, "one");
    Deno.utimeSync(`${work}`, old, old);
    const one = await runCli(["push", "-q", `${work}/one`, `${url}/m/c/`], {
      env,
    });
    assertEquals(one.code, 0, one.stderr);
    assert(stamp(`${module}/c`) !== want, "a file's parent took its time");
  });
});
