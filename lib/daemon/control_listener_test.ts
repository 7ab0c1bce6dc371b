import { assertEquals } from "../../tests/_assert.ts";
import * as grpc from "../deps/grpc.ts";
import { RateLimitedLog } from "../wire/rate_log.ts";
import { serveControlPlane } from "./control_listener.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Reads `conn` until it ends (true) or 3 s pass (false). */
async function endsSoon(conn: Deno.Conn): Promise<boolean> {
  const started = Date.now();
  for (let i = 0; i < 100 && Date.now() - started < 3000; i++) {
    const n = await conn.read(new Uint8Array(4096)).catch(() => null);
    if (n === null) return true;
  }
  return false;
}

Deno.test("serveControlPlane: a connection that says nothing is closed after the handshake time; over the cap, one that spoke keeps its slot and the new one is marked refused", async () => {
  const server = new grpc.Server();
  const refused: [string, boolean][] = [];
  const lines: string[] = [];
  const plane = serveControlPlane(server, {
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 8,
    maxPerAddress: 1,
    handshakeTimeoutMs: 100,
    log: new RateLimitedLog((line) => lines.push(line)),
    onRefusedPeer: (peer, is) => refused.push([peer, is]),
  });
  try {
    const quiet = await Deno.connect({
      hostname: "127.0.0.1",
      port: plane.port,
    });
    // The quiet one is dropped once its time is up: reads reach the end
    // (whatever the server said first), well before this test gives up.
    assertEquals(await endsSoon(quiet), true);
    quiet.close();
    const talker = await Deno.connect({
      hostname: "127.0.0.1",
      port: plane.port,
    });
    await talker.write(PREFACE);
    // Until the server has read the preface, the talker is still silent.
    await new Promise((r) => setTimeout(r, 50));
    const over = await Deno.connect({
      hostname: "127.0.0.1",
      port: plane.port,
    });
    for (let i = 0; i < 200 && refused.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(refused[0]?.[1], true);
    talker.close();
    over.close();
  } finally {
    plane.close();
    server.forceShutdown();
  }
});

Deno.test("serveControlPlane: silent connections make way; an address's oldest silent one is closed for its new one", async () => {
  const server = new grpc.Server();
  const refused: string[] = [];
  const plane = serveControlPlane(server, {
    hostname: "127.0.0.1",
    port: 0,
    maxConnections: 64,
    maxPerAddress: 4,
    handshakeTimeoutMs: 60_000,
    log: new RateLimitedLog(() => {}),
    onRefusedPeer: (peer, is) => is && refused.push(peer),
  });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      conns.push(
        await Deno.connect({ hostname: "127.0.0.1", port: plane.port }),
      );
      await new Promise((r) => setTimeout(r, 20));
    }
    // The two oldest were closed to make room (long before the 60 s
    // handshake time); none of the new ones was refused.
    assertEquals(await endsSoon(conns[0]), true);
    assertEquals(await endsSoon(conns[1]), true);
    assertEquals(refused, []);
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed by the server
      }
    }
    plane.close();
    server.forceShutdown();
  }
});
