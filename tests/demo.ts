// `deno task demo`: a remote round trip against a real daemon, end to end.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = dirname(dirname(fileURLToPath(import.meta.url)));
const deno = Deno.execPath();
const decoder = new TextDecoder();

function step(message: string): void {
  console.log(`demo: ${message}`);
}

async function blit(
  args: string[],
  env: Record<string, string>,
): Promise<string> {
  const output = await new Deno.Command(deno, {
    args: ["run", "--allow-all", join(repo, "cli.ts"), ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = decoder.decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `blit ${args.join(" ")} exited ${output.code}: ${
        decoder.decode(output.stderr).trim()
      }`,
    );
  }
  return stdout;
}

function makeSampleTree(root: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const add = (path: string, data: Uint8Array, mode = 0o644) => {
    Deno.mkdirSync(dirname(join(root, path)), { recursive: true });
    Deno.writeFileSync(join(root, path), data, { mode });
    Deno.chmodSync(join(root, path), mode);
    files.set(path, data);
  };
  add("README.txt", new TextEncoder().encode("hello from blit\n"));
  add("bin/run.sh", new TextEncoder().encode("#!/bin/sh\necho hi\n"), 0o755);
  add("data/zeros.bin", new Uint8Array(1 << 20));
  const random = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let i = 0; i < random.length; i += 65536) {
    crypto.getRandomValues(
      random.subarray(i, Math.min(i + 65536, random.length)),
    );
  }
  add("data/random.bin", random);
  add("naïve café/ünïcödé name.txt", new TextEncoder().encode("utf-8 names\n"));
  for (let i = 0; i < 50; i++) {
    add(`small/file-${i}.txt`, new TextEncoder().encode(`small file ${i}\n`));
  }
  Deno.mkdirSync(join(root, "empty"));
  Deno.symlinkSync("README.txt", join(root, "link-to-readme"));
  return files;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main(): Promise<number> {
  const work = await Deno.makeTempDir({ prefix: "blit-demo-" });
  const moduleDir = join(work, "module");
  const source = join(work, "source");
  const back = join(work, "pulled");
  Deno.mkdirSync(moduleDir);
  Deno.mkdirSync(source);
  const env = {
    BLIT_STATE_DIR: join(work, "state"),
    NO_COLOR: "1",
  };
  step(`working in ${work}`);
  const files = makeSampleTree(source);
  step(`made a sample tree: ${files.size} files, 1 empty dir, 1 symlink`);

  const daemon = new Deno.Command(deno, {
    args: [
      "run",
      "--allow-all",
      join(repo, "daemon.ts"),
      "--root",
      moduleDir,
      "--bind",
      "127.0.0.1",
      "--port",
      "0",
    ],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = daemon.stdout.getReader();
    let banner = "";
    const deadline = Date.now() + 30_000;
    while (!banner.includes("\n") && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      banner += decoder.decode(value);
    }
    reader.releaseLock();
    const match = banner.match(/listening on (\S+):(\d+)/);
    if (!match) throw new Error(`daemon did not start: ${banner}`);
    const url = `blit://127.0.0.1:${match[2]}/default`;
    step(`daemon started: ${banner.trim()}`);

    const push = JSON.parse(
      await blit(["push", "--json", source, `${url}/demo`], env),
    );
    step(
      `pushed ${push.files_transferred} files, ${push.bytes_transferred} bytes over ${push.transport} in ${push.duration_ms} ms`,
    );
    const listing = JSON.parse(
      await blit(["list", "--json", `${url}/demo`], env),
    );
    step(
      `listed ${listing.length} entries: ${
        listing.map((e: { name: string }) => e.name).join(", ")
      }`,
    );
    const pull = JSON.parse(
      await blit(["pull", "--json", `${url}/demo`, back], env),
    );
    step(
      `pulled ${pull.files_transferred} files, ${pull.bytes_transferred} bytes over ${pull.transport}`,
    );
    for (const [path, data] of files) {
      const got = Deno.readFileSync(join(back, path));
      if (!sameBytes(got, data)) throw new Error(`content differs: ${path}`);
      const want = Deno.statSync(join(source, path));
      const have = Deno.statSync(join(back, path));
      if ((want.mode! & 0o777) !== (have.mode! & 0o777)) {
        throw new Error(`mode differs: ${path}`);
      }
      if (
        Math.floor(want.mtime!.getTime() / 1000) !==
          Math.floor(have.mtime!.getTime() / 1000)
      ) throw new Error(`mtime differs: ${path}`);
    }
    if (Deno.readLinkSync(join(back, "link-to-readme")) !== "README.txt") {
      throw new Error("symlink target differs");
    }
    if (!Deno.statSync(join(back, "empty")).isDirectory) {
      throw new Error("empty directory missing");
    }
    step(
      `verified every byte, mode and mtime of ${files.size} files, the symlink and the empty dir`,
    );
    const again = JSON.parse(
      await blit(["push", "--json", source, `${url}/demo`], env),
    );
    step(
      `pushed again: ${again.files_transferred} files transferred (unchanged tree)`,
    );
    if (again.files_transferred !== 0) {
      throw new Error("second push sent files");
    }
    const purge = JSON.parse(
      await blit(["purge", "--yes", "--json", `${url}/demo`], env),
    );
    step(`purged ${purge.files_deleted} files`);
    const left = [...Deno.readDirSync(moduleDir)];
    if (left.length !== 0) throw new Error("module not empty after purge");
    step("module is empty again");
  } finally {
    daemon.kill("SIGTERM");
    const status = await daemon.status;
    step(`daemon stopped (exit ${status.code})`);
    await Deno.remove(work, { recursive: true });
  }
  step("all good");
  return 0;
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(
    `demo: FAILED: ${error instanceof Error ? error.message : error}`,
  );
  Deno.exit(1);
}
