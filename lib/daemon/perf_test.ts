import { assertEquals } from "../../tests/_assert.ts";
import { readPerfHistory } from "../telemetry/perf_history.ts";
import { daemonHistory } from "./perf.ts";

Deno.test("daemonHistory: appends land in the state directory's history, in order", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const history = daemonHistory(dir);
    for (const files of [1, 2, 3]) {
      history.append({
        ts: new Date().toISOString(),
        op: "push",
        transport: "tcp",
        streams: 1,
        files,
        bytes: files,
        duration_ms: 1,
        remote: null,
        handshake_ms: 0,
        manifest_ms: 0,
        transfer_ms: 1,
        retries: 0,
        fallback: false,
      });
    }
    for (let i = 0; i < 100 && readPerfHistory(dir).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(readPerfHistory(dir).map((r) => r.files), [1, 2, 3]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
