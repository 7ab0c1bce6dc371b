import { assertEquals } from "../../tests/_assert.ts";
import type { PerfRecord } from "./perf_history.ts";
import {
  clearSnapshots,
  readCachedSnapshot,
  saveSnapshot,
  SNAPSHOT_FILE,
  SNAPSHOT_RUNS,
  SNAPSHOTS_KEPT,
} from "./snapshot_cache.ts";

const run = (i: number): PerfRecord => ({
  ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
  op: "push",
  transport: "tcp",
  streams: 1 + (i % 4),
  files: i,
  bytes: 100 * i,
  duration_ms: 10,
  remote: null,
  source: "client",
  handshake_ms: 0,
  manifest_ms: 0,
  transfer_ms: 10,
  retries: 0,
  fallback: false,
});

Deno.test("snapshot cache: kept per route and module, replaced by the next fetch, read back as records", () => {
  const dir = Deno.makeTempDirSync();
  try {
    assertEquals(readCachedSnapshot(dir, "h:1", "m"), undefined);
    assertEquals(
      saveSnapshot(dir, "h:1", "m", { enabled: true, runs: [run(1), run(2)] }),
      true,
    );
    assertEquals(
      saveSnapshot(dir, "h:1", "n", { enabled: false, runs: [] }),
      true,
    );
    assertEquals(
      saveSnapshot(dir, "h:2", "m", { enabled: true, runs: [run(3)] }),
      true,
    );
    assertEquals(
      readCachedSnapshot(dir, "h:1", "m")?.runs.map((r) => r.files),
      [1, 2],
    );
    const none = readCachedSnapshot(dir, "h:1", "n");
    assertEquals([none?.enabled, none?.runs], [false, []]);
    // When each was fetched is kept, later ones later.
    assertEquals(
      none!.fetched! > readCachedSnapshot(dir, "h:1", "m")!.fetched!,
      true,
    );
    assertEquals(
      readCachedSnapshot(dir, "h:2", "m")?.runs.map((r) => r.files),
      [3],
    );
    // A later fetch replaces the route's module's snapshot.
    saveSnapshot(dir, "h:1", "m", { enabled: true, runs: [run(4)] });
    assertEquals(
      readCachedSnapshot(dir, "h:1", "m")?.runs.map((r) => r.files),
      [4],
    );
    // No temporary file is left beside it.
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
      SNAPSHOT_FILE,
    ]);
    assertEquals(clearSnapshots(dir), true);
    assertEquals(readCachedSnapshot(dir, "h:1", "m"), undefined);
    assertEquals(clearSnapshots(dir), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("snapshot cache: bounded (runs a snapshot, snapshots kept); torn files and junk runs are ignored", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const many = Array.from({ length: SNAPSHOT_RUNS + 50 }, (_, i) => run(i));
    saveSnapshot(dir, "h:0", "m", { enabled: true, runs: many });
    const kept = readCachedSnapshot(dir, "h:0", "m")!.runs;
    assertEquals(kept.length, SNAPSHOT_RUNS);
    assertEquals(kept[0].files, 50); // the newest are kept
    for (let i = 1; i <= SNAPSHOTS_KEPT; i++) {
      saveSnapshot(dir, `h:${i}`, "m", { enabled: true, runs: [run(i)] });
    }
    // The first fetched is the one dropped.
    assertEquals(readCachedSnapshot(dir, "h:0", "m"), undefined);
    assertEquals(
      readCachedSnapshot(dir, `h:${SNAPSHOTS_KEPT}`, "m")?.runs.length,
      1,
    );
    assertEquals(
      Object.keys(JSON.parse(Deno.readTextFileSync(`${dir}/${SNAPSHOT_FILE}`)))
        .length,
      SNAPSHOTS_KEPT,
    );
    // A run that is not a history record is left out; other junk is none.
    Deno.writeTextFileSync(
      `${dir}/${SNAPSHOT_FILE}`,
      JSON.stringify({
        "h:1/m": { fetched: 1, enabled: true, runs: [run(7), { op: 5 }, "x"] },
        "h:2/m": { fetched: "soon", enabled: true, runs: [] },
        "h:3/m": null,
      }),
    );
    assertEquals(
      readCachedSnapshot(dir, "h:1", "m")?.runs.map((r) => r.files),
      [7],
    );
    assertEquals(readCachedSnapshot(dir, "h:2", "m"), undefined);
    assertEquals(readCachedSnapshot(dir, "h:3", "m"), undefined);
    for (const torn of ['{"h:1/m": {"fetched": 1', "[1,2]", "null", ""]) {
      Deno.writeTextFileSync(`${dir}/${SNAPSHOT_FILE}`, torn);
      assertEquals(readCachedSnapshot(dir, "h:1", "m"), undefined);
    }
    // A file far bigger than blit writes is not read (start-up stays
    // bounded), and the next save replaces it.
    Deno.writeTextFileSync(
      `${dir}/${SNAPSHOT_FILE}`,
      JSON.stringify({
        "h:1/m": { fetched: 1, enabled: true, runs: [run(9)] },
        pad: "x".repeat(5 << 20),
      }),
    );
    assertEquals(readCachedSnapshot(dir, "h:1", "m"), undefined);
    // A torn file is replaced whole by the next save.
    assertEquals(
      saveSnapshot(dir, "h:1", "m", { enabled: true, runs: [run(8)] }),
      true,
    );
    assertEquals(
      readCachedSnapshot(dir, "h:1", "m")?.runs.map((r) => r.files),
      [8],
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("snapshot cache: a state directory that can't be written fails the save, never throws", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/file`, "");
    // A path under a regular file can't be a directory.
    assertEquals(
      saveSnapshot(`${dir}/file/state`, "h:1", "m", {
        enabled: true,
        runs: [],
      }),
      false,
    );
    assertEquals(
      readCachedSnapshot(`${dir}/file/state`, "h:1", "m"),
      undefined,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
