// Self-tuning end to end: the history exchange (and its bounds), the
// daemon's idle self-check, and the predictor as the CLI uses it.
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { grpcClient } from "./_daemon.ts";
import {
  PerfRunSchema,
  PerfSnapshotRequestSchema,
  UploadPerfRequestSchema,
} from "../lib/rpc/service.ts";
import * as grpc from "../lib/deps/grpc.ts";
import { readPerfHistory } from "../lib/telemetry/perf_history.ts";
import { UPLOADS_PER_MINUTE } from "../lib/daemon/perf.ts";

type Unary = (
  request: unknown,
  metadata: grpc.Metadata,
  callback: (error: grpc.ServiceError | null, response?: unknown) => void,
) => void;

function call(
  client: unknown,
  method: "uploadPerf" | "perfSnapshot",
  request: Record<string, unknown>,
  secret?: string,
): Promise<{ code: number; details: string; response?: unknown }> {
  const metadata = new grpc.Metadata();
  if (secret) metadata.set("blit-secret", secret);
  return new Promise((resolve) => {
    const message = method === "uploadPerf"
      ? create(UploadPerfRequestSchema, request)
      : create(PerfSnapshotRequestSchema, request);
    (client as Record<string, Unary>)[method].call(
      client,
      message,
      metadata,
      (error, response) =>
        resolve(
          error
            ? { code: error.code, details: error.details }
            : { code: 0, details: "", response },
        ),
    );
  });
}

function goodRun(extra: Record<string, unknown> = {}) {
  return create(PerfRunSchema, {
    ts: new Date().toISOString(),
    op: "push",
    transport: "tcp",
    streams: 1,
    files: 3n,
    bytes: 3000n,
    durationMs: 40n,
    ...extra,
  });
}

