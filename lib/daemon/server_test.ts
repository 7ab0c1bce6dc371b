import { assertEquals } from "../../tests/_assert.ts";
import { loadConfig } from "./config_load.ts";
import { startDaemon } from "./server.ts";

Deno.test("startDaemon: control and data ports on loopback; stop closes them", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const lines: string[] = [];
    const daemon = await startDaemon(
      loadConfig({ root, port: 0, bind: "127.0.0.1" }),
      { log: (l) => lines.push(l) },
    );
    assertEquals(
      [daemon.address, daemon.port > 0, (daemon.dataPort ?? 0) > 0],
      ["127.0.0.1", true, true],
    );
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: daemon.port,
    });
    conn.close();
    await daemon.stop();
    let refused = false;
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: daemon.port }))
        .close();
    } catch {
      refused = true;
    }
    assertEquals(refused, true);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("startDaemon with forceGrpcData opens no data plane", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const daemon = await startDaemon(
      loadConfig({ root, port: 0, bind: "127.0.0.1", forceGrpcData: true }),
      { log: () => {} },
    );
    assertEquals(daemon.dataPort, null);
    await daemon.stop();
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
