import { assertEquals, assertMatch } from "../../tests/_assert.ts";
import { acceptLoop } from "./accept_loop.ts";
import { RateLimitedLog } from "./rate_log.ts";

async function closedByPeer(conn: Deno.Conn): Promise<boolean> {
  try {
    return await conn.read(new Uint8Array(1)) === null;
  } catch {
    return true; // reset
  } finally {
    conn.close();
  }
}

Deno.test("acceptLoop: over the per-address cap a connection is closed; a released slot is reused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const lines: string[] = [];
  const held: { conn: Deno.Conn; release: () => void }[] = [];
  const done = acceptLoop(listener, (conn, release) => {
    held.push({ conn, release });
  }, {
    name: "test plane",
    maxConnections: 10,
    maxPerAddress: 2,
    log: new RateLimitedLog((l) => lines.push(l)),
  });
  const dial = () => Deno.connect({ hostname: "127.0.0.1", port });
  const a = await dial();
  const b = await dial();
  const c = await dial();
  assertEquals(await closedByPeer(c), true);
  assertEquals(held.length, 2);
  assertEquals(lines.length, 1);
  assertMatch(
    lines[0],
    /^blit-daemon: test plane: refusing connections from 127\.0\.0\.1: 2 open \(limits\.maxConnectionsPerClient\)$/,
  );
  // Give one back: the next connection is handed over again.
  held[0].conn.close();
  held[0].release();
  const d = await dial();
  for (let i = 0; i < 100 && held.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(held.length, 3);
  for (const h of held.slice(1)) h.conn.close();
  for (const conn of [a, b, d]) conn.close();
  listener.close();
  await done;
});