Deno.test("history exchange: a push uploads its line, the snapshot carries it; junk, floods and strangers are refused", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-tuning-" });
  const module = `${work}/module`;
  const open = `${work}/open`;
  Deno.mkdirSync(module);
  Deno.mkdirSync(open);
  Deno.writeTextFileSync(`${work}/secret`, "s3cret\n");
  Deno.chmodSync(`${work}/secret`, 0o600);
  Deno.writeTextFileSync(`${work}/a.txt`, "hello");
  const daemon = await startDaemon({
    modules: {
      m: { path: module, secretFile: `${work}/secret` },
      o: { path: open },
    },
  });
  const client = grpcClient(`127.0.0.1:${daemon.port}`);
  const env = { BLIT_STATE_DIR: `${work}/client-state`, BLIT_SECRET: "s3cret" };
  try {
    const push = await runCli(
      ["push", "--json", `${work}/a.txt`, `${daemon.url}/m/a.txt`],
      { env },
    );
    assertEquals(push.code, 0, push.stderr);
    const local = readPerfHistory(`${work}/client-state`);
    assertEquals(local.length, 1);
    assertEquals(local[0].remote, `127.0.0.1:${daemon.port}`);
    assertEquals(local[0].predictor?.streams, 1);
    // The daemon has its own line and the client's, marked as such.
    const lines = () => readPerfHistory(daemon.stateDir);
    assertEquals(
      lines().map((r) => [r.op, r.source, r.module, r.bytes]),
      [["push", "daemon", "m", 5], ["push", "client", "m", 5]],
    );
    assertEquals(lines()[1].ts, local[0].ts);
    // The snapshot needs the module's secret, and then carries both.
    const stranger = await call(client, "perfSnapshot", { module: "m" });
    assertEquals(stranger.code, grpc.status.UNAUTHENTICATED);
    const snap = await call(client, "perfSnapshot", { module: "m" }, "s3cret");
    assertEquals(snap.code, 0, snap.details);
    const runs = (snap.response as { runs: { source: string }[] }).runs;
    assertEquals(runs.map((r) => r.source), ["daemon", "client"]);
    // Without a module: only open modules' runs (none yet).
    const anyone = await call(client, "perfSnapshot", { module: "" });
    assertEquals((anyone.response as { runs: unknown[] }).runs.length, 0);

    // Junk is refused field by field; nothing is written.
    const before = lines().length;
    for (
      const bad of [
        goodRun({ op: "rm -rf /" }),
        goodRun({ transport: "carrier pigeon" }),
        goodRun({ ts: "yesterday" }),
        goodRun({ ts: "1999-01-01T00:00:00.000Z" }),
        goodRun({ streams: 10_000 }),
        goodRun({ remote: "x".repeat(65) }),
        goodRun({ durationMs: 10n ** 12n }),
      ]
    ) {
      const refused = await call(client, "uploadPerf", {
        module: "o",
        run: bad,
      });
      assertEquals(refused.code, grpc.status.INVALID_ARGUMENT, bad.op);
      assertMatch(refused.details, /not a valid performance record/);
    }
    assertEquals(lines().length, before);
    // A flood: at most UPLOADS_PER_MINUTE a minute are kept.
    let recorded = 0;
    for (let i = 0; i < UPLOADS_PER_MINUTE + 10; i++) {
      const r = await call(client, "uploadPerf", {
        module: "o",
        run: goodRun(),
      });
      assertEquals(r.code, 0);
      if ((r.response as { recorded: boolean }).recorded) recorded++;
    }
    // The CLI's own upload came from this address in the same minute.
    assertEquals(recorded, UPLOADS_PER_MINUTE - 1);
    const kept = lines().filter((r) => r.module === "o");
    assertEquals(kept.length, UPLOADS_PER_MINUTE - 1);
    // Only the schema's fields reach the file.
    const allowed = new Set([
      "ts",
      "op",
      "transport",
      "streams",
      "files",
      "bytes",
      "duration_ms",
      "remote",
      "handshake_ms",
      "manifest_ms",
      "transfer_ms",
      "retries",
      "fallback",
      "direction",
      "source",
      "module",
    ]);
    const raw = Deno.readTextFileSync(`${daemon.stateDir}/perf_history.jsonl`)
      .trim().split("\n").map((l) => JSON.parse(l));
    for (const line of raw.slice(2)) {
      for (const key of Object.keys(line)) {
        assertEquals(allowed.has(key), true, `unexpected key ${key}`);
      }
      assertEquals(line.source, "client");
      assertEquals(line.remote, "127.0.0.1");
    }
  } finally {
    client.close();
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("self-check: after 2 idle seconds the daemon records a handshake and a disk probe; diagnostics perf shows it", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-selfcheck-" });
  Deno.mkdirSync(`${work}/module`);
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
    config: { selfCheckInterval: 2 },
  });
  try {
    const checks = () =>
      readPerfHistory(daemon.stateDir).filter((r) => r.op === "self_check");
    for (let i = 0; i < 100 && checks().length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const [check] = checks();
    assertEquals(check?.op, "self_check", "no self-check within 10 s");
    if (check.skipped) {
      // A loaded CI machine: skipped, and said why.
      assertMatch(check.skipped, /^(high load|low disk space)/);
    } else {
      assertEquals(check.handshake_probe_ms! > 0, true);
      assertEquals(check.disk_write_mib_s! > 0, true);
      assertEquals(check.disk_read_mib_s! > 0, true);
    }
    // No probe file is left behind.
    assertEquals(
      [...Deno.readDirSync(daemon.stateDir)].map((e) => e.name).filter((n) =>
        n.includes("probe")
      ),
      [],
    );
    const diag = await runCli([
      "diagnostics",
      "perf",
      "--json",
      `${daemon.url}/m`,
    ], { env: { BLIT_STATE_DIR: `${work}/client-state` } });
    assertEquals(diag.code, 0, diag.stderr);
    const report = JSON.parse(diag.stdout);
    assertEquals(Object.keys(report), [
      "enabled",
      "runs",
      "predictor",
      "remote",
    ]);
    assertEquals(report.enabled, true);
    assertEquals(report.remote.last_self_check.op, "self_check");
    assertEquals(report.predictor, {
      transport: "tcp",
      streams: 1,
      reason: "no history for this route: the default, TCP with 1 stream",
    });
  } finally {
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("predictor through the CLI: seeded history picks 4 streams; stale history is one warning line; --streams overrides", async () => {
  const work = await Deno.makeTempDir({ prefix: "blit-predict-" });
  Deno.mkdirSync(`${work}/module`);
  Deno.mkdirSync(`${work}/state`);
  Deno.writeFileSync(`${work}/big.bin`, new Uint8Array(20 << 20));
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
  });
  const route = `127.0.0.1:${daemon.port}`;
  const line = (streams: number, ms: number, ts: string) =>
    JSON.stringify({
      ts,
      op: "push",
      transport: "tcp",
      streams,
      files: 1,
      bytes: 1 << 30,
      duration_ms: ms,
      remote: route,
      handshake_ms: 0,
      manifest_ms: 0,
      transfer_ms: ms,
      retries: 0,
      fallback: false,
    });
  const env = { BLIT_STATE_DIR: `${work}/state` };
  try {
    // First, on a daemon no client has told anything yet.
    Deno.writeTextFileSync(
      `${work}/state/perf_history.jsonl`,
      line(4, 1000, "2020-01-01T00:00:00.000Z") + "\n",
    );
    const stale = await runCli(
      ["push", "--json", `${work}/big.bin`, `${daemon.url}/m/y.bin`],
      { env },
    );
    assertEquals(stale.code, 0, stale.stderr);
    assertMatch(
      stale.stderr,
      new RegExp(
        `^blit: warning: the performance history for ${route} is older than 30 days \\(\\d+ days\\); ignoring it\\n$`,
      ),
    );
    assertEquals(JSON.parse(stale.stdout).predictor.streams, 1);
    const recent = Date.now() - 3600_000;
    const at = (i: number) => new Date(recent + i * 1000).toISOString();
    Deno.writeTextFileSync(
      `${work}/state/perf_history.jsonl`,
      // Five of this route's runs (no exploring turn): the daemon's
      // snapshot as the stale run fetched it (before its own upload) adds
      // none.
      [
        line(1, 4000, at(0)),
        line(4, 1000, at(1)),
        line(1, 4100, at(2)),
        line(4, 1050, at(3)),
        line(4, 1020, at(4)),
      ]
        .join("\n") + "\n",
    );
    const chosen = await runCli(
      ["push", "--json", `${work}/big.bin`, `${daemon.url}/m/`],
      { env },
    );
    assertEquals(chosen.code, 0, chosen.stderr);
    const summary = JSON.parse(chosen.stdout);
    assertEquals(summary.predictor.streams, 4);
    assertMatch(summary.predictor.reason, /^4 streams measured fastest/);
    assertEquals(summary.streams, 4);

    const forced = await runCli(
      [
        "push",
        "--json",
        "--streams",
        "2",
        `${work}/big.bin`,
        `${daemon.url}/m/x.bin`,
      ],
      { env },
    );
    assertEquals(JSON.parse(forced.stdout).predictor, {
      transport: "tcp",
      streams: 2,
      reason: "set by --streams",
    });
  } finally {
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});
