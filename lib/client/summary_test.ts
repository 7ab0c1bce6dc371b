import { assertEquals } from "../../tests/_assert.ts";
import { summaryJson, summaryLine, type TransferResult } from "./summary.ts";

const result: TransferResult = {
  filesTransferred: 2,
  bytesTransferred: 3 << 20,
  bytesResumed: 1 << 20,
  filesDeleted: 1,
  filesSkipped: 5,
  transport: "grpc",
  streams: 1,
  fallback: true,
  handshakeMs: 1,
  manifestMs: 2,
  transferMs: 3,
  retries: 0,
};

Deno.test("summaryLine: counts, size, deletions, the way the bytes went and the time; a dry run says would be", () => {
  assertEquals(
    summaryLine("push", result, 12.4, false),
    "push: 2 files transferred (3.0 MiB), 5 unchanged, 1 deleted, via grpc (fallback), 12 ms",
  );
  assertEquals(
    summaryLine(
      "mirror",
      { ...result, filesTransferred: 1, filesDeleted: 0, fallback: false },
      1,
      true,
    ),
    "mirror (dry run): 1 file would be transferred (3.0 MiB), 5 unchanged, 1 ms",
  );
});

Deno.test("summaryJson: the contract's field names, whole milliseconds", () => {
  assertEquals(JSON.parse(summaryJson("pull", result, 7.6)), {
    op: "pull",
    files_transferred: 2,
    bytes_transferred: 3 << 20,
    bytes_resumed: 1 << 20,
    bytes_literal: 2 << 20,
    bytes_matched: 0,
    bytes_on_wire: 0,
    delta: false,
    compression: false,
    files_deleted: 1,
    files_skipped: 5,
    transport: "grpc",
    streams: 1,
    fallback: true,
    duration_ms: 8,
  });
});
