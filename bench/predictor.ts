// Benchmark: what the predictor gains. Two routes, both on loopback:
//
// - "middlebox": the daemon advertises a data-plane address where
//   something accepts TCP and never answers (a stuck middlebox, a wrong
//   port-forward). A cold client waits out the 3 s dial and falls back to
//   gRPC on every run; with history the predictor goes to gRPC directly
//   (and retries TCP every 5th run, which costs the wait again).
// - "plain": a normal route, pushing 1 GiB with 1, 2 and 4 streams, to see
//   whether the stream count the predictor picks matters on this machine.
//
// Writes "What the predictor gains" into bench/RESULTS.md; needs a tmpfs
// like the throughput benchmark (mounted when root, else BLIT_BENCH_DIR).
//
//   deno run -A bench/predictor.ts
import { join } from "node:path";
import {
  blitCommand,
  scratch,
  startBlitDaemon,
  timed,
  writeBig,
  writeResultsSection,
} from "./_measure.ts";

const blit = blitCommand;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

const lines: string[] = [];
const space = await scratch("6g");
// Accepts and never answers: the dial's reply wait runs out.
const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const held: Deno.Conn[] = [];
const accepting = (async () => {
  for await (const conn of silent) held.push(conn);
})().catch(() => {});
try {
  const work = Deno.makeTempDirSync({ dir: space.dir, prefix: "predict-" });
  const module = join(work, "module");
  const state = join(work, "state");
  Deno.mkdirSync(module);
  Deno.mkdirSync(state);
  const file = join(work, "f64.bin");
  writeBig(file, 64 << 20, 3);

  // Middlebox route.
  const daemon = await startBlitDaemon(module, state, "portable", {
    advertiseData: `127.0.0.1:${silent.addr.port}`,
  });
  const url = `blit://127.0.0.1:${daemon.port}/m`;
  const cold: number[] = [];
  const learned: { ms: number; transport: string; reason: string }[] = [];
  try {
    const coldEnv = { BLIT_DISABLE_PERF_HISTORY: "1" };
    const warmEnv = { BLIT_STATE_DIR: join(work, "client-state") };
    // The first run with history is a cold one too: it learns.
    await timed(blit(["push", file, `${url}/learn.bin`]), daemon.pid, warmEnv);
    for (let i = 0; i < 5; i++) {
      // Interleaved: cold, then predicted.
      cold.push(
        (await timed(
          blit(["push", file, `${url}/c${i}.bin`]),
          daemon.pid,
          coldEnv,
        ))
          .ms,
      );
      const s = await timed(
        blit(["push", "--json", file, `${url}/w${i}.bin`]),
        daemon.pid,
        warmEnv,
      );
      const summary = JSON.parse(s.stdout);
      learned.push({
        ms: s.ms,
        transport: summary.predictor.transport,
        reason: summary.predictor.reason,
      });
    }
  } finally {
    await daemon.stop();
  }
  const chosen = learned.filter((r) => r.transport === "grpc");
  lines.push(
    `| middlebox: 64 MiB push, data plane silent | ${secs(median(cold))} (${
      cold.map(secs).join(", ")
    }) | ${secs(median(learned.map((r) => r.ms)))} (${
      learned.map((r) => `${secs(r.ms)} ${r.transport}`).join(", ")
    }) | ${(median(cold) / median(learned.map((r) => r.ms))).toFixed(2)}x |`,
  );
  console.log(lines.at(-1));
  console.log(
    `reasons: ${chosen[0]?.reason} / ${
      learned.find((r) => r.transport === "tcp")?.reason
    }`,
  );

  // Plain route: does the stream count matter here?
  const big = join(work, "g1.bin");
  writeBig(big, 1 << 30, 4);
  const plain = await startBlitDaemon(module, state, "portable");
  const byStreams = new Map<number, number[]>([[1, []], [2, []], [4, []]]);
  const predicted: { ms: number; streams: number }[] = [];
  try {
    const purl = `blit://127.0.0.1:${plain.port}/m`;
    for (let run = 0; run < 3; run++) {
      for (const streams of [1, 2, 4]) {
        const s = await timed(
          blit(["push", "--streams", String(streams), big, `${purl}/g.bin`]),
          plain.pid,
          { BLIT_DISABLE_PERF_HISTORY: "1" },
        );
        byStreams.get(streams)!.push(s.ms);
        Deno.removeSync(join(module, "g.bin"));
      }
    }
    // The predictor on its own, from an empty history: 1 stream until
    // its 5th run explores 2, then the better one (the 10th explores on).
    const tuneEnv = { BLIT_STATE_DIR: join(work, "plain-state") };
    for (let run = 0; run < 10; run++) {
      const s = await timed(
        blit(["push", "--json", big, `${purl}/g.bin`]),
        plain.pid,
        tuneEnv,
      );
      const summary = JSON.parse(s.stdout);
      predicted.push({ ms: s.ms, streams: summary.predictor.streams });
      Deno.removeSync(join(module, "g.bin"));
    }
  } finally {
    await plain.stop();
  }
  const m1 = median(byStreams.get(1)!);
  const after = predicted.slice(5, 9);
  lines.push(
    `| plain: 1 GiB push, the predictor from an empty history (runs 6-9) | ${
      secs(m1)
    } (1 stream) | ${secs(median(after.map((r) => r.ms)))} (${
      predicted.map((r) => `${secs(r.ms)} x${r.streams}`).join(", ")
    }) | ${(m1 / median(after.map((r) => r.ms))).toFixed(2)}x |`,
  );
  console.log(lines.at(-1));
  for (const [streams, runs] of byStreams) {
    lines.push(
      `| plain: 1 GiB push, --streams ${streams} | ${secs(m1)} (1 stream) | ${
        secs(median(runs))
      } (${runs.map(secs).join(", ")}) | ${(m1 / median(runs)).toFixed(2)}x |`,
    );
    console.log(lines.at(-1));
  }
  Deno.removeSync(work, { recursive: true });
} finally {
  silent.close();
  for (const conn of held) {
    try {
      conn.close();
    } catch {
      // gone
    }
  }
  await accepting;
  await space.done();
}

writeResultsSection(
  "What the predictor gains",
  [
    "## What the predictor gains",
    "",
    `Written by \`bench/predictor.ts\` on ${
      new Date().toISOString().slice(0, 10)
    } (part of \`deno task bench\`), loopback, tmpfs. Cold: no history (\`BLIT_DISABLE_PERF_HISTORY=1\`); predicted: the same command with a history, after one learning run; runs interleaved, medians (every run listed). The middlebox route advertises a data-plane address that accepts TCP and never answers, so a cold client waits out the 3 s dial on every run; the predictor sends over gRPC directly once it has seen that, and retries TCP on every 5th run. The plain rows show whether the stream count (the other thing it chooses) matters on this 2-core machine, and what the predictor picks there by itself from an empty history (every run listed with its stream count; runs 6-9 come after its first exploring run).`,
    "",
    "| workload | cold / baseline | predicted / this choice | gain |",
    "|---|---|---|---|",
    ...lines,
    "",
  ].join("\n"),
);
