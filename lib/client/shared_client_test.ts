import { assertEquals } from "../../tests/_assert.ts";
import { withInProcessDaemon } from "../../tests/_in_process.ts";
import { holdConnection, sharedClient } from "./shared_client.ts";

Deno.test("sharedClient: while an operation holds the daemon's connection its calls share one client; a broken one is replaced; unheld ones close", async () => {
  await withInProcessDaemon(async ({ address }) => {
    const where = address();
    const release = holdConnection(where);
    const a = await sharedClient(where);
    a.release();
    const b = await sharedClient(where);
    assertEquals(b.client, a.client);
    b.release(true);
    const c = await sharedClient(where);
    assertEquals(c.client === a.client, false);
    c.release();
    release();
    // Not held: each call gets its own client, closed when it is done.
    const d = await sharedClient(where);
    d.release();
    const e = await sharedClient(where);
    assertEquals(e.client === d.client, false);
    e.release();
  });
});
