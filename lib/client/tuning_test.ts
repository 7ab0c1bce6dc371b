import { assertEquals, assertMatch } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import {
  HINTS_MIN_SAME,
  historyLine,
  LINK_CARRY_MS,
  linkRate,
  linkSeen,
  pullGrown,
  pushHintsPay,
  refreshSnapshot,
  tune,
} from "./tuning.ts";
import { appendPerfRecord } from "../telemetry/perf_history.ts";
import { uploadPerf } from "./perf_rpc.ts";
import { parseRemote, type RemoteAddress } from "./address.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";
import {
  readCachedSnapshot,
  SNAPSHOT_FILE,
  SNAPSHOT_FRESH_MS,
} from "../telemetry/snapshot_cache.ts";
import type { TransferResult } from "./summary.ts";

const result: TransferResult = {
  filesTransferred: 10,
  bytesTransferred: 40960,
  filesDeleted: 0,
  filesSkipped: 0,
  transport: "tcp",
  streams: 2,
  fallback: false,
  handshakeMs: 1.4,
  manifestMs: 2.6,
  transferMs: 3.5,
  retries: 1,
};

Deno.test("tune: flags win over the predictor; with no history the default is one stream over TCP", async () => {
  await withInProcessDaemon(async ({ address }) => {
    const forced = await tune(address(), "push", {
      streams: 4,
      forceGrpcData: false,
    }, undefined);
    assertEquals([forced.choice.transport, forced.choice.streams], ["tcp", 4]);
    const grpc = await tune(address(), "pull", {
      streams: 0,
      forceGrpcData: true,
    }, undefined);
    assertEquals(grpc.choice.transport, "grpc");
    const dir = Deno.makeTempDirSync();
    try {
      const fresh = await tune(address(), "push", {
        streams: 0,
        forceGrpcData: false,
      }, dir);
      assertEquals([
        fresh.choice.transport,
        fresh.choice.streams,
        fresh.warning,
      ], ["tcp", 1, undefined]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});

Deno.test("historyLine: the run as the history keeps it, times rounded, the route and choice when tuned", () => {
  const line = historyLine("push", result, 12.6);
  assertEquals(
    [
      line.op,
      line.files,
      line.bytes,
      line.duration_ms,
      line.handshake_ms,
      line.manifest_ms,
      line.remote,
      line.size_class,
    ],
    ["push", 10, 40960, 13, 1, 3, null, "small"],
  );
});

Deno.test("historyLine: what delta and compression did is kept", () => {
  const line = historyLine("push", {
    ...result,
    bytesLiteral: 4096,
    bytesMatched: 36864,
    bytesOnWire: 5000,
    delta: true,
    compression: false,
  }, 10);
  assertEquals(
    [
      line.bytes_literal,
      line.bytes_matched,
      line.bytes_on_wire,
      line.delta,
      line.compression,
    ],
    [4096, 36864, 5000, true, false],
  );
  // A local copy (no wire) records none of it.
  assertEquals(historyLine("copy", result, 10).delta, undefined);
});

Deno.test("linkRate: the fastest non-delta run of 16 MiB or more on the route", () => {
  const run = (
    bytes: number,
    ms: number,
    extra: Record<string, unknown> = {},
  ) => ({
    ts: "2026-01-01T00:00:00Z",
    op: "push",
    transport: "tcp" as const,
    streams: 1,
    files: 1,
    bytes,
    duration_ms: ms,
    remote: "h:1",
    handshake_ms: 0,
    manifest_ms: 0,
    transfer_ms: ms,
    retries: 0,
    fallback: false,
    ...extra,
  });
  assertEquals(linkRate([], "h:1"), undefined);
  assertEquals(linkRate([run(1 << 20, 1)], "h:1"), undefined);
  assertEquals(linkRate([run(100e6, 1000), run(100e6, 500)], "h:1"), 200e6);
  // A delta's content bytes never crossed; another route is another link.
  assertEquals(
    linkRate([run(100e6, 1000), run(1e9, 100, { delta: true })], "h:1"),
    100e6,
  );
  assertEquals(
    linkRate([run(100e6, 1000, { remote: "g:1" })], "h:1"),
    undefined,
  );
  // Bytes on the wire, when recorded, are what the link carried.
  assertEquals(
    linkRate([run(100e6, 1000, { bytes_on_wire: 50e6 })], "h:1"),
    50e6,
  );
});

/** A history line of a `direction` run with h:1, with `extra`. */
function historyRun(
  direction: "push" | "pull",
  extra: Record<string, unknown>,
): PerfRecord {
  return {
    ts: "2026-01-01T00:00:00Z",
    op: direction,
    transport: "tcp",
    streams: 1,
    files: 100,
    bytes: 1,
    duration_ms: 1,
    remote: "h:1",
    handshake_ms: 0,
    manifest_ms: 0,
    transfer_ms: 1,
    retries: 0,
    fallback: false,
    direction,
    ...extra,
  };
}

Deno.test("pushHintsPay: the newest push on the route decides: hints after one that found many files the same, none after one that found few", () => {
  const run = (extra: Record<string, unknown>) => historyRun("push", extra);
  const many = run({ files_same: HINTS_MIN_SAME });
  assertEquals(pushHintsPay([], "h:1"), false);
  assertEquals(pushHintsPay([many], "h:1"), true);
  assertEquals(
    pushHintsPay([run({ files_same: HINTS_MIN_SAME - 1 })], "h:1"),
    false,
  );
  // Older histories say nothing of it; a later push that found few wins.
  assertEquals(pushHintsPay([run({})], "h:1"), false);
  assertEquals(pushHintsPay([many, run({ files_same: 0 })], "h:1"), false);
  assertEquals(pushHintsPay([run({ files_same: 0 }), many], "h:1"), true);
  // Pulls and other routes pass over.
  assertEquals(
    pushHintsPay([
      many,
      run({ direction: "pull", op: "pull", files_same: 0 }),
      run({ remote: "g:1", files_same: 0 }),
    ], "h:1"),
    true,
  );
  assertEquals(pushHintsPay([many], "g:1"), false);
});

Deno.test("linkSeen: a rate carried by newer runs counts for a day after the run that measured it; the fastest wins", () => {
  const run = (extra: Record<string, unknown>) => ({
    ts: "2026-01-02T00:00:00Z",
    op: "push",
    transport: "tcp" as const,
    streams: 1,
    files: 10,
    bytes: 10_000,
    duration_ms: 50,
    remote: "h:1",
    handshake_ms: 0,
    manifest_ms: 0,
    transfer_ms: 40,
    retries: 0,
    fallback: false,
    ...extra,
  });
  const seen = "2026-01-01T12:00:00Z";
  const now = Date.parse(seen) + 3600_000;
  const carried = run({ link_bytes_per_s: 110e6, link_seen: seen });
  assertEquals(linkSeen([carried], "h:1", now), { rate: 110e6, seen });
  // Too old, from the future by as much, another route, not a number.
  for (
    const [record, at] of [
      [carried, Date.parse(seen) + LINK_CARRY_MS + 1],
      [carried, Date.parse(seen) - LINK_CARRY_MS - 1],
      [run({ link_bytes_per_s: 110e6, link_seen: seen, remote: "g:1" }), now],
      [run({ link_bytes_per_s: "fast", link_seen: seen }), now],
      [run({ link_bytes_per_s: 110e6, link_seen: "yesterday" }), now],
      [run({ link_bytes_per_s: -1, link_seen: seen }), now],
    ] as const
  ) {
    assertEquals(linkSeen([record as PerfRecord], "h:1", at), undefined);
  }
  // A run that measured a faster rate itself (64 MiB in 0.5 s) wins,
  // with its own time; a slower one does not.
  const big = run({
    ts: "2026-01-01T12:30:00Z",
    bytes: 64 << 20,
    transfer_ms: 500,
  });
  assertEquals(linkSeen([carried, big], "h:1", now), {
    rate: (64 << 20) / 0.5,
    seen: "2026-01-01T12:30:00Z",
  });
  assertEquals(
    linkSeen([carried, { ...big, transfer_ms: 5000 }], "h:1", now),
    { rate: 110e6, seen },
  );
  // Today the carried rate is long stale; a run measured in the history
  // read counts whatever its age.
  assertEquals(linkRate([carried, big], "h:1"), (64 << 20) / 0.5);
});

Deno.test("tune: the route's link rate outlives the history a command reads, carried by each run's line", () => {
  const daemon = parseRemote("blit://127.0.0.1:50051/m");
  const other = parseRemote("blit://127.0.0.1:50052/m");
  const dir = Deno.makeTempDirSync();
  const flags = { streams: 0, forceGrpcData: false };
  try {
    // One big run measures the link: 64 MiB in 0.5 s.
    const measured = historyLine(
      "push",
      {
        ...result,
        bytesTransferred: 64 << 20,
        transferMs: 500,
      },
      600,
      tune(daemon, "push", flags, dir),
    );
    assertEquals(measured.link_bytes_per_s, undefined);
    appendPerfRecord(dir, measured);
    const rate = (64 << 20) / 0.5;
    assertEquals(tune(daemon, "push", flags, dir).linkBytesPerS, rate);
    // Then 200 small runs on the route, each carrying what was known, and
    // 200 on another route (~180 KB: far more than the recent history a
    // command reads).
    for (let i = 0; i < 200; i++) {
      const line = historyLine(
        "push",
        result,
        5,
        tune(daemon, "push", flags, dir),
      );
      assertEquals(
        [line.link_bytes_per_s, line.link_seen],
        [Math.round(rate), measured.ts],
      );
      appendPerfRecord(dir, line);
      appendPerfRecord(
        dir,
        historyLine("pull", result, 5, tune(other, "pull", flags, dir)),
      );
    }
    const tuned = tune(daemon, "pull", flags, dir);
    assertEquals([tuned.linkBytesPerS, tuned.linkSeen], [
      Math.round(rate),
      measured.ts,
    ]);
    assertEquals(tune(other, "pull", flags, dir).linkBytesPerS, undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tune: a push asks for hash hints after a push on the route found many files the same; a pull never", () => {
  const daemon = parseRemote("blit://127.0.0.1:50051/m");
  const dir = Deno.makeTempDirSync();
  const flags = { streams: 0, forceGrpcData: false };
  try {
    assertEquals(tune(daemon, "push", flags, dir).hashHints, false);
    const line = historyLine(
      "push",
      {
        ...result,
        filesSame: 500,
      },
      5,
      tune(daemon, "push", flags, dir),
    );
    assertEquals(line.files_same, 500);
    appendPerfRecord(dir, line);
    assertEquals(tune(daemon, "push", flags, dir).hashHints, true);
    assertEquals(tune(daemon, "pull", flags, dir).hashHints, false);
    assertEquals(tune(daemon, "push", flags, undefined).hashHints, false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("tune: other clients' runs come from the snapshot the last transfer kept (refreshSnapshot), read with no call to the daemon", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    let daemonAddress: RemoteAddress | undefined;
    const address = (): RemoteAddress => daemonAddress!;
    // A push of a large file to this daemon, tuned from what `dir` keeps.
    const tuneLarge = (to = address()) =>
      tune(to, "push", { streams: 0, forceGrpcData: false }, dir, "large");
    await withInProcessDaemon(async (daemon) => {
      daemonAddress = daemon.address();
      const now = Date.now() - 60_000;
      const run = (streams: number, ms: number, i: number): PerfRecord => ({
        ts: new Date(now + i * 1000).toISOString(),
        op: "push",
        transport: "tcp",
        streams,
        files: 1,
        bytes: 1 << 30,
        duration_ms: ms,
        remote: "elsewhere",
        source: "client",
        size_class: "large",
        handshake_ms: 0,
        manifest_ms: 0,
        transfer_ms: ms,
        retries: 0,
        fallback: false,
      });
      const runs = [
        run(1, 4000, 0),
        run(4, 1000, 1),
        run(1, 4100, 2),
        run(4, 1050, 3),
        run(4, 1020, 4),
      ];
      for (const r of runs) assertEquals(await uploadPerf(address(), r), true);
      // Nothing kept yet: the default, and no snapshot.
      const before = tuneLarge();
      assertEquals(
        [
          before.choice.transport,
          before.choice.streams,
          before.snapshot,
          before.refresh,
        ],
        ["tcp", 1, undefined, true],
      );
      assertEquals(await refreshSnapshot(address(), dir), true);
      const kept = readCachedSnapshot(
        dir,
        `127.0.0.1:${address().port}`,
        address().module,
      );
      assertEquals(kept?.enabled, true);
      assertEquals(kept?.runs.map((r) => [r.streams, r.duration_ms]), [
        [1, 4000],
        [4, 1000],
        [1, 4100],
        [4, 1050],
        [4, 1020],
      ]);
    }, { stateDir: true });
    // The daemon is gone: the choice comes from what was kept.
    const after = tuneLarge();
    assertEquals(after.choice.streams, 4);
    assertMatch(after.choice.reason, /^4 streams measured fastest/);
    assertEquals(after.snapshot?.runs.length, 5);
    // Fresh: not fetched again; five minutes on, it is.
    assertEquals(after.refresh, false);
    const kept = JSON.parse(
      Deno.readTextFileSync(`${dir}/${SNAPSHOT_FILE}`),
    ) as Record<string, { fetched: number }>;
    for (const entry of Object.values(kept)) {
      entry.fetched = Date.now() - SNAPSHOT_FRESH_MS - 1000;
    }
    Deno.writeTextFileSync(`${dir}/${SNAPSHOT_FILE}`, JSON.stringify(kept));
    const stale = tuneLarge();
    assertEquals([stale.choice.streams, stale.refresh], [4, true]);
    // No history, no exchange.
    assertEquals(
      tune(address(), "push", { streams: 0, forceGrpcData: false }, undefined)
        .refresh,
      false,
    );
    // Another module of the same daemon has no snapshot kept.
    const other = tuneLarge({ ...address(), module: "other" });
    assertEquals([other.choice.streams, other.snapshot], [1, undefined]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("pullGrown: the newest pull on the route that counted its grown files, with how many before it in a row were mostly appends; other routes, pushes and older histories say nothing", () => {
  const run = (extra: Record<string, unknown>) => historyRun("pull", extra);
  const appends = run({ grown_appended: 30, grown_other: 2 });
  const edits = run({ grown_appended: 1, grown_other: 30 });
  const few = run({ grown_appended: 3, grown_other: 0 });
  assertEquals(pullGrown([], "h:1"), undefined);
  // The newest pull did not count (an older client's): nothing known.
  assertEquals(pullGrown([appends, run({})], "h:1"), undefined);
  assertEquals(pullGrown([appends], "h:1"), {
    appended: 30,
    other: 2,
    streak: 0,
  });
  assertEquals(pullGrown([edits, appends, appends, appends], "h:1"), {
    appended: 30,
    other: 2,
    streak: 2,
  });
  // Too few to say, or edits, end the streak; other routes and pushes
  // are not looked at.
  assertEquals(pullGrown([appends, few, appends], "h:1")?.streak, 0);
  assertEquals(
    pullGrown([
      appends,
      run({ remote: "h:2", grown_appended: 0, grown_other: 40 }),
      run({ direction: "push" }),
      appends,
    ], "h:1")?.streak,
    1,
  );
  assertEquals(pullGrown([appends], "h:2"), undefined);
});
