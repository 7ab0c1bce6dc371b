import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { parseRemote } from "./address.ts";
import { fetchPerfSnapshot, uploadPerf } from "./perf_rpc.ts";
import type { PerfRecord } from "../telemetry/perf_history.ts";

const run: PerfRecord = {
  ts: new Date().toISOString(),
  op: "push",
  transport: "tcp",
  streams: 1,
  files: 10,
  bytes: 1000,
  duration_ms: 50,
  remote: "127.0.0.1",
  source: "client",
  module: "default",
  size_class: "small",
  handshake_ms: 1,
  manifest_ms: 2,
  transfer_ms: 3,
  retries: 0,
  fallback: false,
};

Deno.test("uploadPerf and fetchPerfSnapshot: a run uploaded is in the module's snapshot", async () => {
  await withInProcessDaemon(async ({ address }) => {
    assertEquals(await uploadPerf(address(), run), true);
    const snapshot = await fetchPerfSnapshot(address());
    assertEquals(snapshot?.enabled, true);
    assertEquals(snapshot?.runs.map((r) => [r.op, r.files, r.source]), [
      ["push", 10, "client"],
    ]);
  }, { stateDir: true });
});

Deno.test("fetchPerfSnapshot: a daemon keeping no history says so; nothing listening is undefined, not an error", async () => {
  await withInProcessDaemon(async ({ address }) => {
    assertEquals((await fetchPerfSnapshot(address()))?.enabled, false);
    assertEquals(await uploadPerf(address(), run), false);
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  assertEquals(
    await fetchPerfSnapshot(parseRemote(`blit://127.0.0.1:${port}/m`), 500),
    undefined,
  );
});
