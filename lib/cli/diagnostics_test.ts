import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { captureIo, flagsOf } from "../../tests/_cli_io.ts";
import { UsageError } from "../client/address.ts";
import { appendPerfRecord } from "../telemetry/perf_history.ts";
import { diagnostics, plural } from "./diagnostics.ts";

Deno.test("blit diagnostics perf prints the local history", async () => {
  const state = Deno.makeTempDirSync();
  try {
    const io = captureIo({
      BLIT_STATE_DIR: state,
      BLIT_DISABLE_PERF_HISTORY: "0",
    });
    appendPerfRecord(state, {
      ts: new Date().toISOString(),
      op: "copy",
      transport: "local",
      streams: 1,
      files: 3,
      bytes: 3,
      duration_ms: 4,
      remote: null,
      handshake_ms: 0,
      manifest_ms: 0,
      transfer_ms: 4,
      retries: 0,
      fallback: false,
    });
    assertEquals(
      await diagnostics(["perf"], flagsOf(["diagnostics", "perf"], io), io),
      0,
    );
    assertEquals(io.out().includes("(1 run)"), true, io.out());
  } finally {
    Deno.removeSync(state, { recursive: true });
  }
});

Deno.test("blit diagnostics with another topic is a usage error", async () => {
  const io = captureIo();
  await assertRejects(
    () => diagnostics(["frob"], flagsOf(["diagnostics", "frob"], io), io),
    UsageError,
    /^diagnostics takes one topic: perf$/,
  );
});

Deno.test("plural: one run, two runs", () => {
  assertEquals([plural(1, "run"), plural(2, "run")], ["1 run", "2 runs"]);
});
