// The daemon's log: a line per client call, to a file as JSON lines or to
// stderr as key=value text; refusals say why; repeats are summarised;
// a secret never appears. The real daemon and the real CLI on loopback.
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";

const SECRET = "s3cret-that-must-never-be-logged";
const WRONG = "not-the-secret-either";

interface LogLine {
  time: string;
  client: string;
  op: string;
  module: string | null;
  path: string | null;
  files: number | null;
  bytes: number | null;
  duration_ms: number | null;
  outcome: string;
  reason?: string;
  repeated?: number;
  deleted?: number;
}

Deno.test("daemon log (JSON lines to a file): who pushed what, when, and who was refused, never a secret", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-log-" }));
  for (const dir of ["open", "ro", "guarded", "far", "src"]) {
    Deno.mkdirSync(`${work}/${dir}`);
  }
  Deno.writeTextFileSync(`${work}/src/a.txt`, "alpha");
  Deno.writeTextFileSync(`${work}/src/b.txt`, "bravo!");
  const secretFile = `${work}/g.secret`;
  Deno.writeTextFileSync(secretFile, SECRET);
  Deno.chmodSync(secretFile, 0o600);
  const logFile = `${work}/calls.log`;
  const daemon = await startDaemon({
    modules: {
      open: { path: `${work}/open` },
      ro: { path: `${work}/ro`, readOnly: true },
      guarded: { path: `${work}/guarded`, secretFile },
      far: { path: `${work}/far`, allow: ["10.0.0.0/8"] },
    },
    config: { log: logFile, logFormat: "json" },
  });
  const env = { BLIT_STATE_DIR: `${work}/client-state` };
  const url = daemon.url;
  const run = async (args: string[], extra: Record<string, string> = {}) =>
    await runCli(args, { env: { ...env, ...extra } });
  try {
    assertEquals(
      (await run(["push", `${work}/src/`, `${url}/open/tree`])).code,
      0,
    );
    assertEquals((await run(["list", `${url}/open/tree`])).code, 0);
    assertEquals(
      (await run(["pull", `${url}/open/tree/a.txt`, `${work}/a.txt`])).code,
      0,
    );
    assertEquals(
      (await run(["purge", "--yes", `${url}/open/tree/b.txt`])).code,
      0,
    );
    assertEquals((await run(["push", `${work}/src/`, `${url}/ro/x`])).code, 1);
    assertEquals((await run(["list", `${url}/guarded`])).code, 1);
    // Three wrong secrets: one line, then a summary of the other two.
    for (let i = 0; i < 3; i++) {
      assertEquals(
        (await run(["list", `${url}/guarded`], { BLIT_SECRET: WRONG })).code,
        1,
      );
    }
    assertEquals(
      (await run(["list", `${url}/guarded`], { BLIT_SECRET: SECRET })).code,
      0,
    );
    assertEquals((await run(["list", `${url}/far`])).code, 1);
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
  }
  try {
    const text = Deno.readTextFileSync(logFile);
    assertEquals(text.includes(SECRET), false);
    assertEquals(text.includes(WRONG), false);
    assertEquals(daemon.stderr().includes(SECRET), false);
    const all = text.trim().split("\n").map((l) => JSON.parse(l) as LogLine);
    // The performance calls transfers make have lines of their own: a
    // snapshot once the first call is accepted (the next transfers use the
    // one kept), an upload at the end of each; the refused push to "ro"
    // made neither.
    const perf = all.filter((l) => l.op === "perf" || l.op === "upload");
    assertEquals(
      perf.filter((l) => l.outcome === "ok").map((l) => [l.op, l.module]),
      [
        ["perf", "open"],
        ["upload", "open"],
        ["upload", "open"],
      ],
    );
    const lines = all.filter((l) => l.op !== "perf" && l.op !== "upload");
    for (const line of lines) {
      assertMatch(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assertMatch(line.client, /^127\.0\.0\.1(:\d+)?$/);
    }
    assertEquals(
      lines.map((l) => [
        l.op,
        l.module,
        l.path,
        l.files,
        l.bytes,
        l.outcome,
        l.reason ?? null,
        l.repeated ?? null,
      ]),
      [
        ["push", "open", "tree", 2, 11, "ok", null, null],
        ["list", "open", "tree", 2, null, "ok", null, null],
        ["pull", "open", "tree/a.txt", 1, 5, "ok", null, null],
        ["purge", "open", "tree/b.txt", null, null, "ok", null, null],
        ["push", "ro", null, null, null, "refused", "read-only", null],
        ["list", "guarded", null, null, null, "refused", "no secret", null],
        ["list", "guarded", null, null, null, "refused", "wrong secret", null],
        ["list", "guarded", "", 0, null, "ok", null, null],
        [
          "list",
          "far",
          null,
          null,
          null,
          "refused",
          "address not allowed",
          null,
        ],
        // At stop, the summary of the repeated wrong secrets.
        ["list", "guarded", null, null, null, "refused", "wrong secret", 2],
      ],
    );
    assertEquals(lines.find((l) => l.op === "purge")?.deleted, 1);
    for (const line of lines.filter((l) => l.repeated === undefined)) {
      assertEquals(typeof line.duration_ms, "number");
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("daemon log (stderr, text): key=value lines, names with spaces quoted, control characters escaped", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-log-" }));
  Deno.mkdirSync(`${work}/m`);
  Deno.mkdirSync(`${work}/src`);
  Deno.writeTextFileSync(`${work}/src/f`, "x");
  const daemon = await startDaemon({ modules: { m: { path: `${work}/m` } } });
  try {
    const push = await runCli([
      "push",
      `${work}/src/f`,
      `${daemon.url}/m/two words\x1b.txt`,
    ], { env: { BLIT_STATE_DIR: `${work}/state` } });
    assertEquals(push.code, 0, push.stderr);
  } finally {
    assertEquals(await daemon.stop(), 0);
  }
  try {
    const line = daemon.stderr().split("\n").find((l) => l.includes("op=push"));
    assertMatch(
      line ?? "",
      /^blit-daemon: \d{4}-\d\d-\d\dT[\d:.]+Z client=127\.0\.0\.1:\d+ op=push module=m path="two words\\x1b\.txt" files=1 bytes=1 ms=\d+ outcome=ok$/,
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
