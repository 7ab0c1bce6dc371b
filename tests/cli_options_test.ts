// The command line as rsync and rclone users meet it: options, help,
// errors, output streams, listings (process-level, exact output).
import { assertEquals, assertMatch } from "./_assert.ts";
import { join } from "node:path";
import { REPO, runCli, runMain } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { VERSION } from "../lib/version.ts";

const env = { BLIT_DISABLE_PERF_HISTORY: "1" };

function tree(root: string): void {
  Deno.mkdirSync(join(root, "sub"), { recursive: true });
  Deno.writeTextFileSync(join(root, "a.txt"), "alpha");
  Deno.writeTextFileSync(join(root, "b.log"), "log");
  Deno.writeTextFileSync(join(root, "sub", "c.txt"), "charlie");
  Deno.writeTextFileSync(join(root, "sub", "d.o"), "obj");
  Deno.symlinkSync("a.txt", join(root, "link"));
}

function lines(text: string, sign: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(`${sign} `)).sort();
}

Deno.test("usage errors: one line, the command's help named, exit 2", async () => {
  const see = (cmd: string) => `(see 'blit ${cmd} --help')`;
  const cases: [string[], string][] = [
    [
      ["push", "--frob", "a", "blit://h/m"],
      `unknown option '--frob' ${see("push")}`,
    ],
    [["push", "-x", "a", "blit://h/m"], `unknown option '-x' ${see("push")}`],
    [
      ["pull", "-nvx", "blit://h/m", "a"],
      `unknown option '-x' (in '-nvx') ${see("pull")}`,
    ],
    [
      ["push", "--retries", "-1", "a", "blit://h/m"],
      `--retries must be a whole number from 0 to 100, got "-1" ${see("push")}`,
    ],
    [
      ["push", "--streams", "0", "a", "blit://h/m"],
      `--streams must be a whole number from 1 to 16, got "0" ${see("push")}`,
    ],
    [
      ["push", "--streams"],
      `option '--streams' needs a value (N) ${see("push")}`,
    ],
    [
      ["push", "--bwlimit", "x", "a", "blit://h/m"],
      `--bwlimit must be a rate like rsync's: KiB/s (1000), or with a unit (10M, 500K, 800B), got "x" ${
        see("push")
      }`,
    ],
    [
      ["push", "--progress", "--json", "a", "blit://h/m"],
      `--progress and --json don't go together: --json prints only the JSON summary ${
        see("push")
      }`,
    ],
    [
      ["copy", "-v", "--json", "a", "b"],
      `--verbose and --json don't go together: --json prints only the JSON summary ${
        see("copy")
      }`,
    ],
    [
      ["copy", "-qv", "a", "b"],
      `--verbose and --quiet don't go together: pick one ${see("copy")}`,
    ],
    [
      ["list", "--mirror", "blit://h/m"],
      `option '--mirror' does not apply to list ${see("list")}`,
    ],
    [
      ["list", "-n", "blit://h/m"],
      `option '-n' does not apply to list ${see("list")}`,
    ],
    [
      ["push", "onlyone"],
      `push takes LOCAL REMOTE; got 1 argument ${see("push")}`,
    ],
    [["frobnicate"], `unknown command "frobnicate" (see 'blit --help')`],
    [["help", "nosuch"], `unknown command "nosuch" (see 'blit --help')`],
    [
      ["completions", "tcsh"],
      `completions takes bash, zsh or fish, got "tcsh" ${see("completions")}`,
    ],
    [
      ["push", "--exclude", "", "a", "blit://h/m"],
      `--exclude needs a pattern, got "" ${see("push")}`,
    ],
  ];
  // In this process (main(args, io)); the first case as a real process
  // too, to show the exit code and streams are the same there.
  for (const [args, message] of cases) {
    const r = await runMain(args, env);
    assertEquals(
      [r.code, r.stderr, r.stdout],
      [2, `blit: error: ${message}\n`, ""],
      args.join(" "),
    );
  }
  const process = await runCli(cases[0][0], { env });
  assertEquals(
    [process.code, process.stderr, process.stdout],
    [2, `blit: error: ${cases[0][1]}\n`, ""],
  );
  // A file the user named that can't be read is a failure, not usage.
  const missing = await runMain(
    ["copy", "--exclude-from", "/definitely/not/here", "a", "b"],
    env,
  );
  assertEquals(missing.code, 1);
  assertEquals(
    missing.stderr,
    "blit: error: cannot read exclude file /definitely/not/here: no such file or directory\n",
  );
});

