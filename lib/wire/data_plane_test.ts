import {
  assertEquals,
  assertMatch,
  assertRejects,
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

Deno.test("data plane: only a valid, unused token for a pending session gets through", async () => {
  const log: string[] = [];
  const server = DataPlaneServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    issuer: new TokenIssuer(),
    handshakeTimeoutMs: 300,
    log: (line) => log.push(line),
  });
  try {
    const session = await server.openSession({ module: "m", scope: "push" });
    // Garbage, a forged token, a silent client.
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
    );
    const silent = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.port,
    });
    assertEquals(await silent.read(new Uint8Array(1)), null);
    silent.close();
    // The real one still works, and its bytes flow.
    const conn = await dialDataPlane("127.0.0.1", server.port, session.token);
    const accepted = await session.connection;
    await writeAll(conn, new Uint8Array([42]));
    assertEquals(await readExact(accepted, 1), new Uint8Array([42]));
    conn.close();
    accepted.close();
    // Replay.
    await assertRejects(
      () => dialDataPlane("127.0.0.1", server.port, session.token),
      DataPlaneRejectedError,
    );
    assertEquals(log.length, 4);
    assertMatch(
      log[0],
      /^blit-daemon: data plane: rejected 127\.0\.0\.1:\d+ \(Not a blit data-plane hello\)$/,
    );
    assertMatch(log[2], /no token within 300 ms/);
    assertMatch(log[3], /already used/);
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
      /cancelled/,
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
      /No data connection within 50 ms/,
    );
  } finally {
    server.close();
  }
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
});
