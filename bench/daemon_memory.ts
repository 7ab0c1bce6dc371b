// Benchmark: what a manifest makes the daemon hold. Peak RSS of the daemon
// (its sandboxed process) for a hostile manifest (300,000 directories with
// ~4 KB paths, dry-run mirror push) and an honest one (1,000,000 files in
// 1,000 directories, dry-run mirror push), each on a fresh daemon.
//
//   deno run -A bench/daemon_memory.ts [--files 1000000]
import { parseArgs } from "node:util";
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/rpc/codec.ts";
import {
  EntryKind,
  type FileHeader,
  FileHeaderSchema,
} from "../lib/rpc/service.ts";
import {
  daemonPids,
  dryRunMirrorPush,
  grpcClient,
  peakRssMiB,
  startDaemon,
} from "../tests/_daemon.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { files: { type: "string", default: "1000000" } },
});
const files = Number(values.files);
if (!Number.isInteger(files) || files < 1000 || files > 10_000_000) {
  throw new RangeError("--files must be an integer 1000-10000000");
}

/** Streams `entries` as a dry-run mirror push; the call's status and time. */
async function dryRunMirror(
  entries: Iterable<FileHeader[]>,
): Promise<
  { status: grpc.StatusObject; sent: number; ms: number; peak: number }
> {
  const module = Deno.makeTempDirSync({ prefix: "blit-bench-mem-" });
  const daemon = await startDaemon({ modules: { m: { path: module } } });
  const client = grpcClient(daemon.address);
  const started = performance.now();
  const { status: result, sent } = await dryRunMirrorPush(
    client,
    "m",
    entries,
  );
  const ms = performance.now() - started;
  const peak = peakRssMiB(daemonPids(daemon));
  client.close();
  await daemon.stop();
  Deno.removeSync(module, { recursive: true });
  return { status: result, sent, ms, peak };
}

function* hostile(): Iterable<FileHeader[]> {
  const tail = Array.from({ length: 16 }, (_, i) => String(i).repeat(250))
    .map((s) => s.slice(0, 250)).join("/");
  for (let i = 0; i < 300_000; i += 256) {
    yield Array.from({ length: 256 }, (_, j) =>
      create(FileHeaderSchema, {
        path: `${i + j}/${tail}`.slice(0, 4090),
        kind: EntryKind.DIR,
        mode: 0o755,
      }));
  }
}

function* honest(): Iterable<FileHeader[]> {
  const perDir = 1000;
  for (let d = 0; d * perDir < files; d++) {
    const dir = `dir-${String(d).padStart(4, "0")}`;
    yield [
      create(FileHeaderSchema, { path: dir, kind: EntryKind.DIR, mode: 0o755 }),
    ];
    for (let f = 0; f < perDir; f += 500) {
      yield Array.from(
        { length: Math.min(500, perDir - f) },
        (_, j) =>
          create(FileHeaderSchema, {
            path: `${dir}/file-${
              String(d * perDir + f + j).padStart(7, "0")
            }.dat`,
            kind: EntryKind.FILE,
            size: 4096n,
            mtimeMs: 1_700_000_000_000n,
            mode: 0o644,
          }),
      );
    }
  }
}

for (
  const [name, entries] of [
    ["hostile: 300,000 dirs x ~4 KB paths", hostile()],
    [
      `honest: ${files.toLocaleString("en")} files in 1,000-file dirs`,
      honest(),
    ],
  ] as const
) {
  const r = await dryRunMirror(entries);
  const outcome = r.status.code === 0
    ? "accepted"
    : `${grpc.status[r.status.code]}: ${r.status.details}`;
  console.log(
    `${name}: sent ${r.sent.toLocaleString("en")} entries in ${
      (r.ms / 1000).toFixed(1)
    } s; daemon peak RSS ${r.peak.toFixed(0)} MiB; ${outcome}`,
  );
}
