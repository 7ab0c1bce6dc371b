import { status } from "../deps/grpc.ts";
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import {
  connect,
  DaemonUnreachableError,
  type RemoteError,
  remoteError,
} from "./connect.ts";
import { IntegrityError, TruncatedStreamError } from "../wire/frame_codec.ts";

Deno.test("remoteError: a body corrupted on the way is retried", () => {
  const e = remoteError(new IntegrityError("d/f"), "h:1") as RemoteError;
  assertEquals([e.code, e.transient], [status.DATA_LOSS, true]);
  assertEquals(
    e.message,
    "d/f arrived corrupted (its content hash does not match); it was not written; run the same command again to resend it",
  );
});

Deno.test("remoteError: daemon messages kept, transient failures marked for retry", () => {
  const where = "127.0.0.1:1";
  const cases: [number, string, boolean, RegExp][] = [
    [status.NOT_FOUND, 'Module "x" not found', false, /^Module "x" not found$/],
    [status.PERMISSION_DENIED, 'Module "ro" is read-only', false, /read-only/],
    [status.INVALID_ARGUMENT, "Unsafe path", false, /^Unsafe path$/],
    [
      status.UNAVAILABLE,
      "Connection dropped",
      true,
      /^lost connection to the daemon at 127\.0\.0\.1:1/,
    ],
    [
      status.CANCELLED,
      "Call cancelled",
      true,
      /ended the transfer \(call cancelled\)/,
    ],
    [
      status.DATA_LOSS,
      "a arrived corrupted (its content hash does not match); it was not written",
      true,
      /^a arrived corrupted .*; run the same command again to resend it$/,
    ],
  ];
  for (const [code, details, transient, pattern] of cases) {
    const error = remoteError({ code, details }, where) as RemoteError;
    assertEquals([error.code, error.transient], [code, transient]);
    assertEquals(pattern.test(error.message), true, error.message);
  }
  const pipe = remoteError(
    new Deno.errors.BrokenPipe("Broken pipe (os error 32)"),
    where,
  ) as RemoteError;
  assertEquals(pipe.transient, true);
  assertEquals(
    pipe.message,
    `lost the data connection to the daemon at ${where} (Broken pipe); run the same command again to finish`,
  );
});

Deno.test("connect: nothing listening is a clear, non-retried error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await assertRejects(
    () =>
      connect({
        host: "127.0.0.1",
        port,
        module: "m",
        path: "",
        trailingSlash: false,
      }),
    DaemonUnreachableError,
  ) as DaemonUnreachableError;
  assertEquals(
    error.message,
    `cannot reach daemon at 127.0.0.1:${port} (connection refused); is blit-daemon running?`,
  );
  assertEquals(error.transient, false);
});

Deno.test("remoteError: a data stream cut short (the daemon died) is lost connection, retried", () => {
  const e = remoteError(
    new TruncatedStreamError(
      "Stream ended 53828050 bytes short of a file body",
    ),
    "127.0.0.1:1",
  ) as RemoteError;
  assertEquals(
    e.message,
    "lost the data connection to the daemon at 127.0.0.1:1 (it closed in the middle of the transfer); run the same command again to finish",
  );
  assertEquals(e.transient, true);
});

Deno.test("remoteError: a connection cut mid-call (RST_STREAM, stream removed) is a lost connection, retried; an idle cut says idle", () => {
  for (
    const details of [
      "Received RST_STREAM with code 0",
      "Stream removed",
    ]
  ) {
    const e = remoteError(
      { code: status.INTERNAL, details },
      "h:1",
    ) as RemoteError;
    assertEquals(e.transient, true);
    assertEquals(
      e.message,
      "lost connection to the daemon at h:1 mid-transfer (it stopped or was restarted); run the same command again to finish",
    );
  }
  const other = remoteError(
    { code: status.INTERNAL, details: "disk full" },
    "h:1",
  ) as RemoteError;
  assertEquals([other.message, other.transient], ["disk full", false]);
  const idle = remoteError({
    code: status.DEADLINE_EXCEEDED,
    details: "Transfer idle for 120 s; the daemon gave up on it",
  }, "h:1");
  assertEquals(
    idle.message,
    "the daemon at h:1 ended a transfer that moved nothing for too long (transfer idle for 120 s; the daemon gave up on it); run the same command again to finish",
  );
});
