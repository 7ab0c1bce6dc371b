import { assertEquals } from "../../tests/_assert.ts";
import {
  appendPerfRecord,
  MAX_HISTORY_BYTES,
  type PerfRecord,
  readPerfHistory,
  stateDir,
} from "./perf_history.ts";

const record: PerfRecord = {
  ts: "2026-01-01T00:00:00.000Z",
  op: "push",
  transport: "tcp",
  streams: 1,
  files: 1,
  bytes: 10,
  duration_ms: 6,
  remote: "127.0.0.1:50051",
  handshake_ms: 1,
  manifest_ms: 2,
  transfer_ms: 3,
  retries: 0,
  fallback: false,
};

Deno.test("perf history: state dir order, append, read, 1 MiB cap", () => {
  assertEquals(
    stateDir({ BLIT_STATE_DIR: "/a", XDG_STATE_HOME: "/b", HOME: "/h" }),
    "/a",
  );
  assertEquals(stateDir({ XDG_STATE_HOME: "/b", HOME: "/h" }), "/b/blit");
  assertEquals(stateDir({ HOME: "/h" }), "/h/.local/state/blit");
  const dir = Deno.makeTempDirSync();
  assertEquals(appendPerfRecord(`${dir}/new`, record), true);
  assertEquals(readPerfHistory(`${dir}/new`), [record]);
  const path = `${dir}/new/perf_history.jsonl`;
  const line = JSON.stringify(record) + "\n";
  Deno.writeTextFileSync(
    path,
    line.repeat(Math.ceil(MAX_HISTORY_BYTES / line.length)),
  );
  assertEquals(appendPerfRecord(`${dir}/new`, { ...record, op: "last" }), true);
  const size = Deno.statSync(path).size;
  assertEquals(size < MAX_HISTORY_BYTES, true);
  assertEquals(readPerfHistory(`${dir}/new`).at(-1)?.op, "last");
  Deno.writeTextFileSync(path, "{torn\n" + line, { append: true });
  assertEquals(readPerfHistory(`${dir}/new`).at(-1)?.op, "push");
  // A directory that can't be written never throws.
  Deno.writeTextFileSync(`${dir}/file`, "");
  assertEquals(appendPerfRecord(`${dir}/file/sub`, record), false);
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("perf history: read for one route, only its runs are parsed and kept", () => {
  const dir = Deno.makeTempDirSync();
  try {
    for (const remote of ["h:1", "h:10", null, "h:1"]) {
      appendPerfRecord(dir, { ...record, remote });
    }
    assertEquals(
      readPerfHistory(dir, "h:1").map((r) => r.remote),
      ["h:1", "h:1"],
    );
    assertEquals(readPerfHistory(dir, "h:10").length, 1);
    assertEquals(readPerfHistory(dir, "h:2"), []);
    assertEquals(readPerfHistory(dir).length, 4);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("perf history: a bounded read takes the lines that start in the file's last bytes", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/perf_history.jsonl`;
    const lines = Array.from(
      { length: 40 },
      (_, i) => JSON.stringify({ ...record, files: i }) + "\n",
    );
    Deno.writeTextFileSync(path, lines.join(""));
    const size = Deno.statSync(path).size;
    const files = (bytes?: number) =>
      readPerfHistory(dir, record.remote ?? undefined, bytes).map((r) =>
        r.files
      );
    const all = Array.from({ length: 40 }, (_, i) => i);
    assertEquals(files(), all);
    // The whole file, or more: all of it.
    assertEquals(files(size), all);
    assertEquals(files(size + 100), all);
    // A window starting exactly at a line's start keeps that line.
    const lastThree = lines.slice(-3).join("").length;
    assertEquals(files(lastThree), [37, 38, 39]);
    // One byte less cuts line 37: it is left out, not read torn.
    assertEquals(files(lastThree - 1), [38, 39]);
    // A window inside the last line: nothing whole.
    assertEquals(files(5), []);
    // A window that is no size reads as no history (never a throw).
    assertEquals(readPerfHistory(dir, undefined, 0), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
