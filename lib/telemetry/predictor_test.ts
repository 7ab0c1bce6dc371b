import { assertEquals, assertMatch } from "../../tests/_assert.ts";
import type { PerfRecord } from "./perf_history.ts";
import { EXPLORE_EVERY, predict } from "./predictor.ts";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const ROUTE = "10.0.0.5:50051";
let tick = 0;

function run(
  streams: number,
  mibPerSecond: number,
  extra: Partial<PerfRecord> = {},
): PerfRecord {
  const bytes = 1 << 30;
  const ms = Math.round((bytes / 2 ** 20 / mibPerSecond) * 1000);
  tick += 60_000;
  return {
    ts: new Date(NOW - 86_400_000 + tick).toISOString(),
    op: "push",
    transport: "tcp",
    streams,
    files: 1,
    bytes,
    duration_ms: ms,
    remote: ROUTE,
    handshake_ms: 5,
    manifest_ms: 5,
    transfer_ms: ms - 10,
    retries: 0,
    fallback: false,
    ...extra,
  };
}

const at = { route: ROUTE, op: "push", now: NOW };

Deno.test("predictor: no history -> TCP with 1 stream, said so", () => {
  const p = predict({ records: [], ...at });
  assertEquals(p.choice.transport, "tcp");
  assertEquals(p.choice.streams, 1);
  assertMatch(p.choice.reason, /no history for this route/);
  assertEquals(p.stale, undefined);
  // Another route's runs don't count.
  const other = predict({ records: [run(4, 900, { remote: "x:1" })], ...at });
  assertEquals(other.choice.streams, 1);
});

Deno.test("predictor: seeded history where 4 streams were faster -> 4; where 1 was -> 1", () => {
  const fourWins = [
    run(1, 300),
    run(2, 500),
    run(4, 900),
    run(1, 310),
    run(4, 880),
  ];
  const p4 = predict({ records: fourWins, ...at });
  assertEquals(p4.choice, {
    transport: "tcp",
    streams: 4,
    reason:
      "4 streams measured fastest: 890 MiB/s (1: 305 MiB/s, 2: 500 MiB/s, 4: 890 MiB/s; 5 large push runs on this route)",
  });
  const oneWins = [
    run(4, 300),
    run(2, 500),
    run(1, 900),
    run(4, 310),
    run(1, 880),
  ];
  assertEquals(predict({ records: oneWins, ...at }).choice.streams, 1);
  // The newest runs count most: 2 streams got slow lately.
  const drift = [
    run(2, 900),
    run(1, 600),
    run(2, 200),
    run(2, 200),
    run(1, 600),
  ];
  assertEquals(predict({ records: drift, ...at }).choice.streams, 1);
});

