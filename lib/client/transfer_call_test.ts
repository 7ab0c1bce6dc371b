import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { create, fromBinary, toBinary } from "../rpc/codec.ts";
import { TransferOptionsSchema } from "../rpc/gen/blit.ts";
import { DataTransferNegotiationSchema, Transport } from "../rpc/service.ts";
import { DaemonUnreachableError, RemoteError } from "./connect.ts";
import type { TransferResult } from "./summary.ts";
import { dialOrWarn, transferOptions, withRetries } from "./transfer_call.ts";
import { parseRemote } from "./address.ts";

const done: TransferResult = {
  filesTransferred: 1,
  bytesTransferred: 1,
  filesDeleted: 0,
  filesSkipped: 0,
  transport: "tcp",
  streams: 1,
  fallback: false,
  handshakeMs: 0,
  manifestMs: 0,
  transferMs: 0,
  retries: 0,
};

Deno.test("withRetries: a transient failure is retried with a warning and counted; a refused first connection is not", async () => {
  const warnings: string[] = [];
  let calls = 0;
  const result = await withRetries({
    retries: 2,
    warn: (l) => warnings.push(l),
  }, () => {
    if (++calls === 1) {
      return Promise.reject(new RemoteError("lost connection", 14, true));
    }
    return Promise.resolve({ ...done });
  });
  assertEquals([calls, result.retries], [2, 1]);
  assertEquals(warnings, ["lost connection; retrying in 500 ms (1/2)"]);
  calls = 0;
  await assertRejects(
    () =>
      withRetries({ retries: 3 }, () => {
        calls++;
        return Promise.reject(
          new DaemonUnreachableError("127.0.0.1:1", "refused"),
        );
      }),
    DaemonUnreachableError,
  );
  assertEquals(calls, 1);
  await assertRejects(
    () =>
      withRetries(
        { retries: 3 },
        () => Promise.reject(new RemoteError("denied", 7, false)),
      ),
    RemoteError,
    /^denied$/,
  );
});

Deno.test("dialOrWarn: an unreachable data plane is one warning and undefined (the bytes go over gRPC)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const warnings: string[] = [];
  const conns = await dialOrWarn(
    create(DataTransferNegotiationSchema, {
      transport: Transport.TCP,
      port,
      tokens: ["a", "b"],
      streams: 2,
    }),
    parseRemote("blit://127.0.0.1:1/m"),
    { warn: (line) => warnings.push(line), dataTimeoutMs: 1000 },
  );
  assertEquals(conns, undefined);
  assertEquals(warnings.length, 1);
  assertEquals(
    warnings[0].startsWith(`data plane 127.0.0.1:${port} unreachable (`) &&
      warnings[0].endsWith("); sending over gRPC instead"),
    true,
    warnings[0],
  );
});

Deno.test("transferOptions: what the daemon is told", () => {
  const o = transferOptions({
    checksum: true,
    dryRun: true,
    exclude: ["- *.o"],
    streams: 4,
    onItem: () => {},
  });
  assertEquals(
    [
      o.checksum,
      o.dryRun,
      o.exclude,
      o.streams,
      o.listItems,
      o.progressReports,
    ],
    [true, true, ["- *.o"], 4, true, false],
  );
});

Deno.test("transferOptions: the route's link rate as the history knows it goes to the daemon, 0 when unknown, and crosses the wire", () => {
  const known = transferOptions({ linkBytesPerS: 111_664_243.7 });
  assertEquals(known.linkBytesPerS, 111_664_243n);
  assertEquals(transferOptions({}).linkBytesPerS, 0n);
  const back = fromBinary(
    TransferOptionsSchema,
    toBinary(TransferOptionsSchema, known),
  );
  assertEquals(back.linkBytesPerS, 111_664_243n);
});