Deno.test("help, version and completions", async () => {
  const main = await runCli(["--help"], { env });
  assertEquals(main.code, 0);
  for (
    const command of [
      "push",
      "pull",
      "copy",
      "mirror",
      "list",
      "purge",
      "modules",
      "diagnostics",
      "completions",
    ]
  ) {
    assertMatch(main.stdout, new RegExp(`^  blit ${command} `, "m"));
  }
  const bare = await runCli([], { env });
  assertEquals([bare.code, bare.stdout, bare.stderr], [2, "", main.stdout]);
  for (const command of ["push", "pull", "diagnostics", "purge"]) {
    const flag = await runCli([command, "--help"], { env });
    const word = await runCli(["help", command], { env });
    assertEquals(flag.code, 0);
    assertEquals(flag.stdout, word.stdout);
    assertMatch(flag.stdout, new RegExp(`^Usage: blit ${command} `));
    assertMatch(flag.stdout, /\nExamples:\n {2}blit /);
    assertEquals(flag.stdout === main.stdout, false);
  }
  const push = await runCli(["push", "-h"], { env });
  for (
    const option of [
      "-n, --dry-run",
      "--delete",
      "-v, --verbose",
      "-q, --quiet",
      "--stats",
      "--include GLOB",
      "--exclude-from FILE",
      "--bwlimit RATE",
      "-a, --archive",
      "-P, --partial-progress",
      "--partial",
      "-r, --recursive",
    ]
  ) {
    assertEquals(push.stdout.includes(option), true, option);
  }
  const deno = JSON.parse(Deno.readTextFileSync(join(REPO, "deno.json")));
  assertEquals(deno.version, VERSION);
  for (const args of [["--version"], ["-V"], ["version"]]) {
    const r = await runCli(args, { env });
    assertEquals([r.code, r.stdout, r.stderr], [0, `blit ${VERSION}\n`, ""]);
  }
  const daemon = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "daemon.ts"), "--version"],
  }).output();
  assertEquals(
    new TextDecoder().decode(daemon.stdout),
    `blit-daemon ${VERSION}\n`,
  );
  const daemonHelp = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "daemon.ts"), "--help"],
  }).output();
  const helpText = new TextDecoder().decode(daemonHelp.stdout);
  for (
    const key of [
      "selfCheckInterval",
      "secretFile",
      "allow",
      "tls",
      "limits",
      "zeroCopy",
      "advertiseData",
    ]
  ) {
    assertEquals(helpText.includes(key), true, key);
  }
  // Completion scripts parse in their shells.
  const bash = await runCli(["completions", "bash"], { env });
  assertEquals(bash.code, 0);
  const check = await new Deno.Command("bash", {
    args: ["-n"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = check.stdin.getWriter();
  await writer.write(new TextEncoder().encode(bash.stdout));
  await writer.close();
  const checked = await check.output();
  assertEquals(checked.code, 0, new TextDecoder().decode(checked.stderr));
  assertMatch(bash.stdout, /complete -F _blit blit/);
  const zsh = await runCli(["completions", "zsh"], { env });
  assertMatch(zsh.stdout, /^#compdef blit\n/);
  const fish = await runCli(["completions", "fish"], { env });
  assertMatch(
    fish.stdout,
    /complete -c blit -n "__fish_seen_subcommand_from push" -l bwlimit/,
  );
});

Deno.test("local copy: -n lists what -v then does, counts equal; -q is silent; --stats; -a -r accepted", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-opts-local-" });
  try {
    tree(`${work}/src`);
    Deno.mkdirSync(`${work}/dst`);
    Deno.writeTextFileSync(`${work}/dst/extra`, "x");
    const dry = await runCli(
      ["copy", "-nav", "--delete", `${work}/src/`, `${work}/dst/`],
      { env },
    );
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(dry.stderr, "");
    const plus = ["+ a.txt", "+ b.log", "+ link", "+ sub/c.txt", "+ sub/d.o"];
    assertEquals(lines(dry.stdout, "+"), plus);
    assertEquals(lines(dry.stdout, "-"), ["- extra"]);
    assertMatch(
      dry.stdout,
      /\nmirror \(dry run\): 5 files would be transferred \(18 B\), 0 unchanged, 1 would be deleted, \d+ ms\n$/,
    );
    assertEquals(Deno.readDirSync(`${work}/dst`).toArray().length, 1);
    const dryJson = await runCli(
      ["copy", "-n", "--json", "--delete", `${work}/src/`, `${work}/dst/`],
      { env },
    );
    const real = await runCli(
      [
        "copy",
        "-v",
        "-r",
        "--delete",
        "--stats",
        `${work}/src/`,
        `${work}/dst/`,
      ],
      { env },
    );
    assertEquals(real.code, 0, real.stderr);
    assertEquals(lines(real.stdout, "+"), plus);
    assertEquals(lines(real.stdout, "-"), ["- extra"]);
    assertMatch(
      real.stdout,
      /\nNumber of files transferred: 5\nNumber of files unchanged: 0\nNumber of deleted files: 1\nTotal transferred file size: 18 bytes \(18 B\)\nLiteral data: 18 bytes\nMatched data: 0 bytes\n/,
    );
    const counts = JSON.parse(dryJson.stdout);
    assertEquals(
      [
        counts.files_transferred,
        counts.files_deleted,
        counts.bytes_transferred,
      ],
      [5, 1, 18],
    );
    // Nothing left to do: -q prints nothing at all.
    // A bandwidth limit is for the network: a local copy says so.
    const limited = await runCli(
      ["copy", "--bwlimit", "10M", `${work}/src/`, `${work}/dst/`],
      { env },
    );
    assertEquals(
      [limited.code, limited.stderr],
      [
        0,
        "blit: warning: --bwlimit applies to remote transfers; a local copy is not limited\n",
      ],
    );
    // -P (rsync's --partial --progress) and --partial are accepted too.
    const quiet = await runCli([
      "copy",
      "-qP",
      "--partial",
      `${work}/src/`,
      `${work}/dst/`,
    ], {
      env,
    });
    assertEquals([quiet.code, quiet.stdout, quiet.stderr], [0, "", ""]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("filters: --include and --exclude in order, first match wins; --exclude-from with comments", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-opts-filter-" });
  try {
    tree(`${work}/src`);
    // Only the .txt files (and the directories to reach them).
    const only = await runCli([
      "copy",
      "-v",
      "--include",
      "*.txt",
      "--include",
      "*/",
      "--exclude",
      "*",
      `${work}/src/`,
      `${work}/only/`,
    ], { env });
    assertEquals(only.code, 0, only.stderr);
    assertEquals(lines(only.stdout, "+"), ["+ a.txt", "+ sub/c.txt"]);
    // The other way round, the exclude wins first: nothing.
    const none = await runCli([
      "copy",
      "--json",
      "--exclude",
      "*",
      "--include",
      "*.txt",
      `${work}/src/`,
      `${work}/none/`,
    ], { env });
    assertEquals(JSON.parse(none.stdout).files_transferred, 0);
    Deno.writeTextFileSync(
      `${work}/rules`,
      "# build output\n*.o\n\n+ keep.log\n*.log\n",
    );
    Deno.writeTextFileSync(`${work}/src/keep.log`, "k");
    const from = await runCli([
      "copy",
      "-v",
      "--exclude-from",
      `${work}/rules`,
      `${work}/src/`,
      `${work}/from/`,
    ], { env });
    assertEquals(from.code, 0, from.stderr);
    assertEquals(lines(from.stdout, "+"), [
      "+ a.txt",
      "+ keep.log",
      "+ link",
      "+ sub/c.txt",
    ]);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("remote: push -n lists files, links and deletions exactly as the real -v run; summaries on stdout; purge --json has its op", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-opts-remote-" });
  Deno.mkdirSync(`${work}/module/t`, { recursive: true });
  tree(`${work}/src`);
  Deno.writeTextFileSync(`${work}/module/t/old.txt`, "old");
  Deno.mkdirSync(`${work}/module/t/gone`);
  Deno.writeTextFileSync(`${work}/module/t/gone/x`, "x");
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
  });
  const url = `${daemon.url}/m/t/`;
  try {
    const dry = await runCli(["push", "-n", "--delete", `${work}/src/`, url], {
      env,
    });
    assertEquals(dry.code, 0, dry.stderr);
    assertEquals(dry.stderr, "");
    const plus = ["+ a.txt", "+ b.log", "+ link", "+ sub/c.txt", "+ sub/d.o"];
    assertEquals(lines(dry.stdout, "+"), plus);
    // A deleted directory is listed too, after its contents (rsync's
    // "deleting gone/").
    assertEquals(lines(dry.stdout, "-"), ["- gone/", "- gone/x", "- old.txt"]);
    const dryJson = await runCli([
      "push",
      "-n",
      "--json",
      "--delete",
      `${work}/src/`,
      url,
    ], { env });
    const would = JSON.parse(dryJson.stdout);
    const real = await runCli(["push", "-v", "--delete", `${work}/src/`, url], {
      env,
    });
    assertEquals(real.code, 0, real.stderr);
    assertEquals(real.stderr, "");
    assertEquals(lines(real.stdout, "+"), plus);
    assertEquals(lines(real.stdout, "-"), ["- gone/", "- gone/x", "- old.txt"]);
    assertMatch(
      real.stdout,
      /\npush: 5 files transferred \(18 B\), 0 unchanged, 3 deleted, via tcp, \d+ ms\n$/,
    );
    assertEquals([would.files_transferred, would.files_deleted], [5, 3]);
    // A pull lists what it writes, the same way.
    const pull = await runCli(["pull", "-v", url, `${work}/back/`], { env });
    assertEquals(lines(pull.stdout, "+"), plus);
    const purge = await runCli([
      "purge",
      "--yes",
      "--json",
      `${daemon.url}/m/t/sub`,
    ], { env });
    assertEquals(JSON.parse(purge.stdout), {
      op: "purge",
      files_deleted: 2,
      dirs_deleted: 1,
      dry_run: false,
    });
    const human = await runCli(["purge", "--yes", `${daemon.url}/m/t/a.txt`], {
      env,
    });
    assertEquals(
      [human.stdout, human.stderr],
      ["purge: 1 file and 0 directories deleted\n", ""],
    );
  } finally {
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a port in use is one line from the daemon; a non-blit server is named as such", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = taken.addr.port;
  const work = await Deno.makeTempDir({ prefix: "blit-opts-port-" });
  try {
    Deno.mkdirSync(`${work}/m`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        join(REPO, "daemon.ts"),
        "--root",
        `${work}/m`,
        "--port",
        String(port),
        "--state-dir",
        `${work}/state`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 1);
    assertEquals(new TextDecoder().decode(out.stdout), "");
    assertEquals(
      new TextDecoder().decode(out.stderr),
      `blit-daemon: error: cannot listen on 127.0.0.1:${port}: address already in use (is another blit-daemon running?)\n`,
    );
    // Something that answers HTTP/1 on a port a user points blit at.
    const serving = (async () => {
      for await (const conn of taken) {
        (async () => {
          const buffer = new Uint8Array(1024);
          await conn.read(buffer).catch(() => null);
          await conn.write(
            new TextEncoder().encode(
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            ),
          ).catch(() => 0);
          conn.close();
        })();
      }
    })().catch(() => {});
    for (
      const args of [["list", `blit://127.0.0.1:${port}/m`], [
        "pull",
        `blit://127.0.0.1:${port}/m/a`,
        `${work}/x`,
      ]]
    ) {
      const r = await runCli(args, { env });
      assertEquals(
        [r.code, r.stderr],
        [
          1,
          `blit: error: 127.0.0.1:${port} is not a blit daemon (it does not speak gRPC)\n`,
        ],
        args[0],
      );
    }
    taken.close();
    await serving;
  } finally {
    try {
      taken.close();
    } catch {
      // closed
    }
    await Deno.remove(work, { recursive: true });
  }
});
