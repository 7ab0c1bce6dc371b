import { assertEquals, assertMatch } from "../../tests/_assert.ts";
import { acceptLoop } from "./accept_loop.ts";
import { RateLimitedLog } from "./rate_log.ts";

/** Whether the peer closes `conn` within 5 s (then it is closed here too). */
async function closedByPeer(conn: Deno.Conn): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      conn.read(new Uint8Array(1)).then((n) => n === null, () => true),
      new Promise<boolean>((r) => timer = setTimeout(() => r(false), 5000)),
    ]);
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}

Deno.test("acceptLoop: over the per-address cap a connection is closed; a released slot is reused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const lines: string[] = [];
  const held: { conn: Deno.Conn; release: () => void }[] = [];
  // Connections that have spoken (none is evictable).
  const done = acceptLoop(listener, (conn, release, spoke) => {
    spoke();
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

Deno.test("acceptLoop: a connection that has not spoken makes way for a new one (its address's oldest first); one that spoke never does", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const held: { conn: Deno.Conn; release: () => void }[] = [];
  let first = true;
  const done = acceptLoop(listener, (conn, release, spoke) => {
    // The first connection speaks; the others stay silent.
    if (first) spoke();
    first = false;
    held.push({ conn, release });
  }, {
    name: "test plane",
    maxConnections: 10,
    maxPerAddress: 3,
    log: new RateLimitedLog(() => {}),
  });
  const dial = () => Deno.connect({ hostname: "127.0.0.1", port });
  const talker = await dial();
  const silent1 = await dial();
  const silent2 = await dial();
  for (let i = 0; i < 100 && held.length < 3; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  // At the cap: the next connection closes the oldest silent one.
  const next = await dial();
  assertEquals(await closedByPeer(silent1), true);
  for (let i = 0; i < 100 && held.length < 4; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(held.length, 4);
  // The one that spoke is still open: a write goes through, no reset.
  assertEquals(await talker.write(new Uint8Array([1])), 1);
  for (const h of held) {
    try {
      h.conn.close();
    } catch {
      // evicted: closed already
    }
  }
  for (const conn of [talker, silent2, next]) conn.close();
  listener.close();
  await done;
});
