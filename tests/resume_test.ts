// Resume: a big file interrupted mid-way (daemon killed with kill -9,
// client killed) keeps its verified blocks; the rerun sends only the rest.
import { assertEquals, assertMatch } from "./_assert.ts";
import { killChild, runCli, spawnCli, tempFiles, waitFor } from "./_helpers.ts";
import { crashDaemon, daemonPids, startDaemon } from "./_daemon.ts";

const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
const MiB = 1 << 20;
const SIZE = 256 * MiB;
const BLOCK = 4 * MiB;
/** A first run is cut once this much has landed (~70%). */
const CUT_AT = 180 * MiB;

/** A file of distinct random-ish MiBs (fast to make, every block unique). */
function makeFile(path: string, bytes: number): void {
  const file = Deno.openSync(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const chunk = new Uint8Array(MiB);
  try {
    for (let written = 0; written < bytes; written += MiB) {
      crypto.getRandomValues(chunk.subarray(0, 65536));
      new DataView(chunk.buffer).setUint32(70_000, written / MiB);
      let off = 0;
      while (off < MiB) off += file.writeSync(chunk.subarray(off));
    }
  } finally {
    file.close();
  }
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", Deno.readFileSync(path));
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

function sizeOf(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  Deno.test(`resume (${how}): kill -9 the daemon ~70% into a 256 MiB push; the rerun sends only the rest`, async () => {
    const work = await Deno.makeTempDir({ prefix: "blit-resume-push-" });
    const module = `${work}/module`;
    const state = `${work}/state`;
    Deno.mkdirSync(module);
    makeFile(`${work}/big.bin`, SIZE);
    const options = {
      modules: { m: { path: module } },
      config: { stateDir: state },
    };
    let daemon = await startDaemon(options);
    const partial = `${module}/.big.bin.blit-partial.tmp`;
    try {
      // Slowed down, so the cut lands mid-way whatever the machine.
      const client = spawnCli([
        "push",
        ...extra,
        "--retries",
        "0",
        "--bwlimit",
        "64M",
        `${work}/big.bin`,
        `${daemon.url}/m/`,
      ], { env, quiet: true });
      assertEquals(
        await waitFor(() => sizeOf(partial) >= CUT_AT, 60_000),
        true,
        "the push never got ~70% in",
      );
      await crashDaemon(daemon); // kill -9, parent and sandboxed child
      const kept = await killedLeavingPartial(client, partial, module);

      // The restarted daemon's sweep keeps the recent partial copy.
      daemon = await startDaemon(options);
      assertEquals(sizeOf(partial), kept);
      const rerun = await runCli([
        "push",
        ...extra,
        "--json",
        `${work}/big.bin`,
        `${daemon.url}/m/`,
      ], { env });
      assertEquals(rerun.code, 0, rerun.stderr);
      const summary = JSON.parse(rerun.stdout);
      assertEquals(summary.transport, how === "TCP" ? "tcp" : "grpc");
      assertEquals(summary.files_transferred, 1);
      assertEquals(summary.bytes_transferred, SIZE);
      // Every whole block the crash left is kept: only the rest was sent.
      assertEquals(summary.bytes_resumed, Math.floor(kept / BLOCK) * BLOCK);
      assertEquals(
        await sha256(`${module}/big.bin`),
        await sha256(`${work}/big.bin`),
      );
      assertEquals(names(module), ["big.bin"]);
      assertEquals(tempFiles(module), []);
    } finally {
      await daemon.stop();
      await Deno.remove(work, { recursive: true });
    }
  });
}

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  Deno.test(`resume (${how}): kill the client ~70% into a 256 MiB pull; a corrupted block is resent, the rest kept`, async () => {
    const work = await Deno.makeTempDir({ prefix: "blit-resume-pull-" });
    const module = `${work}/module`;
    const out = `${work}/out`;
    Deno.mkdirSync(module);
    Deno.mkdirSync(out);
    makeFile(`${module}/big.bin`, SIZE);
    const daemon = await startDaemon({ modules: { m: { path: module } } });
    const partial = `${out}/.big.bin.blit-partial.tmp`;
    try {
      const client = spawnCli([
        "pull",
        ...extra,
        "--retries",
        "0",
        "--bwlimit",
        "64M",
        `${daemon.url}/m/big.bin`,
        `${out}/`,
      ], { env, quiet: true });
      assertEquals(
        await waitFor(() => sizeOf(partial) >= CUT_AT, 60_000),
        true,
        "the pull never got ~70% in",
      );
      const kept = await killedLeavingPartial(client, partial, out);
      // Damage one block of the partial copy: the rerun must notice.
      const file = Deno.openSync(partial, { write: true });
      file.seekSync(10 * MiB, Deno.SeekMode.Start);
      file.writeSync(new Uint8Array(4096).fill(0xee));
      file.close();

      const rerun = await runCli([
        "pull",
        ...extra,
        "--json",
        `${daemon.url}/m/big.bin`,
        `${out}/`,
      ], { env });
      assertEquals(rerun.code, 0, rerun.stderr);
      const summary = JSON.parse(rerun.stdout);
      assertEquals(summary.transport, how === "TCP" ? "tcp" : "grpc");
      assertEquals(summary.bytes_transferred, SIZE);
      assertEquals(
        summary.bytes_resumed,
        (Math.floor(kept / BLOCK) - 1) * BLOCK,
      );
      assertEquals(
        await sha256(`${out}/big.bin`),
        await sha256(`${module}/big.bin`),
      );
      assertEquals(names(out), ["big.bin"]);
    } finally {
      await daemon.stop();
      await Deno.remove(work, { recursive: true });
    }
  });
}

/** Whether any of `pids` has `path` open (Linux /proc). */
function openIn(pids: number[], path: string): boolean {
  for (const pid of pids) {
    try {
      for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
        try {
          if (Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`) === path) {
            return true;
          }
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone
    }
  }
  return false;
}

/**
 * Kills `client` (kill -9) unless it already exited, and checks that `dir` holds only the partial
 * copy, cut between CUT_AT and the whole size: its size.
 */
async function killedLeavingPartial(
  client: Deno.ChildProcess,
  partial: string,
  dir: string,
): Promise<number> {
  await killChild(client); // it may have left: its daemon was killed first
  const kept = sizeOf(partial);
  assertEquals(kept >= CUT_AT && kept < SIZE, true, `partial copy: ${kept}`);
  assertEquals(names(dir), [".big.bin.blit-partial.tmp"]);
  return kept;
}

/**
 * A push of `work`/big.bin at 16 MiB/s, once its partial copy (`partial`)
 * holds 8 MiB: the client, to be killed.
 */
async function slowPushUnderway(
  work: string,
  url: string,
  partial: string,
): Promise<Deno.ChildProcess> {
  const client = spawnCli([
    "push",
    "--retries",
    "0",
    "--bwlimit",
    "16M",
    `${work}/big.bin`,
    `${url}/m/`,
  ], { env, quiet: true });
  assertEquals(await waitFor(() => sizeOf(partial) >= 8 * MiB, 60_000), true);
  return client;
}

Deno.test("resume: the daemon's start-up sweep removes partial copies older than a day", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-resume-old-" });
  const module = `${work}/module`;
  const state = `${work}/state`;
  Deno.mkdirSync(module);
  makeFile(`${work}/big.bin`, 64 * MiB);
  const options = {
    modules: { m: { path: module } },
    config: { stateDir: state },
  };
  let daemon = await startDaemon(options);
  const partial = `${module}/.big.bin.blit-partial.tmp`;
  try {
    const client = await slowPushUnderway(work, daemon.url, partial);
    await crashDaemon(daemon); // kill -9, parent and sandboxed child
    await killChild(client);
    const dayAgo = Date.now() / 1000 - 25 * 3600;
    Deno.utimeSync(partial, dayAgo, dayAgo);
    daemon = await startDaemon(options);
    assertEquals(names(module), []);
    assertMatch(
      daemon.stderr(),
      /removed 1 temporary files left by an earlier run/,
    );
  } finally {
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("resume: a running daemon removes partial copies older than a day when idle", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-resume-idle-" });
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  makeFile(`${work}/big.bin`, 64 * MiB);
  const daemon = await startDaemon({
    modules: { m: { path: module } },
    config: { selfCheckInterval: 2 },
  });
  const partial = `${module}/.big.bin.blit-partial.tmp`;
  try {
    const client = await slowPushUnderway(work, daemon.url, partial);
    await killChild(client);
    // The failed session closes the copy and keeps it (fresh) for a rerun;
    // only then is it aged, so the idle sweep is what removes it.
    assertEquals(
      await waitFor(() => !openIn(daemonPids(daemon), partial), 15_000),
      true,
    );
    await new Promise((r) => setTimeout(r, 1000));
    assertEquals(sizeOf(partial) > 0, true);
    const dayAgo = Date.now() / 1000 - 25 * 3600;
    Deno.utimeSync(partial, dayAgo, dayAgo);
    assertEquals(await waitFor(() => names(module).length === 0, 15_000), true);
    assertEquals(
      await waitFor(
        () => /removed 1 stale temporary files/.test(daemon.stderr()),
        5_000,
      ),
      true,
      daemon.stderr(),
    );
  } finally {
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});
