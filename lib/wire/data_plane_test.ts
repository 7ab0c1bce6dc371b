import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import {
  DataPlaneRejectedError,
  DataPlaneServer,
  DataPlaneUnreachableError,
  dialDataPlane,
} from "./data_plane.ts";
import { TokenIssuer } from "./token.ts";
import { encodeHello } from "./frame_codec.ts";
import { readExact, writeAll } from "./socket.ts";

/** The log lines with the peer's port masked, sorted (order is racy). */
function reasons(log: string[]): string[] {
  return log.map((line) => line.replace(/:\d+ \(/, ":PORT (")).sort();
}

Deno.test("data plane: only a valid, unused token for a pending session gets through", async () => {
  const log: string[] = [];
  const issuer = new TokenIssuer();
  const server = DataPlaneServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    issuer,
    handshakeTimeoutMs: 300,
    log: (line) => log.push(line),
  });
  try {
    const session = await server.openSession({ module: "m", scope: "push" });
    // A silent client holds a handshake open while everything else happens.
    const silent = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    const silentRead = silent.read(new Uint8Array(1));
    const garbage = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    await writeAll(garbage, new TextEncoder().encode("garbage!garbage!"));
    assertEquals(await garbage.read(new Uint8Array(1)), null);
    garbage.close();
    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, "not.a.jwt"),
      DataPlaneRejectedError,
      /^Data plane 127\.0\.0\.1:\d+ closed the connection without accepting the token$/,
    );
    const foreign = await new TokenIssuer().issue({
      sessionId: session.id,
      module: "m",
      scope: "push",
    });
    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, foreign),
      DataPlaneRejectedError,
    );
    const unknown = await issuer.issue({
      sessionId: "nope",
      module: "m",
      scope: "push",
    });
    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, unknown),
      DataPlaneRejectedError,
    );
    const wrongScope = await issuer.issue({
      sessionId: session.id,
      module: "m",
      scope: "pull",
    });
    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, wrongScope),
      DataPlaneRejectedError,
    );

    // The real one still works, and bytes flow both ways.
    const conn = await dialDataPlane("127.0.0.1", server.port, session.token);
    const accepted = await session.connection;
    await writeAll(conn, new Uint8Array([42, 43]));
    assertEquals(await readExact(accepted, 2), new Uint8Array([42, 43]));
    await writeAll(accepted, new Uint8Array([7]));
    assertEquals(await readExact(conn, 1), new Uint8Array([7]));
    conn.close();
    accepted.close();

    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, session.token),
      DataPlaneRejectedError,
    );
    assertEquals(await silentRead, null);
    silent.close();
    assertEquals(reasons(log), [
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (Not a blit data-plane hello)",
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (Token does not match its session)",
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (Token is for no pending session)",
      // Two such rejections, one line: repeats of a cause are held back.
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (Token signature or format is invalid)",
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (Token was already used)",
      "blit-daemon: data plane: rejected 127.0.0.1:PORT (no token within 300 ms)",
    ]);
  } finally {
    server.close();
  }
});

Deno.test("data plane: a token for a cancelled session is refused; sessions time out", async () => {
  const server = DataPlaneServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    issuer: new TokenIssuer(),
    log: () => {},
  });
  try {
    const cancelled = await server.openSession({ module: "m", scope: "pull" });
    cancelled.cancel();
    await assertRejects(
      () => cancelled.connection,
      DataPlaneRejectedError,
      /^Data session cancelled$/,
    );
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    await writeAll(conn, encodeHello(cancelled.token));
    assertEquals(await conn.read(new Uint8Array(1)), null);
    conn.close();
    const lonely = await server.openSession({
      module: "m",
      scope: "pull",
      timeoutMs: 50,
    });
    await assertRejects(
      () => lonely.connection,
      DataPlaneRejectedError,
      /^No data connection within 50 ms$/,
    );
  } finally {
    server.close();
  }
});

Deno.test("data plane: close rejects pending sessions and refuses new ones", async () => {
  const server = DataPlaneServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    issuer: new TokenIssuer(),
    log: () => {},
  });
  const session = await server.openSession({ module: "m", scope: "push" });
  server.close();
  await assertRejects(
    () => session.connection,
    DataPlaneRejectedError,
    /^Data plane closed$/,
  );
  await assertRejects(
    () => server.openSession({ module: "m", scope: "push" }),
    DataPlaneRejectedError,
    /^Data plane is closed$/,
  );
  assertThrows(
    () =>
      DataPlaneServer.listen({
        hostname: "127.0.0.1",
        port: 0,
        issuer: new TokenIssuer(),
        handshakeTimeoutMs: 0,
      }),
    RangeError,
    /^handshakeTimeoutMs must be a positive number, got 0$/,
  );
});

Deno.test("dialDataPlane: a closed port is unreachable with the reason", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const error = await assertRejects(
    () => dialDataPlane("127.0.0.1", port, "t"),
    DataPlaneUnreachableError,
  );
  assertEquals(
    error.message,
    `Data plane 127.0.0.1:${port} unreachable (connection refused)`,
  );
  assertEquals(
    [
      (error as DataPlaneUnreachableError).address,
      (error as DataPlaneUnreachableError).reason,
    ],
    [`127.0.0.1:${port}`, "connection refused"],
  );
  await assertRejects(
    () => dialDataPlane("127.0.0.1", 0, "t"),
    RangeError,
    /^port must be an integer 1-65535, got 0$/,
  );
});

Deno.test("dialDataPlane: a peer that accepts but never answers is unreachable", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const accepted = listener.accept();
  const error = await assertRejects(
    () => dialDataPlane("127.0.0.1", port, "t", { timeoutMs: 200 }),
    DataPlaneUnreachableError,
  );
  assertEquals(
    error.message,
    `Data plane 127.0.0.1:${port} unreachable (no reply within 200 ms)`,
  );
  (await accepted).close();
  listener.close();
});
