import { EventEmitter } from "node:events";
import { assertEquals } from "../../tests/_assert.ts";
import { Transport } from "../rpc/service.ts";
import { ServiceError } from "./errors.ts";
import { failCall, perfRecord, safeStatus, summaryOf } from "./call_end.ts";
import type { PushCall } from "./context.ts";
import { testContext } from "../../tests/_service_context.ts";

Deno.test("summaryOf: the counts and transport as a PushSummary", () => {
  const s = summaryOf({ files: 3, bytes: 10, deleted: 1 }, Transport.TCP);
  assertEquals(
    [s.filesTransferred, s.bytesTransferred, s.filesDeleted, s.filesSkipped],
    [3n, 10n, 1n, 0n],
  );
  assertEquals(s.transport, Transport.TCP);
});

Deno.test("perfRecord: the daemon's history line for a finished transfer", () => {
  const t0 = performance.now() - 100;
  const r = perfRecord(
    "pull",
    { transport: "tcp", fallback: false, streams: 2 },
    { files: 10, bytes: 1 << 20 },
    t0,
    t0 + 40,
    { module: "m", peer: "127.0.0.1" },
  );
  assertEquals(
    [r.op, r.transport, r.streams, r.files, r.bytes, r.source, r.module],
    ["pull", "tcp", 2, 10, 1 << 20, "daemon", "m"],
  );
  assertEquals([r.remote, r.manifest_ms, r.fallback], ["127.0.0.1", 40, false]);
  assertEquals(r.duration_ms >= 100, true);
});

Deno.test("safeStatus and failCall: clients never see where modules live; internal errors are logged", () => {
  const ctx = testContext();
  const root = ctx.config.modules[0].path;
  try {
    assertEquals(
      safeStatus(new ServiceError(5, `no ${root}/a/b here`), ctx),
      { code: 5, details: "no a/b here" },
    );
    assertEquals(
      safeStatus(new Error(`broke in ${root}`), ctx).details,
      "Daemon error: broke in (module m)",
    );
    const emitted: unknown[] = [];
    const call = new EventEmitter();
    call.on("error", (status) => emitted.push(status));
    failCall(call as unknown as PushCall, new Error(`broke in ${root}`), ctx);
    assertEquals(emitted, [
      { code: 13, details: "Daemon error: broke in (module m)" },
    ]);
    assertEquals(ctx.lines, ["blit-daemon: Daemon error: broke in (module m)"]);
  } finally {
    ctx.dispose();
  }
});
