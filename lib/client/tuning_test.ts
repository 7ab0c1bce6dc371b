import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { historyLine, tune } from "./tuning.ts";
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