Deno.test("predictor: every 5th run of a class tries the least-tried neighbour", () => {
  const records = [run(1, 500), run(1, 500), run(1, 500), run(1, 500)];
  assertEquals(records.length % EXPLORE_EVERY, EXPLORE_EVERY - 1);
  const p = predict({ records, ...at });
  assertEquals(p.choice.streams, 2);
  assertMatch(p.choice.reason, /^exploring: 2 streams \(tried 0 times/);
  // Size classes are kept apart: small-file runs don't decide big ones.
  const small = Array.from(
    { length: 4 },
    () => run(4, 50, { files: 10_000, bytes: 40_960_000 }),
  );
  const big = predict({
    records: [...small, run(2, 800)],
    ...at,
    sizeClass: "large",
  });
  assertEquals(big.choice.streams, 2);
});

Deno.test("predictor: history older than 30 days -> the default and one warning", () => {
  const old = run(4, 900, { ts: "2026-09-01T00:00:00.000Z" });
  const p = predict({ records: [old], ...at });
  assertEquals(p.choice.streams, 1);
  assertMatch(p.choice.reason, /history for this route is 85 days old/);
  assertEquals(
    p.stale,
    `the performance history for ${ROUTE} is older than 30 days (85 days); ignoring it`,
  );
});

Deno.test("predictor: a data plane that was unreachable -> gRPC directly; TCP retried when exploring", () => {
  const reached = run(1, 500);
  const fellBack = run(1, 20, { transport: "grpc", fallback: true });
  const p = predict({ records: [reached, fellBack], ...at });
  assertEquals(p.choice.transport, "grpc");
  assertMatch(p.choice.reason, /TCP data plane was unreachable/);
  const retry = predict({
    records: [reached, fellBack, run(1, 80, { transport: "grpc" }), {
      ...fellBack,
      ts: new Date(NOW - 1000).toISOString(),
    }],
    ...at,
  });
  assertEquals(retry.choice.transport, "tcp");
  assertMatch(retry.choice.reason, /^exploring: trying the TCP data plane/);
  // Odd lines never break it.
  const odd = { ...run(1, 1), bytes: 0, duration_ms: 0 };
  assertEquals(predict({ records: [odd], ...at }).choice.streams, 1);
});

Deno.test("predictor: deltas are left out (their content never crossed the streams)", () => {
  const records = [
    run(4, 300),
    run(1, 200),
    // A delta "moved" 1 GiB in no time on one stream: not a stream speed.
    run(1, 50_000, { delta: true }),
    run(1, 50_000, { delta: true }),
  ];
  assertEquals(predict({ records, ...at }).choice.streams, 4);
});

Deno.test("predictor: after a delta of its class a transfer does not explore: delta after delta keeps the best choice", () => {
  // Four counted runs: the fifth would explore...
  const counted = [run(1, 500), run(1, 500), run(1, 500), run(1, 500)];
  assertMatch(
    predict({ records: counted, ...at }).choice.reason,
    /^exploring: 2 streams/,
  );
  // ...but the last run of the class went as a delta (a tree mostly there
  // already): the next likely does too, and is not learned from. Every
  // later delta stays on the best choice (the count that says when to
  // explore does not advance with them).
  const deltas = [...counted];
  for (let i = 0; i < 6; i++) {
    deltas.push(run(1, 50_000, { delta: true }));
    const p = predict({ records: deltas, ...at });
    assertEquals(p.choice.streams, 1, p.choice.reason);
    assertMatch(p.choice.reason, /^1 stream measured: 500 MiB\/s/);
  }
  // A run that was not a delta again: the turn to explore is back.
  assertMatch(
    predict({
      records: [
        ...deltas,
        run(1, 500),
        run(1, 500),
        run(1, 500),
        run(1, 500),
        run(1, 500),
      ],
      ...at,
    }).choice.reason,
    /^exploring: 2 streams/,
  );
  // Another client's delta (from the daemon's snapshot) says nothing of
  // this client's next transfer.
  assertMatch(
    predict({
      records: [...counted, run(1, 50_000, { delta: true, source: "client" })],
      ...at,
    }).choice.reason,
    /^exploring: 2 streams/,
  );
});

Deno.test("predictor: runs under --bwlimit are left out (their speed was the limit's)", () => {
  const records = [
    run(4, 900),
    run(1, 300),
    // Limited runs: 1 stream "slow" and 4 streams "slower" would say 1.
    ...Array.from({ length: 6 }, () => run(1, 2, { bwlimit: 2 << 20 })),
    ...Array.from({ length: 6 }, () => run(4, 1, { bwlimit: 1 << 20 })),
  ];
  const p = predict({ records, ...at });
  assertEquals(p.choice.streams, 4);
  assertMatch(p.choice.reason, /2 large push runs on this route/);
  assertEquals(
    predict({ records: records.slice(2), ...at }).choice.reason,
    "no history for this route: the default, TCP with 1 stream",
  );
});

Deno.test("predictor: this client's own runs decide the class and weigh most; another client's newest small run changes nothing", () => {
  // 10 of this client's large pushes: 4 streams 5x faster than 1 (12
  // large runs in all: not a run the predictor explores on).
  const own: PerfRecord[] = [];
  for (let i = 0; i < 5; i++) {
    own.push(run(1, 100, { size_class: "large" }));
    own.push(run(4, 500, { size_class: "large" }));
  }
  // Then another client (from the daemon's snapshot) pushes small trees
  // over 1 stream, and says 1 stream is fast for it, even for large files.
  const others: PerfRecord[] = [
    run(1, 2000, { size_class: "large", source: "client" }),
    run(4, 100, { size_class: "large", source: "client" }),
    run(1, 50, { size_class: "small", source: "client", files: 5000 }),
  ];
  const records = [...own, ...others];
  // No class given (a pull of a tree): this client's own last run says large.
  const guessed = predict({ records, ...at });
  assertEquals(guessed.choice.streams, 4);
  assertMatch(guessed.choice.reason, /large push runs/);
  // The class of the tree being pushed, given: the same.
  assertEquals(
    predict({ records, ...at, sizeClass: "large" }).choice.streams,
    4,
  );
  // Other clients' runs alone still count (a client new to the route).
  assertEquals(
    predict({ records: others.slice(0, 2), ...at, sizeClass: "large" })
      .choice.streams,
    1,
  );
});
