import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { historyLine, linkRate, tune } from "./tuning.ts";
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
