// The single-file builds (`deno task bundle`): the bundled CLI pushes to
// and pulls from the bundled daemon (in its sandbox), as a user who
// copies dist/ somewhere would run them.
import { assertEquals, assertMatch } from "./_assert.ts";
import { join } from "node:path";
import { REPO, runCli } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { bundleAll, BUNDLES } from "../tools/bundle.ts";

const decoder = new TextDecoder();

Deno.test("bundled blit.js against bundled blit-daemon.js: version, push, pull, with their Workers beside them", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-bundle-" });
  const dist = join(work, "dist");
  const blit = join(dist, "blit.js");
  const daemonJs = join(dist, "blit-daemon.js");
  await bundleAll(dist);
  assertEquals(
    [...Deno.readDirSync(dist)].map((e) => e.name).sort(),
    BUNDLES.map(([out]) => out).sort(),
  );
  Deno.mkdirSync(join(work, "module"));
  Deno.mkdirSync(join(work, "src"));
  Deno.writeTextFileSync(join(work, "src", "a.txt"), "bundled");
  const env = { BLIT_DISABLE_PERF_HISTORY: "1", NO_COLOR: "1" };
  const run = (args: string[]) => runCli(args, { env, script: blit });
  const version = await run(["--version"]);
  assertMatch(version.stdout, /^blit \d+\.\d+\.\d+\n$/);
  const daemon = await startDaemon({
    modules: { default: { path: join(work, "module") } },
    script: daemonJs,
    env,
  });
  try {
    const url = `${daemon.url}/default`;
    const push = await run(["push", "--json", join(work, "src/"), `${url}/`]);
    assertEquals(push.code, 0, push.stderr);
    assertEquals(JSON.parse(push.stdout).files_transferred, 1);
    assertEquals(
      Deno.readTextFileSync(join(work, "module", "a.txt")),
      "bundled",
    );
    const pull = await run(["pull", `${url}/a.txt`, join(work, "back.txt")]);
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(Deno.readTextFileSync(join(work, "back.txt")), "bundled");
    // Without libxxhash (as told), the CLI hashes with the hash-wasm bundled
    // beside it: the daemon (libxxhash) checks the same xxh3.
    const wasm = await runCli(
      ["push", "--json", join(work, "src", "a.txt"), `${url}/wasm.txt`],
      { env: { ...env, BLIT_NATIVE_HASH: "0" }, script: blit },
    );
    assertEquals(wasm.code, 0, wasm.stderr);
    assertEquals(JSON.parse(wasm.stdout).files_transferred, 1);
    assertEquals(
      Deno.readTextFileSync(join(work, "module", "wasm.txt")),
      "bundled",
    );
    // The bundled daemon runs in its sandbox like the source one, and may
    // read its Workers' bundles there (it found them beside it).
    const sandbox = daemon.stderr().match(
      /blit-daemon: sandbox: --no-prompt --allow-read=(\S+)/,
    );
    assertEquals(sandbox?.[1].split(",").includes(dist), true, daemon.stderr());
  } finally {
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a bundled blit.js copied alone, without libxxhash or Deno's cache, says what to install in one line; with _hash_wasm.js beside it, works", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-bundle-alone-" });
  try {
    const dist = join(work, "dist");
    await bundleAll(dist);
    // The CLI's bundle has no hash-wasm of its own.
    const code = Deno.readTextFileSync(join(dist, "blit.js"));
    assertEquals(code.includes("WASMInterface"), false);
    const alone = join(work, "alone");
    Deno.mkdirSync(alone);
    Deno.copyFileSync(join(dist, "blit.js"), join(alone, "blit.js"));
    Deno.mkdirSync(join(work, "src"));
    Deno.writeTextFileSync(join(work, "src", "a.txt"), "alone");
    // A local copy hashes what it copies (the end-to-end check); nothing
    // can come from Deno's npm cache (a new one, and --cached-only).
    const copyAlone = () =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--cached-only",
          "--allow-all",
          join(alone, "blit.js"),
          "copy",
          "--checksum",
          join(work, "src/"),
          join(work, "dst/"),
        ],
        env: {
          BLIT_NATIVE_HASH: "0",
          BLIT_DISABLE_PERF_HISTORY: "1",
          DENO_DIR: join(work, "deno_dir"),
          NO_COLOR: "1",
        },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const out = await copyAlone();
    const stderr = decoder.decode(out.stderr);
    assertEquals(out.code, 1, stderr);
    assertMatch(
      stderr,
      /^blit: error: no xxh3 hash: libxxhash can't be loaded here and neither can hash-wasm \(file:\/\/\S+\/alone\/_hash_wasm\.js: [^\n]+\); install libxxhash \(e\.g\. apt-get install libxxhash0\) or keep the bundle's files together\n$/,
    );
    // With _hash_wasm.js beside it, the same copy needs nothing else.
    Deno.copyFileSync(
      join(dist, "_hash_wasm.js"),
      join(alone, "_hash_wasm.js"),
    );
    const beside = await copyAlone();
    assertEquals(beside.code, 0, decoder.decode(beside.stderr));
    assertEquals(Deno.readTextFileSync(join(work, "dst", "a.txt")), "alone");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("deno task install bundles blit and blit-daemon and puts them on a PATH; no build-script warning", async () => {
  const root = await Deno.makeTempDir({ prefix: "blit-install-" });
  // The install bundles into the checkout's dist/ (ignored by git): left
  // as found.
  const dist = join(REPO, "dist");
  let hadDist = true;
  try {
    Deno.statSync(dist);
  } catch {
    hadDist = false;
  }
  try {
    const installed = await new Deno.Command(Deno.execPath(), {
      args: ["task", "install"],
      cwd: REPO,
      env: { DENO_INSTALL_ROOT: root, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const log = decoder.decode(installed.stderr) +
      decoder.decode(installed.stdout);
    assertEquals(installed.code, 0, log);
    assertEquals(log.includes("Ignored build scripts"), false, log);
    assertEquals(log.includes("config file will be ignored"), false, log);
    // The shims call `deno` by name: as a user with Deno on the PATH.
    const path = `${join(root, "bin")}:${
      Deno.execPath().replace(/\/[^/]+$/, "")
    }:${Deno.env.get("PATH") ?? ""}`;
    for (
      const [name, want] of [["blit", /^blit \d+\.\d+\.\d+\n$/], [
        "blit-daemon",
        /^blit-daemon \d+\.\d+\.\d+\n$/,
      ]] as const
    ) {
      const out = await new Deno.Command(join(root, "bin", name), {
        args: ["--version"],
        env: { PATH: path },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0, decoder.decode(out.stderr));
      assertMatch(decoder.decode(out.stdout), want);
    }
    // What runs is the bundle (one file to load), not the module graph.
    assertMatch(
      Deno.readTextFileSync(join(root, "bin", "blit")),
      /dist\/blit\.js/,
    );
    assertMatch(
      Deno.readTextFileSync(join(root, "bin", "blit-daemon")),
      /dist\/blit-daemon\.js/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
    if (!hadDist) await Deno.remove(dist, { recursive: true });
  }
});

Deno.test("deno publish --dry-run: the library, the CLI, the daemon, the README and the licence, nothing else", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["publish", "--dry-run", "--allow-dirty"],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const log = decoder.decode(out.stderr) + decoder.decode(out.stdout);
  assertEquals(out.code, 0, log);
  assertMatch(log, /Success Dry run complete/);
  const files = [...log.matchAll(/file:\/\/\S+?\/([^/\s]+(?:\/\S+)?) \(/g)]
    .map((m) => m[0].slice(0, -2).replace(`file://${REPO}/`, ""));
  for (
    const wanted of [
      "LICENSE",
      "README.md",
      "cli.ts",
      "daemon.ts",
      "mod.ts",
      "internals.ts",
      "deno.json",
    ]
  ) {
    assertEquals(files.includes(wanted), true, `${wanted} in ${files}`);
  }
  for (const file of files) {
    assertEquals(
      /^(LICENSE|README\.md|cli\.ts|daemon\.ts|mod\.ts|internals\.ts|deno\.json|lib\/.+\.ts)$/
        .test(file) &&
        !file.endsWith("_test.ts"),
      true,
      `unexpected file in the package: ${file}`,
    );
  }
});

/**
 * Serves the package's files (what `deno publish` sends) over HTTP on
 * loopback, as a registry would; anything else is 404.
 */
function servePackage(): { url: string; port: number; close(): Promise<void> } {
  const published =
    /^\/(cli\.ts|daemon\.ts|mod\.ts|deno\.json|lib\/[\w/.-]+\.ts)$/;
  let port = 0;
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (at) => port = at.port,
  }, async (request) => {
    const path = new URL(request.url).pathname;
    if (!published.test(path) || path.endsWith("_test.ts")) {
      return new Response("not found", { status: 404 });
    }
    try {
      return new Response(await Deno.readFile(join(REPO, path)), {
        headers: { "content-type": "application/typescript" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  port = server.addr.port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => server.shutdown(),
  };
}

/** Deno's cache directory (where remote modules are kept). */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  return JSON.parse(decoder.decode(out.stdout)).denoDir;
}

Deno.test("the package from a URL: CLI and daemon (sandboxed, hashing on its workers) run from http://127.0.0.1", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-remote-pkg-" });
  const pkg = servePackage();
  const cache = join(
    await denoDir(),
    "remote",
    "http",
    `127.0.0.1_PORT${pkg.port}`,
  );
  Deno.mkdirSync(join(work, "module"));
  Deno.mkdirSync(join(work, "src"));
  Deno.writeTextFileSync(join(work, "src", "a.txt"), "from a URL");
  // Big enough to resume, so the daemon hashes on its Workers.
  const big = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
  Deno.writeFileSync(join(work, "src", "big.bin"), big);
  const env = { BLIT_DISABLE_PERF_HISTORY: "1", NO_COLOR: "1" };
  // Outside the checkout: no deno.json or lock file of ours applies.
  const run = (args: string[]) =>
    runCli(args, { env, script: `${pkg.url}/cli.ts`, cwd: work });
  try {
    const version = await run(["--version"]);
    assertEquals(version.code, 0, version.stderr);
    assertMatch(version.stdout, /^blit \d+\.\d+\.\d+\n$/);
    const daemon = await startDaemon({
      modules: { default: { path: join(work, "module") } },
      script: `${pkg.url}/daemon.ts`,
      cwd: work,
      env,
    });
    try {
      assertMatch(
        daemon.stderr(),
        /blit-daemon: sandbox: --no-prompt --allow-read=/,
      );
      const url = `${daemon.url}/default`;
      const push = await run(["push", "--json", join(work, "src/"), `${url}/`]);
      assertEquals(push.code, 0, push.stderr);
      assertEquals(JSON.parse(push.stdout).files_transferred, 2);
      // --checksum: the daemon hashes its copies (on its Workers).
      const again = await run([
        "push",
        "--json",
        "--checksum",
        join(work, "src/"),
        `${url}/`,
      ]);
      assertEquals(again.code, 0, again.stderr);
      assertEquals(JSON.parse(again.stdout).files_transferred, 0);
      // Without libxxhash (as told), the CLI hashes with hash-wasm, its
      // module fetched from beside the others: the same hashes as the
      // daemon's libxxhash, so nothing goes.
      const wasm = await runCli(
        ["push", "--json", "--checksum", join(work, "src/"), `${url}/`],
        {
          env: { ...env, BLIT_NATIVE_HASH: "0" },
          script: `${pkg.url}/cli.ts`,
          cwd: work,
        },
      );
      assertEquals(wasm.code, 0, wasm.stderr);
      assertEquals(JSON.parse(wasm.stdout).files_transferred, 0);
      const pull = await run(["pull", `${url}/`, join(work, "back")]);
      assertEquals(pull.code, 0, pull.stderr);
      assertEquals(
        Deno.readTextFileSync(join(work, "back", "a.txt")),
        "from a URL",
      );
      assertEquals(Deno.readFileSync(join(work, "back", "big.bin")), big);
      assertEquals(
        /Uncaught|error:/.test(daemon.stderr()),
        false,
        daemon.stderr(),
      );
    } finally {
      assertEquals(await daemon.stop(), 0);
    }
  } finally {
    await pkg.close();
    await Deno.remove(work, { recursive: true });
    await Deno.remove(cache, { recursive: true }).catch(() => {});
  }
});
