import { assertEquals } from "../../tests/_assert.ts";
import * as grpc from "../deps/grpc.ts";
import { RateLimitedLog } from "../wire/rate_log.ts";
import { serveControlPlane } from "./control_listener.ts";

Deno.test("serveControlPlane: a connection that says nothing is closed after the handshake time; one over the cap is marked refused", async () => {
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
    const over = await Deno.connect({
      hostname: "127.0.0.1",
      port: plane.port,
    });
    // The quiet one is dropped once its time is up: reads reach the end
    // (whatever the server said first), well before this test gives up.
    const started = Date.now();
    let ended = false;
    for (let i = 0; i < 100 && Date.now() - started < 3000; i++) {
      const n = await quiet.read(new Uint8Array(4096)).catch(() => null);
      if (n === null) {
        ended = true;
        break;
      }
    }
    assertEquals(ended, true);
    for (let i = 0; i < 200 && refused.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(refused[0]?.[1], true);
    quiet.close();
    over.close();
  } finally {
    plane.close();
    server.forceShutdown();
  }
});
