// Delta transfer and compression through the real CLI and daemon: only
// what changed crosses, over the data plane and over gRPC, push and pull;
// compressed data comes back exact; hostile instructions and descriptions
// through the raw protocol are refused; an interrupted delta resumes.
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { killChild, runCli, spawnCli, tempFiles, waitFor } from "./_helpers.ts";
import {
  grpcClient,
  openPull,
  openPush,
  startDaemon,
  type TestDaemon,
} from "./_daemon.ts";
import { header, manifest, until } from "./_push.ts";
import { create } from "../lib/rpc/codec.ts";
import { zstdCompressSync } from "node:zlib";
import { dialDataPlane } from "../lib/wire/data_plane.ts";
import { writeAll } from "../lib/wire/socket.ts";
import { hashBytes } from "../lib/fs/hash.ts";
import { unpackedFileList } from "../lib/rpc/convert.ts";
import {
  encodeEnd,
  encodeFileHeader,
  encodeHash,
  fileHeaderSize,
  writeDescribeAgain,
} from "../lib/wire/frame_codec.ts";
import {
  BasisOfferSchema,
  Choice,
  EntryKind,
  FileDataSchema,
  FileListSchema,
  NeedCompleteSchema,
  PullHeaderSchema,
  PushHeaderSchema,
  TransferOptionsSchema,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";

const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
const MiB = 1 << 20;

/** Distinct pseudo-random bytes (xorshift), `seed` picks the stream. */
function bytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >> 2);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    words[i] = s;
  }
  return out;
}

function splice(
  data: Uint8Array,
  at: number,
  remove: number,
  insert: Uint8Array,
) {
  const out = new Uint8Array(data.length - remove + insert.length);
  out.set(data.subarray(0, at));
  out.set(insert, at);
  out.set(data.subarray(at + remove), at + insert.length);
  return out;
}

function same(a: string, b: string): void {
  const x = Deno.readFileSync(a);
  const y = Deno.readFileSync(b);
  assertEquals(x.length, y.length, `${a} and ${b} differ in size`);
  assert(x.every((v, i) => v === y[i]), `${a} and ${b} differ`);
  assertEquals(
    Deno.statSync(a).mtime?.getTime(),
    Deno.statSync(b).mtime?.getTime(),
  );
  assertEquals(
    Deno.statSync(a).mode! & 0o7777,
    Deno.statSync(b).mode! & 0o7777,
  );
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

interface Bed {
  work: string;
  src: string;
  module: string;
  daemon: TestDaemon;
}

async function withBed(fn: (bed: Bed) => Promise<void>): Promise<void> {
  const work = Deno.realPathSync(
    Deno.makeTempDirSync({ prefix: "blit-delta-" }),
  );
  const src = `${work}/src`;
  const module = `${work}/module`;
  Deno.mkdirSync(src);
  Deno.mkdirSync(module);
  const daemon = await startDaemon({ modules: { m: { path: module } } });
  try {
    await fn({ work, src, module, daemon });
  } finally {
    await daemon.stop();
    Deno.removeSync(work, { recursive: true });
  }
}

/**
 * `count` files f0, f1, ... of `size + 100 * i` random bytes (seeds from
 * `seed`), the same in `src` and `dest`; their names.
 */
function sameFiles(
  src: string,
  dest: string,
  count: number,
  size: number,
  seed: number,
): string[] {
  const names = Array.from({ length: count }, (_, i) => `f${i}`);
  names.forEach((name, i) => {
    const body = bytes(size + 100 * i, seed + i);
    Deno.writeFileSync(`${src}/${name}`, body);
    Deno.writeFileSync(`${dest}/${name}`, body);
  });
  return names;
}

/**
 * Each of `names` under `dir` grown by 200 bytes (seeds from `seed`), at
 * its end (`append`) or 10,000 bytes in (`insert`), with mtime `mtime`.
 */
function grow(
  dir: string,
  names: string[],
  step: string,
  seed: number,
  mtime: number,
): void {
  names.forEach((name, i) => {
    const old = Deno.readFileSync(`${dir}/${name}`);
    const at = step === "append" ? old.length : 10_000;
    Deno.writeFileSync(
      `${dir}/${name}`,
      splice(old, at, 0, bytes(200, seed + i)),
    );
    Deno.utimeSync(`${dir}/${name}`, mtime, 1_700_000_000);
  });
}

/**
 * For each of `steps`: `names` under `grown` grown so (see `grow`; seeds
 * `spacing` apart, mtimes a second apart), the CLI run with `args` (and
 * `--stats`), `to` then checked to match `from` exactly and `temps` to
 * hold no temporary file. Returns the `--stats` line `stat` of each run.
 */
async function growRounds(o: {
  grown: string;
  from: string;
  to: string;
  names: string[];
  steps: string[];
  spacing: number;
  args: string[];
  env: Record<string, string>;
  stat: string;
  temps: string;
}): Promise<number[]> {
  const seen: number[] = [];
  for (const [run, step] of o.steps.entries()) {
    grow(o.grown, o.names, step, o.spacing * run, 1_700_000_000 + run);
    const [command, ...rest] = o.args;
    const out = await runCli([command, "--stats", ...rest], { env: o.env });
    assertEquals(out.code, 0, out.stderr);
    seen.push(statBytes(out.stdout, o.stat));
    for (const name of o.names) same(`${o.from}/${name}`, `${o.to}/${name}`);
    assertEquals(tempFiles(o.temps), []);
  }
  return seen;
}

/** The number on `--stats`' line `label` in `stdout`. */
function statBytes(stdout: string, label: string): number {
  const line = stdout.match(new RegExp(`^${label}: ([\\d,]+)`, "m"));
  return Number(line![1].replaceAll(",", ""));
}

/** `blit push --json --no-whole-file` of `src` to `url` (with `extra`): its summary, once it succeeded. */
async function deltaPush(
  src: string,
  url: string,
  extra: readonly string[] = [],
): Promise<ReturnType<typeof JSON.parse>> {
  const run = await runCli(
    ["push", ...extra, "--json", "--no-whole-file", src, url],
    { env },
  );
  assertEquals(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/**
 * The two sides of a delta test run in `direction`: `from` holds the new
 * files, `to` the old copies (the bed's source and the module's `d`, or
 * `d` and `local`), both made, and `local`, the pull's destination.
 */
function sides(
  direction: "push" | "pull",
  { work, src, module }: Bed,
): { from: string; to: string; local: string } {
  const local = `${work}/local`;
  Deno.mkdirSync(local);
  Deno.mkdirSync(`${module}/d`);
  return direction === "push"
    ? { from: src, to: `${module}/d`, local }
    : { from: `${module}/d`, to: local, local };
}

/**
 * `--no-whole-file` push of `src` to `url`, or pull of `url` into
 * `local`; its `--json` summary (the run must succeed).
 */
async function deltaBoth(
  direction: "push" | "pull",
  src: string,
  url: string,
  local: string,
): Promise<ReturnType<typeof JSON.parse>> {
  const run = await runCli(
    direction === "push"
      ? ["push", "--json", "--no-whole-file", src, url]
      : ["pull", "--json", "--no-whole-file", url, local],
    { env },
  );
  assertEquals(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** An old tree at `dir`, and the same tree changed at `next`. */
function oldAndNew(old: string, next: string): void {
  const big = bytes(3 * MiB, 1);
  const text = new TextEncoder().encode(
    Array.from({ length: 30_000 }, (_, i) => `line ${i}: the quick brown fox\n`)
      .join(""),
  );
  Deno.writeFileSync(`${old}/big`, big);
  Deno.writeFileSync(`${old}/text`, text);
  Deno.writeFileSync(`${old}/small`, new Uint8Array(100));
  // Changed: an edit, an insertion, a deletion, an append; a new file.
  let changed = big.slice();
  changed.set(bytes(5000, 2), 1 * MiB);
  changed = splice(changed, 2 * MiB, 0, bytes(300, 3));
  changed = splice(changed, 100, 4000, new Uint8Array(0));
  Deno.writeFileSync(`${next}/big`, changed);
  Deno.writeFileSync(
    `${next}/text`,
    splice(text, text.length, 0, bytes(2000, 4)),
  );
  Deno.writeFileSync(`${next}/small`, new Uint8Array(100).fill(1));
  Deno.writeFileSync(`${next}/fresh`, bytes(50_000, 5));
  Deno.chmodSync(`${next}/text`, 0o600);
  for (const name of ["big", "text", "small", "fresh"]) {
    Deno.utimeSync(
      `${next}/${name}`,
      1_700_000_000,
      1_700_000_000 + name.length,
    );
  }
}

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  Deno.test(`delta push (${how}): only what changed crosses; the files land exact`, async () => {
    await withBed(async ({ src, module, daemon }) => {
      Deno.mkdirSync(`${module}/d`);
      oldAndNew(`${module}/d`, src);
      const s = await deltaPush(src, `${daemon.url}/m/d`, extra);
      assertEquals(s.transport, how === "TCP" ? "tcp" : "grpc");
      assertEquals(s.files_transferred, 4);
      assertEquals(s.delta, true);
      const total = ["big", "text", "small", "fresh"]
        .reduce((n, f) => n + Deno.statSync(`${src}/${f}`).size, 0);
      assertEquals(s.bytes_transferred, total);
      assertEquals(s.bytes_literal + s.bytes_matched, total);
      // The 3 MiB file and the text came mostly from the old copies.
      assert(s.bytes_matched > 3 * MiB, `matched ${s.bytes_matched}`);
      assert(s.bytes_literal < 120_000, `literal ${s.bytes_literal}`);
      assert(s.bytes_on_wire < 200_000, `on the wire ${s.bytes_on_wire}`);
      for (const name of ["big", "text", "small", "fresh"]) {
        same(`${src}/${name}`, `${module}/d/${name}`);
      }
      assertEquals(tempFiles(module), []);
    });
  });

  Deno.test(`delta pull (${how}): a file changed on the daemon comes back as a delta`, async () => {
    await withBed(async ({ work, module, daemon }) => {
      const local = `${work}/local`;
      Deno.mkdirSync(local);
      oldAndNew(local, module);
      const run = await runCli(
        [
          "pull",
          ...extra,
          "--json",
          "--no-whole-file",
          `${daemon.url}/m/`,
          local,
        ],
        { env },
      );
      assertEquals(run.code, 0, run.stderr);
      const s = JSON.parse(run.stdout);
      assertEquals(s.delta, true);
      assertEquals(s.files_transferred, 4);
      assert(s.bytes_matched > 3 * MiB, `matched ${s.bytes_matched}`);
      assert(s.bytes_on_wire < 200_000, `on the wire ${s.bytes_on_wire}`);
      for (const name of ["big", "text", "small", "fresh"]) {
        same(`${module}/${name}`, `${local}/${name}`);
      }
      assertEquals(tempFiles(local), []);
    });
  });
}

/**
 * Old copies far bigger than what their files became, at `old`, and the
 * files at `next`: one cut to nothing, one to 1,000 bytes, one to 3 KiB
 * of a 4 MiB copy (over 1,024 times smaller); and one edited (a delta).
 */
function shrunkOldAndNew(old: string, next: string): void {
  const edited = bytes(MiB, 40);
  Deno.writeFileSync(`${old}/empty`, bytes(2 * MiB, 41));
  Deno.writeFileSync(`${old}/tiny`, bytes(2 * MiB, 42));
  Deno.writeFileSync(`${old}/cut`, bytes(4 * MiB, 43));
  Deno.writeFileSync(`${old}/edited`, edited);
  Deno.writeFileSync(`${next}/empty`, new Uint8Array(0));
  Deno.writeFileSync(`${next}/tiny`, bytes(1000, 44));
  Deno.writeFileSync(`${next}/cut`, bytes(3 * 1024, 43));
  const changed = edited.slice();
  changed.set(bytes(2000, 45), 300_000);
  Deno.writeFileSync(`${next}/edited`, changed);
  for (const name of SHRUNK) {
    Deno.utimeSync(`${next}/${name}`, 1_700_000_000, 1_700_000_000.5);
  }
}

const SHRUNK = ["empty", "tiny", "cut", "edited"];

for (const direction of ["push", "pull"] as const) {
  Deno.test(`delta ${direction}: old copies 1,024 times the size their files now have, or files under 1 KiB, are not described (they go whole); an edited file beside them still goes as a delta`, async () => {
    await withBed(async (bed) => {
      const { from: sender, to: receiver, local } = sides(direction, bed);
      shrunkOldAndNew(receiver, sender);
      const s = await deltaBoth(
        direction,
        bed.src,
        `${bed.daemon.url}/m/d`,
        local,
      );
      assertEquals(s.files_transferred, 4);
      assertEquals(s.delta, true);
      // Only the edited file came from its old copy (all but its 2,000
      // new bytes, give or take a chunk)...
      assert(
        s.bytes_matched > MiB - 40_000 && s.bytes_matched <= MiB - 2000,
        `matched ${s.bytes_matched}`,
      );
      // ... and only its old copy was described: the 8 MiB of the others
      // would have cost ~45 KB of description more.
      assert(s.bytes_on_wire < 40_000, `on the wire ${s.bytes_on_wire}`);
      for (const name of SHRUNK) {
        same(`${sender}/${name}`, `${receiver}/${name}`);
      }
      assertEquals(Deno.statSync(`${receiver}/empty`).size, 0);
      assertEquals(tempFiles(receiver), []);
    });
  });
}

/**
 * An old copy over 16 MiB at `old` (described in fixed blocks) and the
 * file changed at `next`: two edits, an insertion, a deletion, an append.
 */
function bigOldAndNew(old: string, next: string): void {
  const big = bytes(17 * MiB + 4321, 31);
  let changed = big.slice();
  changed.set(bytes(3000, 32), 2 * MiB + 17);
  changed.set(bytes(100, 33), 9 * MiB);
  changed = splice(changed, 5 * MiB + 3, 0, bytes(1000, 34));
  changed = splice(changed, 12 * MiB, 70_000, new Uint8Array(0));
  changed = splice(changed, changed.length, 0, bytes(20_000, 35));
  Deno.writeFileSync(`${old}/huge`, big);
  Deno.writeFileSync(`${next}/huge`, changed);
  Deno.utimeSync(`${next}/huge`, 1_700_000_000, 1_700_000_000);
}

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  for (const direction of ["push", "pull"] as const) {
    Deno.test(`delta ${direction} (${how}) of a file over 16 MiB: its old copy goes in fixed blocks with rolling sums; edits, an insertion, a deletion and an append cost about their size`, async () => {
      await withBed(async ({ work, src, module, daemon }) => {
        const local = direction === "push" ? src : `${work}/local`;
        if (direction === "pull") Deno.mkdirSync(local);
        Deno.mkdirSync(`${module}/d`);
        const [oldDir, newDir] = direction === "push"
          ? [`${module}/d`, local]
          : [local, `${module}/d`];
        bigOldAndNew(oldDir, newDir);
        const remote = `${daemon.url}/m/d/`;
        const run = await runCli(
          [
            direction,
            ...extra,
            "--json",
            "--no-whole-file",
            ...(direction === "push" ? [`${local}/`, remote] : [remote, local]),
          ],
          { env },
        );
        assertEquals(run.code, 0, run.stderr);
        const s = JSON.parse(run.stdout);
        assertEquals(s.delta, true);
        assertEquals(s.files_transferred, 1);
        const size = Deno.statSync(`${newDir}/huge`).size;
        assertEquals(s.bytes_literal + s.bytes_matched, size);
        // 24,100 bytes changed or added: each edit costs the 2 KiB blocks
        // it touches, the insertion and deletion a block or two.
        assert(
          s.bytes_literal < 24_100 + 10 * 2048,
          `literal ${s.bytes_literal}`,
        );
        // The description: 8 bytes a block (~8,700 blocks).
        assert(s.bytes_on_wire < 150_000, `on the wire ${s.bytes_on_wire}`);
        same(`${newDir}/huge`, `${oldDir}/huge`);
        assertEquals(tempFiles(module), []);
        assertEquals(tempFiles(local), []);
      });
    });
  }
}

/**
 * Old copies at `old` and new files at `next`: `same` only touched (new
 * mtime and mode), `linked` only touched but with a second name beside
 * it, `grown` appended to, `cut` truncated.
 */
function touchedAndChanged(old: string, next: string): void {
  const a = bytes(300_000, 21);
  const b = bytes(200_000, 22);
  Deno.writeFileSync(`${old}/same`, a);
  Deno.writeFileSync(`${old}/linked`, b);
  Deno.linkSync(`${old}/linked`, `${old}/linked-twin`);
  Deno.writeFileSync(`${old}/grown`, b);
  Deno.writeFileSync(`${old}/cut`, a);
  for (const name of ["same", "linked", "grown", "cut"]) {
    Deno.utimeSync(`${old}/${name}`, 1_600_000_000, 1_600_000_000);
  }
  Deno.writeFileSync(`${next}/same`, a);
  Deno.chmodSync(`${next}/same`, 0o600);
  Deno.writeFileSync(`${next}/linked`, b);
  Deno.writeFileSync(`${next}/grown`, splice(b, b.length, 0, bytes(999, 23)));
  Deno.writeFileSync(`${next}/cut`, a.subarray(0, 123_456));
  for (const name of ["same", "linked", "grown", "cut"]) {
    Deno.utimeSync(`${next}/${name}`, 1_700_000_000, 1_700_000_000);
  }
}

for (const direction of ["push", "pull"] as const) {
  Deno.test(`delta ${direction}: an old copy the sender's file matches byte for byte takes the new mode and mtime where it is; one with another name is replaced`, async () => {
    await withBed(async (bed) => {
      const { src, daemon } = bed;
      const { from, to } = sides(direction, bed);
      touchedAndChanged(to, from);
      const inode = (name: string) => Deno.statSync(`${to}/${name}`).ino;
      const before = {
        same: inode("same"),
        linked: inode("linked"),
        grown: inode("grown"),
      };
      const s = await deltaBoth(direction, src, `${daemon.url}/m/d`, to);
      assertEquals(s.delta, true);
      assertEquals(s.files_transferred, 4);
      // The append, and at most a chunk around it.
      assert(
        s.bytes_literal >= 999 && s.bytes_literal < 20_000,
        `literal ${s.bytes_literal}`,
      );
      for (const name of ["same", "linked", "grown", "cut"]) {
        same(`${from}/${name}`, `${to}/${name}`);
      }
      // Kept in place: the same file, its mode and mtime the sender's.
      assertEquals(inode("same"), before.same);
      assertEquals(Deno.statSync(`${to}/same`).mode! & 0o777, 0o600);
      // Another name shares the old copy: it keeps the old attributes
      // and bytes; the transferred name is a new file.
      assert(inode("linked") !== before.linked);
      assertEquals(Deno.statSync(`${to}/linked-twin`).ino, before.linked);
      assertEquals(
        Deno.statSync(`${to}/linked-twin`).mtime?.getTime(),
        1_600_000_000_000,
      );
      // Anything but the old copy itself is rebuilt and renamed in.
      assert(inode("grown") !== before.grown);
      assertEquals(tempFiles(to), []);
      // A pull into a directory holding old copies asks for hash hints:
      // `same` is settled by the client, never named, so the daemon sends
      // (and logs) three files; a push names all four.
      await waitFor(
        () => /op=(push|pull) .*outcome=ok/.test(daemon.stderr()),
        5000,
      );
      assertMatch(
        daemon.stderr(),
        new RegExp(
          `op=${direction} module=m path=d files=${
            direction === "pull" ? 3 : 4
          } `,
        ),
      );
    });
  });
}

Deno.test("compression: -z shrinks compressible data on the wire, push and pull, exact both ways", async () => {
  await withBed(async ({ work, src, module, daemon }) => {
    const text = new TextEncoder().encode(
      Array.from({ length: 100_000 }, (_, i) => `row ${i % 1000}, status ok\n`)
        .join(""),
    );
    Deno.writeFileSync(`${src}/log`, text);
    Deno.writeFileSync(`${src}/noise`, bytes(MiB, 9));
    const push = await runCli([
      "push",
      "-z",
      "--json",
      src,
      `${daemon.url}/m/c`,
    ], { env });
    assertEquals(push.code, 0, push.stderr);
    const s = JSON.parse(push.stdout);
    assertEquals(s.compression, true);
    assertEquals(s.delta, false);
    // The noise goes as it is, the log shrinks: well under their sum.
    assert(
      s.bytes_on_wire < MiB + text.length / 4,
      `on the wire ${s.bytes_on_wire}`,
    );
    same(`${src}/log`, `${module}/c/log`);
    same(`${src}/noise`, `${module}/c/noise`);
    const local = `${work}/back`;
    const pull = await runCli(
      [
        "pull",
        "-z",
        "--compress-level",
        "9",
        "--json",
        `${daemon.url}/m/c`,
        local,
      ],
      { env },
    );
    assertEquals(pull.code, 0, pull.stderr);
    const p = JSON.parse(pull.stdout);
    assertEquals(p.compression, true);
    assert(
      p.bytes_on_wire < MiB + text.length / 4,
      `on the wire ${p.bytes_on_wire}`,
    );
    same(`${src}/log`, `${local}/log`);
    same(`${src}/noise`, `${local}/noise`);
  });
});

Deno.test("on loopback neither delta nor compression is used unless asked; -W never deltas", async () => {
  await withBed(async ({ src, module, daemon }) => {
    Deno.mkdirSync(`${module}/d`);
    oldAndNew(`${module}/d`, src);
    const auto = await runCli(["push", "--json", src, `${daemon.url}/m/d`], {
      env,
    });
    assertEquals(auto.code, 0, auto.stderr);
    const a = JSON.parse(auto.stdout);
    assertEquals([a.delta, a.compression, a.bytes_matched], [false, false, 0]);
    assertEquals(a.bytes_literal, a.bytes_transferred);
    oldAndNew(`${module}/d`, src);
    Deno.utimeSync(`${src}/big`, 1_600_000_000, 1_600_000_000);
    const whole = await runCli([
      "push",
      "-W",
      "--json",
      src,
      `${daemon.url}/m/d`,
    ], { env });
    assertEquals(whole.code, 0, whole.stderr);
    assertEquals(JSON.parse(whole.stdout).delta, false);
    same(`${src}/big`, `${module}/d/big`);
  });
});

Deno.test("--stats prints rsync's literal, matched and total bytes lines", async () => {
  await withBed(async ({ src, module, daemon }) => {
    Deno.mkdirSync(`${module}/d`);
    oldAndNew(`${module}/d`, src);
    const run = await runCli(
      ["push", "--stats", "--no-whole-file", src, `${daemon.url}/m/d`],
      { env },
    );
    assertEquals(run.code, 0, run.stderr);
    assertMatch(run.stdout, /^Literal data: [\d,]+ bytes$/m);
    assertMatch(run.stdout, /^Matched data: [\d,]{9,} bytes$/m);
    assertMatch(run.stdout, /^Total bytes sent: [\d,]+$/m);
    assertMatch(run.stdout, /^Total bytes received: [\d,]+$/m);
  });
});

Deno.test("delta and compression flags: conflicting or out of range is a usage error", async () => {
  for (
    const [args, text] of [
      [
        ["-W", "--no-whole-file"],
        /--whole-file and --no-whole-file don't go together/,
      ],
      [
        ["-z", "--no-compress"],
        /--compress and --no-compress don't go together/,
      ],
      [
        ["--compress-level", "20"],
        /--compress-level must be a whole number from 1 to 19/,
      ],
      [
        ["--compress-level", "3", "--no-compress"],
        /--compress-level and --no-compress/,
      ],
    ] as const
  ) {
    const run = await runCli(["push", ...args, "a", "blit://127.0.0.1:1/m/"], {
      env,
    });
    assertEquals(run.code, 2, run.stderr);
    assertMatch(run.stderr, text);
    assertEquals(run.stderr.trim().split("\n").length, 1);
  }
});

/** The header of a raw push into module "m" that asks for deltas. */
function deltaPushHeader(forceGrpcData: boolean) {
  return {
    case: "header" as const,
    value: create(PushHeaderSchema, {
      module: "m",
      destination: "",
      options: create(TransferOptionsSchema, {
        forceGrpcData,
        delta: Choice.ON,
      }),
    }),
  };
}

/** A raw gRPC push that asks for deltas and answers the need list by hand. */
async function hostilePush(
  daemon: TestDaemon,
  name: string,
  size: number,
  data: (basis: { avgBits: number; lengths: number[] } | undefined) => {
    delta: boolean;
    copies: bigint[];
    payload: Uint8Array;
    hash: Uint8Array;
  },
) {
  const client = grpcClient(daemon.address);
  const call = openPush(client);
  try {
    call.send(deltaPushHeader(true));
    const file = header("m", name, EntryKind.FILE, { size });
    for (const m of manifest([file])) call.send(m);
    const needs = await until(call, "fileList");
    const list = needs?.payload.case === "fileList"
      ? needs.payload.value
      : undefined;
    const offer = list?.bases.find((b) => b.path === name);
    const answer = data(
      offer && { avgBits: offer.avgBits, lengths: offer.lengths },
    );
    call.send({
      case: "fileData",
      value: create(FileDataSchema, {
        path: name,
        header: file,
        data: answer.payload,
        last: true,
        hash: answer.hash,
        delta: answer.delta,
        copies: answer.copies,
      }),
    });
    call.send({
      case: "uploadComplete",
      value: create(UploadCompleteSchema, {}),
    });
    call.end();
    await until(call, "summary");
    return { status: await call.status, described: offer !== undefined };
  } finally {
    client.close();
  }
}

Deno.test("hostile sender: copies outside the old copy, past the file, or for a file not described are refused", async () => {
  await withBed(async ({ module, daemon }) => {
    const old = bytes(64 * 1024, 3);
    const cases: [
      string,
      (b?: { lengths: number[] }) => bigint[],
      boolean,
      RegExp,
    ][] = [
      [
        "outside",
        () => [0n, 70_000n],
        true,
        /outside the old copy's 65536 bytes/,
      ],
      ["huge", () => [2n ** 62n, 10n], true, /out of range|invalid|outside/],
      [
        "past",
        () => [0n, 65_536n, 0n, 65_536n],
        true,
        /past the file's 100000 bytes/,
      ],
      [
        "nobasis",
        () => [0n, 100n],
        false,
        /no old copy of it was described|came as a delta/,
      ],
    ];
    for (const [name, copies, describe, text] of cases) {
      if (describe) Deno.writeFileSync(`${module}/${name}`, old);
      const before = describe
        ? Deno.readFileSync(`${module}/${name}`)
        : undefined;
      const got = await hostilePush(daemon, name, 100_000, () => ({
        delta: true,
        copies: copies(),
        payload: new Uint8Array(0),
        hash: new Uint8Array(16),
      }));
      assertEquals(got.described, describe, name);
      assert(got.status.code !== 0, `${name}: accepted`);
      assertMatch(got.status.details, text);
      // The old copy is untouched, nothing new landed, no temp file left.
      if (before) assertEquals(Deno.readFileSync(`${module}/${name}`), before);
      else assertEquals(exists(`${module}/${name}`), false);
      assertEquals(tempFiles(module), []);
    }
  });
});

Deno.test("hostile sender: a rebuilt file whose hash does not match never lands", async () => {
  await withBed(async ({ module, daemon }) => {
    const old = bytes(64 * 1024, 3);
    Deno.writeFileSync(`${module}/f`, old);
    // Copies of the whole old copy, then a literal: the hash is of other bytes.
    const got = await hostilePush(daemon, "f", 65_536 + 10, () => ({
      delta: true,
      copies: [0n, 65_536n],
      payload: new Uint8Array(10).fill(7),
      hash: new Uint8Array(16).fill(1),
    }));
    assert(got.status.code !== 0, "accepted");
    assertMatch(got.status.details, /arrived corrupted/);
    assertEquals(Deno.readFileSync(`${module}/f`), old);
    assertEquals(tempFiles(module), []);
  });
});

Deno.test("hostile receiver: a malformed or oversized description is refused at once; the daemon serves on", async () => {
  await withBed(async ({ src, module, daemon }) => {
    Deno.writeFileSync(`${module}/f`, bytes(MiB, 8));
    const cases = [
      // A million chunks of one byte: over the bound.
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: 1_000_000n,
        lengths: new Array(1_000_000).fill(1),
        digests: new Uint8Array(8_000_000).subarray(0, 8),
      }),
      // Chunks that do not add up to the size.
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: 8192n,
        lengths: [4096],
        digests: new Uint8Array(4),
      }),
      // A whole-copy hash of the wrong length, and one for a copy of 16
      // MiB or more (a sender would read such a file twice for nothing).
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: 4096n,
        lengths: [2048, 2048],
        digests: new Uint8Array(8),
        whole: new Uint8Array(15),
      }),
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: BigInt(16 * MiB),
        lengths: new Array(8192).fill(2048),
        digests: new Uint8Array(8192 * 4),
        whole: new Uint8Array(16),
      }),
      // In fixed blocks: a sum short, 2^40 bytes in blocks of 2 KiB (the
      // lengths never made), and a block size out of range.
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: BigInt(16 * MiB),
        digests: new Uint8Array(8192 * 4),
        weak: new Uint8Array(8191 * 4),
      }),
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: 2n ** 40n,
        digests: new Uint8Array(8),
        weak: new Uint8Array(8),
      }),
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 40,
        size: BigInt(16 * MiB),
        digests: new Uint8Array(4),
        weak: new Uint8Array(4),
      }),
      // Run hashes: one short of the 128 runs of 64 blocks, and on a
      // description in chunks.
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: BigInt(16 * MiB),
        digests: new Uint8Array(8192 * 4),
        weak: new Uint8Array(8192 * 4),
        runs: new Uint8Array(127 * 4),
      }),
      create(BasisOfferSchema, {
        path: "f",
        avgBits: 11,
        size: 4096n,
        lengths: [2048, 2048],
        digests: new Uint8Array(8),
        runs: new Uint8Array(4),
      }),
      // A compressed need list that would unpack past the bound.
      create(FileListSchema, {
        packedZstd: zstdCompressSync(new Uint8Array(9 * MiB)),
        packedSize: 8 * MiB,
      }),
    ];
    for (const basis of cases) {
      const client = grpcClient(daemon.address);
      const call = openPull(client);
      try {
        call.send({
          case: "header",
          value: create(PullHeaderSchema, {
            module: "m",
            path: "",
            options: create(TransferOptionsSchema, { forceGrpcData: true }),
          }),
        });
        for (let i = 0; i < 100; i++) {
          const message = await call.next();
          if (!message || message.payload.case === "ack") break;
        }
        call.send({
          case: "need",
          value: "paths" in basis
            ? basis
            : create(FileListSchema, { paths: ["f"], bases: [basis] }),
        });
        call.send({
          case: "needComplete",
          value: create(NeedCompleteSchema, {}),
        });
        const t0 = performance.now();
        const status = await call.status;
        assert(status.code !== 0, "accepted");
        assertMatch(
          status.details,
          /description of "f"'s old copy is malformed|too large|exceeds|compressed need list/i,
        );
        if (basis.$typeName === "blit.v2.BasisOffer" && basis.whole.length) {
          assertMatch(status.details, /whole-copy hash of 1[56] bytes/);
        }
        if (basis.$typeName === "blit.v2.BasisOffer" && basis.runs.length) {
          assertMatch(status.details, /run hashes/);
        }
        assert(performance.now() - t0 < 30_000);
      } finally {
        call.cancel();
        client.close();
      }
    }
    // A real transfer still works.
    Deno.writeFileSync(`${src}/ok`, new Uint8Array(10));
    const run = await runCli(["push", src, `${daemon.url}/m/after`], { env });
    assertEquals(run.code, 0, run.stderr);
  });
});

Deno.test("an interrupted delta push resumes from its partial copy; the result is exact", async () => {
  await withBed(async ({ src, module, daemon }) => {
    // 32 MiB: the first half unchanged, the second new (sent slowly).
    const old = bytes(32 * MiB, 21);
    const next = old.slice();
    next.set(bytes(16 * MiB, 22), 16 * MiB);
    Deno.writeFileSync(`${module}/big`, old);
    Deno.writeFileSync(`${src}/big`, next);
    Deno.utimeSync(`${src}/big`, 1_700_000_000, 1_700_000_000);
    const partial = `${module}/.big.blit-partial.tmp`;
    const size = () => {
      try {
        return Deno.statSync(partial).size;
      } catch {
        return 0;
      }
    };
    const client = spawnCli([
      "push",
      "--no-whole-file",
      "--retries",
      "0",
      "--bwlimit",
      "4M",
      `${src}/big`,
      `${daemon.url}/m/`,
    ], { env, quiet: true });
    assert(
      await waitFor(() => size() >= 22 * MiB, 60_000),
      "the push never got past 22 MiB",
    );
    await killChild(client);
    assert(await waitFor(() => tempFiles(module).length <= 1, 10_000));
    assert(size() >= 20 * MiB, `partial copy of ${size()} bytes`);
    // The old copy is still there, untouched.
    assertEquals(Deno.statSync(`${module}/big`).size, old.length);
    const rerun = await runCli(
      ["push", "--json", "--no-whole-file", `${src}/big`, `${daemon.url}/m/`],
      { env },
    );
    assertEquals(rerun.code, 0, rerun.stderr);
    const s = JSON.parse(rerun.stdout);
    assert(s.bytes_resumed >= 20 * MiB, `resumed ${s.bytes_resumed}`);
    same(`${src}/big`, `${module}/big`);
    assertEquals(tempFiles(module), []);
  });
});

Deno.test("an interrupted delta push of an append starts over from the old copy: the partial copy it left would send more than the delta; the result is exact", async () => {
  await withBed(async ({ src, module, daemon }) => {
    // 32 MiB with 200 KiB appended; the partial copy an interrupted push
    // left holds its first 20 MiB (the old copy's own bytes).
    const old = bytes(32 * MiB, 31);
    const next = splice(old, old.length, 0, bytes(200_000, 32));
    Deno.writeFileSync(`${module}/big`, old);
    Deno.writeFileSync(
      `${module}/.big.blit-partial.tmp`,
      old.subarray(0, 20 * MiB),
    );
    Deno.writeFileSync(`${src}/big`, next);
    Deno.utimeSync(`${src}/big`, 1_700_000_000, 1_700_000_000);
    const run = await runCli(
      ["push", "--json", "--no-whole-file", `${src}/big`, `${daemon.url}/m/`],
      { env },
    );
    assertEquals(run.code, 0, run.stderr);
    const s = JSON.parse(run.stdout);
    assertEquals([s.delta, s.bytes_resumed, s.bytes_matched], [
      true,
      0,
      old.length,
    ]);
    assert(
      s.bytes_literal >= 200_000 && s.bytes_literal < 200_000 + 64 * 1024,
      `literal ${s.bytes_literal}`,
    );
    same(`${src}/big`, `${module}/big`);
    assertEquals(tempFiles(module), []);
  });
});

Deno.test("a local copy with -z or --no-whole-file warns once and copies whole files", async () => {
  const work = Deno.realPathSync(
    Deno.makeTempDirSync({ prefix: "blit-delta-local-" }),
  );
  try {
    Deno.mkdirSync(`${work}/src`);
    Deno.writeFileSync(`${work}/src/a`, bytes(10_000, 4));
    const run = await runCli(
      ["copy", "-z", "--no-whole-file", "--json", `${work}/src`, `${work}/dst`],
      { env },
    );
    assertEquals(run.code, 0, run.stderr);
    assertEquals(
      run.stderr,
      "blit: warning: --no-whole-file, --compress and --compress-level apply to remote transfers; a local copy copies whole files\n",
    );
    const s = JSON.parse(run.stdout);
    assertEquals([s.delta, s.compression, s.transport], [
      false,
      false,
      "local",
    ]);
    same(`${work}/src/a`, `${work}/dst/a`);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("a library pull that described its old copies on workers lets its process end", async () => {
  await withBed(async ({ work, module, daemon }) => {
    const old = bytes(3 * MiB, 21);
    const next = old.slice();
    next.set(bytes(4000, 22), 2 * MiB);
    Deno.writeFileSync(`${module}/big`, next);
    Deno.mkdirSync(`${work}/dst`);
    Deno.writeFileSync(`${work}/dst/big`, old);
    Deno.utimeSync(`${work}/dst/big`, 1_600_000_000, 1_600_000_000);
    const mod = new URL("../mod.ts", import.meta.url).href;
    const pool = new URL("../lib/delta/basis_pool.ts", import.meta.url).href;
    const script = `${work}/pull.ts`;
    // The workers started first (a copy this small is otherwise described
    // on the main thread: starting them would cost more).
    Deno.writeTextFileSync(
      script,
      `import { parseRemote, pullRemote } from ${JSON.stringify(mod)};
import { warmDescribers } from ${JSON.stringify(pool)};
if (!warmDescribers()) throw new Error("no describing workers here");
const r = await pullRemote(parseRemote(${
        JSON.stringify(`${daemon.url}/m/big`)
      }), ${JSON.stringify(`${work}/dst/big`)}, { delta: "on" });
console.log(JSON.stringify({ matched: r.bytesMatched, files: r.filesTransferred }));
`,
    );
    // No Deno.exit in the script: the process ends when nothing is left
    // to do (idle workers would hold it for a minute). A watchdog bounds
    // the wait, far under that minute.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script],
      env: { ...env, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const watchdog = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const out = await child.output();
    clearTimeout(watchdog);
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.signal, null, "the process had to be killed");
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const result = JSON.parse(text.trim().split("\n").at(-1)!);
    assertEquals(result.files, 1);
    assert(result.matched > 2 * MiB, text);
    same(`${module}/big`, `${work}/dst/big`);
  });
});

/** A source tree's worth of small text files: `count` of 1.5-30 KiB. */
function smallTree(dir: string, count: number, edit: (i: number) => boolean) {
  const line = (i: number, j: number) =>
    `def handler_${i}_${j}(request, response): return render(request, "page_${j}.html")\n`;
  for (let i = 0; i < count; i++) {
    const lines = 20 + (i * 37) % 360;
    let text = "";
    for (let j = 0; j < lines; j++) text += line(i, j);
    if (edit(i)) {
      const at = Math.floor(text.length / 2);
      text = text.slice(0, at) + `# changed ${i}\n` + text.slice(at);
    }
    Deno.mkdirSync(`${dir}/pkg${i % 7}`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/pkg${i % 7}/mod_${i}.py`, text);
    Deno.utimeSync(
      `${dir}/pkg${i % 7}/mod_${i}.py`,
      1_600_000_000,
      1_600_000_000 + (edit(i) ? 1 : 0),
    );
  }
}

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  Deno.test(`a tree of small files with every mtime changed (${how}): small old copies are described, need lists go compressed with -z, exact both ways`, async () => {
    await withBed(async ({ work, src, module, daemon }) => {
      const count = 200;
      const received: Record<string, number> = {};
      Deno.mkdirSync(`${module}/t`);
      for (const compress of ["-z", "--no-compress"]) {
        // The old tree at the destination; the new one: every file's mtime
        // changed, a tenth edited.
        Deno.removeSync(src, { recursive: true });
        Deno.mkdirSync(src);
        smallTree(src, count, (i) => i % 10 === 3);
        for (const f of Deno.readDirSync(src)) {
          for (const g of Deno.readDirSync(`${src}/${f.name}`)) {
            Deno.utimeSync(
              `${src}/${f.name}/${g.name}`,
              1_700_000_000,
              1_700_000_000,
            );
          }
        }
        Deno.removeSync(`${module}/t`, { recursive: true });
        Deno.mkdirSync(`${module}/t`);
        smallTree(`${module}/t`, count, () => false);
        const run = await runCli(
          [
            "push",
            ...extra,
            compress,
            "--no-whole-file",
            "--stats",
            src,
            `${daemon.url}/m/t`,
          ],
          { env },
        );
        assertEquals(run.code, 0, run.stderr);
        const stat = (name: string) =>
          Number(
            new RegExp(`${name}: ([0-9,]+)`).exec(run.stdout)![1]
              .replaceAll(",", ""),
          );
        assertMatch(
          run.stdout,
          new RegExp(`Number of files transferred: ${count}\n`),
        );
        // Every file came mostly from its old copy, the 1.5 KiB ones too.
        const matched = stat("Matched data");
        const literal = stat("Literal data");
        assert(matched > 0.8 * (matched + literal), run.stdout);
        // What the client hears: the daemon's need lists, with every old
        // copy's description.
        received[compress] = stat("Total bytes received");
        for (const f of Deno.readDirSync(src)) {
          for (const g of Deno.readDirSync(`${src}/${f.name}`)) {
            same(
              `${src}/${f.name}/${g.name}`,
              `${module}/t/${f.name}/${g.name}`,
            );
          }
        }
        assertEquals(tempFiles(module), []);
      }
      // Compressed, the need lists (paths, chunk lengths) shrink; the
      // salted hashes do not.
      assert(
        received["-z"] < 0.85 * received["--no-compress"],
        `received: ${JSON.stringify(received)}`,
      );
      // And back: a pull into the old tree.
      const local = `${work}/local`;
      Deno.mkdirSync(local);
      smallTree(local, count, () => false);
      Deno.removeSync(`${module}/t`, { recursive: true });
      Deno.mkdirSync(`${module}/t`);
      smallTree(`${module}/t`, count, (i) => i % 10 === 3);
      const pull = await runCli(
        [
          "pull",
          ...extra,
          "-z",
          "--no-whole-file",
          "--json",
          `${daemon.url}/m/t/`,
          local,
        ],
        { env },
      );
      assertEquals(pull.code, 0, pull.stderr);
      const p = JSON.parse(pull.stdout);
      assertEquals(p.files_transferred, count / 10);
      assert(p.bytes_matched > 0.7 * p.bytes_transferred, pull.stdout);
      for (const f of Deno.readDirSync(local)) {
        for (const g of Deno.readDirSync(`${local}/${f.name}`)) {
          same(
            `${module}/t/${f.name}/${g.name}`,
            `${local}/${f.name}/${g.name}`,
          );
        }
      }
      assertEquals(tempFiles(local), []);
    });
  });
}

/**
 * Runs the CLI with `args`, killed if it takes longer than `ms` (a
 * transfer that hangs fails the test instead of holding the suite).
 */
async function runCliWithin(args: string[], ms: number) {
  const child = spawnCli(args, { env });
  const watchdog = setTimeout(() => child.kill("SIGKILL"), ms);
  const out = await child.output();
  clearTimeout(watchdog);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  assertEquals(out.signal, null, `${args.join(" ")} had to be killed`);
  return {
    code: out.code,
    stdout: decode(out.stdout),
    stderr: decode(out.stderr),
  };
}

for (
  const [direction, streams] of [
    ["push", 1],
    ["pull", 1],
    ["push", 4],
    ["pull", 4],
  ] as const
) {
  Deno.test(`delta ${direction} over TCP (${streams} streams): old copies of the same size go by hash first; a file whose content differs is described again and comes as a delta`, async () => {
    await withBed(async (bed) => {
      const { src, daemon } = bed;
      // The old copies at the receiver, the new files at the sender.
      const { from, to, local } = sides(direction, bed);
      const touched = bytes(200_000, 11);
      const flipped = bytes(300_000, 12);
      const edited = bytes(3 * MiB, 13);
      const grown = bytes(100_000, 14);
      const old = {
        touched,
        flipped,
        edited,
        grown,
        whole: bytes(5000, 15),
      };
      for (const [name, data] of Object.entries(old)) {
        Deno.writeFileSync(`${to}/${name}`, data);
        Deno.utimeSync(`${to}/${name}`, 1_600_000_000, 1_600_000_000);
      }
      const next: Record<string, Uint8Array> = {
        // Only its mtime changed.
        touched,
        // One byte flipped: the same size.
        flipped: flipped.map((v, i) => i === 150_000 ? v ^ 1 : v),
        // 4 KiB overwritten in the middle: the same size.
        edited: edited.map((v, i) =>
          i >= 1_500_000 && i < 1_504_096 ? v ^ 0x5a : v
        ),
        // Another size: described in full at once.
        grown: splice(grown, 50_000, 0, bytes(100, 16)),
        // Not an old copy's content at all, the same size.
        whole: bytes(5000, 17),
      };
      // And a tree's worth of files whose mtimes alone changed: over
      // parallel streams each stream takes some, and what one holds must
      // leave while the others take the rest.
      const many = Object.fromEntries(
        Array.from({ length: 300 }, (_, i) => [`m${i}`, bytes(2000, 100 + i)]),
      );
      for (const [name, data] of Object.entries(many)) {
        Deno.writeFileSync(`${to}/${name}`, data);
        Deno.utimeSync(`${to}/${name}`, 1_600_000_000, 1_600_000_000);
      }
      Object.assign(next, many);
      for (const [name, data] of Object.entries(next)) {
        Deno.writeFileSync(`${from}/${name}`, data);
        Deno.utimeSync(`${from}/${name}`, 1_700_000_000, 1_700_000_000);
      }
      Deno.chmodSync(`${from}/touched`, 0o600);
      const flags = ["--json", "--no-whole-file", "--streams", `${streams}`];
      const run = await runCliWithin(
        direction === "push"
          ? ["push", ...flags, src, `${daemon.url}/m/d`]
          : ["pull", ...flags, `${daemon.url}/m/d/`, local],
        30_000,
      );
      assertEquals(run.code, 0, run.stderr);
      const s = JSON.parse(run.stdout);
      assertEquals(s.transport, "tcp");
      assertEquals(s.streams, streams);
      assertEquals(s.delta, true);
      assertEquals(s.files_transferred, 305);
      const total = Object.values(next).reduce((n, d) => n + d.length, 0);
      assertEquals(s.bytes_transferred, total);
      assertEquals(s.bytes_literal + s.bytes_matched, total);
      // What differs crossed, little more: the edits' chunks and the file
      // that shares nothing with its old copy.
      assert(s.bytes_literal >= 5000 + 100 + 4096 + 1, s.bytes_literal);
      assert(
        s.bytes_literal < 5000 + 100 + 60_000,
        `literal ${s.bytes_literal}`,
      );
      assert(s.bytes_on_wire < 120_000, `on the wire ${s.bytes_on_wire}`);
      for (const name of Object.keys(next)) {
        same(`${from}/${name}`, `${to}/${name}`);
      }
      assertEquals(tempFiles(to), []);
      // Nothing left to do: a second run sends nothing.
      const again = await runCliWithin(
        direction === "push"
          ? ["push", ...flags, src, `${daemon.url}/m/d`]
          : ["pull", ...flags, `${daemon.url}/m/d/`, local],
        30_000,
      );
      assertEquals(again.code, 0, again.stderr);
      assertEquals(JSON.parse(again.stdout).files_transferred, 0);
    });
  });
}

Deno.test("raw protocol over TCP: the daemon offers a same-size old copy by its hash, answers a describe-again frame with a full description, and refuses one for any other file", async () => {
  await withBed(async ({ module, daemon }) => {
    const oldH = bytes(5000, 21);
    const oldG = bytes(6000, 22);
    const newH = oldH.map((v, i) => i === 10 ? v ^ 1 : v);
    const newG = splice(oldG, 3000, 0, bytes(1, 23));
    for (const hostile of [false, true]) {
      Deno.writeFileSync(`${module}/h`, oldH);
      Deno.writeFileSync(`${module}/g`, oldG);
      const client = grpcClient(daemon.address);
      const call = openPush(client);
      try {
        call.send(deltaPushHeader(false));
        const negotiation = await until(call, "negotiation");
        assert(negotiation?.payload.case === "negotiation");
        const { port, token } = negotiation.payload.value;
        const conn = await dialDataPlane("127.0.0.1", port, token);
        const h = header("m", "h", EntryKind.FILE, { size: newH.length });
        const g = header("m", "g", EntryKind.FILE, { size: newG.length });
        for (const m of manifest([g, h])) call.send(m);
        // Both named, each with its old copy: h by its hash alone (the same
        // size), g in full (another size).
        const bases = new Map<
          string,
          { lengths: number[]; whole: Uint8Array }
        >();
        for (let i = 0; i < 10 && bases.size < 2; i++) {
          const got = await until(call, "fileList");
          assert(got?.payload.case === "fileList", "no need list");
          for (const b of unpackedFileList(got.payload.value).bases) {
            bases.set(b.path, { lengths: b.lengths, whole: b.whole });
          }
        }
        assertEquals(bases.get("h")?.lengths, []);
        assertEquals(
          new Uint8Array(bases.get("h")!.whole),
          await hashBytes(oldH),
        );
        assert((bases.get("g")?.lengths.length ?? 0) > 0, "g not described");
        const entry = (path: string, size: number) => ({
          path,
          kind: "file" as const,
          size,
          mtimeMs: 1_700_000_000_000,
          mode: 0o644,
        });
        const again = (path: string, size: number) => {
          const name = new TextEncoder().encode(path);
          const out = new Uint8Array(fileHeaderSize(name));
          writeDescribeAgain(out, 0, name, entry(path, size));
          return out;
        };
        if (hostile) {
          // g was described in full: no describe-again frame for it.
          await writeAll(conn, again("g", newG.length)).catch(() => {});
          const status = await call.status;
          assert(status.code !== 0, "accepted");
          assertMatch(
            status.details,
            /File g was to be described again, but its old copy was not offered by its hash/,
          );
          conn.close();
          assertEquals(Deno.readFileSync(`${module}/h`), oldH);
          assertEquals(Deno.readFileSync(`${module}/g`), oldG);
          assertEquals(tempFiles(module), []);
          continue;
        }
        await writeAll(conn, again("h", newH.length));
        // h named again, now with a full description.
        const renamed = await until(call, "fileList");
        assert(renamed?.payload.case === "fileList", "h not named again");
        const list = unpackedFileList(renamed.payload.value);
        assert(list.paths.includes("h"), JSON.stringify(list.paths));
        const full = list.bases.find((b) => b.path === "h");
        assert((full?.lengths.length ?? 0) > 0, "h not described in full");
        // The files, whole: the transfer ends as any other.
        for (const [e, data] of [[g, newG], [h, newH]] as const) {
          await writeAll(
            conn,
            encodeFileHeader(entry(e.path, data.length)),
          );
          await writeAll(conn, data);
          await writeAll(conn, encodeHash(await hashBytes(data)));
        }
        await writeAll(conn, encodeEnd());
        conn.close();
        const summary = await finishRawPush(call);
        assertEquals(Number(summary.filesTransferred), 2);
        assertEquals((await call.status).code, 0);
        assertEquals(Deno.readFileSync(`${module}/h`), newH);
        assertEquals(Deno.readFileSync(`${module}/g`), newG);
        assertEquals(tempFiles(module), []);
      } finally {
        client.close();
      }
    }
  });
});

Deno.test("push -v over TCP names each file once, a file described again too", async () => {
  await withBed(async ({ src, module, daemon }) => {
    Deno.mkdirSync(`${module}/d`);
    const kept = bytes(50_000, 31);
    const flipped = bytes(50_000, 32);
    Deno.writeFileSync(`${module}/d/same`, kept);
    Deno.writeFileSync(`${module}/d/flipped`, flipped);
    Deno.writeFileSync(`${src}/same`, kept);
    Deno.writeFileSync(
      `${src}/flipped`,
      flipped.map((v, i) => i === 100 ? v ^ 1 : v),
    );
    for (const name of ["same", "flipped"]) {
      Deno.utimeSync(`${src}/${name}`, 1_700_000_000, 1_700_000_000);
    }
    const run = await runCliWithin(
      ["push", "-v", "--no-whole-file", src, `${daemon.url}/m/d`],
      30_000,
    );
    assertEquals(run.code, 0, run.stderr);
    const items = run.stdout.split("\n").filter((l) => l.startsWith("+ "))
      .sort();
    assertEquals(items, ["+ flipped", "+ same"]);
    same(`${src}/flipped`, `${module}/d/flipped`);
  });
});

/** Ends a raw push's uploads and its request side: the daemon's summary. */
async function finishRawPush(call: ReturnType<typeof openPush>) {
  call.send({
    case: "uploadComplete",
    value: create(UploadCompleteSchema, {}),
  });
  call.end();
  const summary = await until(call, "summary");
  assert(summary?.payload.case === "summary", "no summary");
  return summary.payload.value;
}

/** A raw gRPC push into `m/d` with deltas on; `hints`: offers hash hints. */
function hintPushHeader(hints: boolean) {
  return {
    case: "header" as const,
    value: create(PushHeaderSchema, {
      module: "m",
      destination: "d",
      options: create(TransferOptionsSchema, {
        forceGrpcData: true,
        delta: Choice.ON,
        hashHints: hints,
      }),
    }),
  };
}

Deno.test("raw protocol: hash hints in a push are taken only when offered and where the destination holds something; only an old copy of the hinted size and content with no other name, under 1 MiB, is settled (never named)", async () => {
  await withBed(async ({ module, daemon }) => {
    const d = `${module}/d`;
    const data = {
      same: bytes(5000, 41),
      other: bytes(6000, 42),
      twin: bytes(7000, 43),
      big: bytes(MiB + 8, 44),
      grown: bytes(3000, 45),
    };
    // The client's files: `other` has new bytes of the same size, `grown`
    // more bytes; the rest are its old copies' bytes.
    const next: Record<string, Uint8Array> = {
      ...data,
      other: bytes(6000, 46),
      grown: bytes(3100, 47),
    };
    const place = () => {
      Deno.removeSync(d, { recursive: true });
      Deno.mkdirSync(d);
      for (const [name, bytes] of Object.entries(data)) {
        Deno.writeFileSync(`${d}/${name}`, bytes, { mode: 0o644 });
        Deno.utimeSync(`${d}/${name}`, 1_600_000_000, 1_600_000_000);
      }
      Deno.linkSync(`${d}/twin`, `${d}/twin-2`);
    };
    Deno.mkdirSync(d);
    for (const offer of [true, false]) {
      for (const empty of offer ? [false, true] : [false]) {
        place();
        if (empty) {
          Deno.removeSync(d, { recursive: true });
          Deno.mkdirSync(d);
        }
        const inodes = Object.fromEntries(
          empty
            ? []
            : Object.keys(data).map((n) => [n, Deno.statSync(`${d}/${n}`).ino]),
        );
        const client = grpcClient(daemon.address);
        const call = openPush(client);
        try {
          call.send(hintPushHeader(offer));
          const ack = await until(call, "ack");
          assert(ack?.payload.case === "ack", "no ack");
          assertEquals(ack.payload.value.oldCopies, offer && !empty);
          // Every file hinted with its true hash; `other`'s hint is even
          // the old copy's size.
          const entries = [];
          for (const [name, bytes] of Object.entries(next)) {
            const h = header("m", name, EntryKind.FILE, { size: bytes.length });
            h.mode = 0o600;
            h.hash = await hashBytes(bytes);
            entries.push(h);
          }
          for (const m of manifest(entries)) call.send(m);
          const named: string[] = [];
          for (let i = 0; i < 20; i++) {
            const got = await until(call, "fileList");
            assert(got?.payload.case === "fileList", "no need list");
            const list = unpackedFileList(got.payload.value);
            named.push(...list.paths);
            if (list.last) break;
          }
          const settled = offer && !empty ? ["same"] : [];
          assertEquals(
            named.sort(),
            Object.keys(next).filter((n) => !settled.includes(n)).sort(),
          );
          for (const path of named) {
            const body = next[path];
            call.send({
              case: "fileData",
              value: create(FileDataSchema, {
                path,
                data: body,
                last: true,
                hash: await hashBytes(body),
                header: entries.find((e) => e.path === path),
              }),
            });
          }
          const summary = await finishRawPush(call);
          assertEquals(Number(summary.filesTransferred), 5);
          assertEquals(
            Number(summary.filesSame),
            settled.length,
          );
          assertEquals((await call.status).code, 0);
          for (const [name, bytes] of Object.entries(next)) {
            assertEquals(Deno.readFileSync(`${d}/${name}`), bytes);
            const info = Deno.statSync(`${d}/${name}`);
            assertEquals(info.mode! & 0o7777, 0o600);
            assertEquals(info.mtime?.getTime(), 1_700_000_000_000);
          }
          // Settled in place (else sent whole: a new file); the twin's
          // other name keeps the old file.
          if (!empty) {
            assertEquals(
              Deno.statSync(`${d}/same`).ino === inodes.same,
              settled.includes("same"),
            );
            assertEquals(Deno.statSync(`${d}/twin-2`).ino, inodes.twin);
            assertEquals(
              Deno.statSync(`${d}/twin-2`).mtime?.getTime(),
              1_600_000_000_000,
            );
          }
          assertEquals(tempFiles(module), []);
        } finally {
          client.close();
        }
      }
    }
  });
});

Deno.test("push: after a push that found many files touched but not changed, the next lists hash hints; those files are settled, listed by -v, exact; a push that found none turns them off", async () => {
  await withBed(async ({ work, src, module, daemon }) => {
    const state = `${work}/state`;
    const d = `${module}/d`;
    Deno.mkdirSync(d);
    const names = sameFiles(src, d, 40, 2000, 50);
    Deno.writeFileSync(`${src}/edited`, bytes(4000, 91));
    const history = () =>
      Deno.readTextFileSync(`${state}/blit/perf_history.jsonl`).trim()
        .split("\n").map((line) => JSON.parse(line));
    const runs = [];
    for (let run = 0; run < 3; run++) {
      // Every old copy touched since, `edited` changed too (the third
      // run: none).
      if (run < 2) Deno.writeFileSync(`${d}/edited`, bytes(4000, 92 + run));
      for (const name of [...names, "edited"]) {
        Deno.utimeSync(`${d}/${name}`, 1_600_000_000 + run, 1_600_000_000);
      }
      if (run === 2) {
        for (const name of [...names, "edited"]) {
          const t = Deno.statSync(`${src}/${name}`).mtime!;
          Deno.utimeSync(`${d}/${name}`, t, t);
        }
      }
      const push = await runCli(
        ["push", "-v", "--stats", "--no-whole-file", src, `${daemon.url}/m/d`],
        { env: { XDG_STATE_HOME: state } },
      );
      assertEquals(push.code, 0, push.stderr);
      const stat = (label: string) =>
        Number(
          (push.stdout.match(new RegExp(`^${label}: ([\\d,]+)`, "m"))?.[1] ??
            "NaN").replaceAll(",", ""),
        );
      runs.push({
        files: stat("Number of files transferred"),
        received: stat("Total bytes received"),
      });
      // -v names every file sent or settled, once.
      assertEquals(
        push.stdout.split("\n").filter((l) => l.startsWith("+ ")).sort(),
        run === 2 ? [] : [...names, "edited"].map((n) => `+ ${n}`).sort(),
      );
      for (const name of [...names, "edited"]) {
        same(`${src}/${name}`, `${d}/${name}`);
      }
      assertEquals(tempFiles(module), []);
    }
    // The first push found the 40 files the same by their hash; the second
    // listed hints and the daemon settled them (nothing offered by hash,
    // answered or named for them); the third found nothing to send.
    assertEquals(history().map((r) => r.files_same), [40, 40, 0]);
    assertEquals(runs.map((r) => r.files), [41, 41, 0]);
    // What the daemon sent back: with hints, no offer by hash (16 bytes
    // each at least) for the 40.
    assert(
      runs[1].received < runs[0].received - 40 * 16,
      `received ${runs[1].received} vs ${runs[0].received}`,
    );
  });
});

for (
  const [how, extra] of [["TCP", []], ["gRPC", ["--force-grpc-data"]]] as const
) {
  Deno.test(`delta push (${how}) of appended files: the daemon copies each old copy whole (by the kernel where it can) and hashes on; the files land exact, only the appends cross`, async () => {
    await withBed(async ({ src, module, daemon }) => {
      const d = `${module}/d`;
      Deno.mkdirSync(d);
      const sizes = { log: 2 * MiB + 5, small: 300_000, twice: 5_000 };
      for (const [name, size] of Object.entries(sizes)) {
        const old = bytes(size, size);
        Deno.writeFileSync(`${d}/${name}`, old);
        Deno.writeFileSync(
          `${src}/${name}`,
          splice(old, old.length, 0, bytes(3000, size + 1)),
        );
        Deno.utimeSync(`${src}/${name}`, 1_700_000_000, 1_700_000_000);
      }
      // Inserted into as well: the old copy is not whole at its start (read
      // back, as before).
      Deno.writeFileSync(
        `${src}/twice`,
        splice(
          Deno.readFileSync(`${src}/twice`),
          4000,
          0,
          bytes(2000, 77),
        ),
      );
      Deno.utimeSync(`${src}/twice`, 1_700_000_000, 1_700_000_000);
      const s = await deltaPush(src, `${daemon.url}/m/d`, extra);
      assertEquals(s.files_transferred, 3);
      assertEquals(s.delta, true);
      assert(
        s.bytes_literal >= 3 * 3000 + 2000 &&
          s.bytes_literal < 3 * 3000 + 2000 + 3 * 4096,
        `literal ${s.bytes_literal}`,
      );
      for (const name of Object.keys(sizes)) {
        same(`${src}/${name}`, `${d}/${name}`);
      }
      assertEquals(tempFiles(module), []);
    });
  });
}

Deno.test("delta push of a tree appended to, edited, appended again: once the daemon has seen two pushes of appends, grown old copies go by hash alone (less comes back); edits fall back to full descriptions; every push exact", async () => {
  await withBed(async ({ src, module, daemon }) => {
    const d = `${module}/d`;
    Deno.mkdirSync(d);
    const names = sameFiles(src, d, 20, 30_000, 300);
    const steps = [
      "append",
      "append",
      "append",
      "insert",
      "append",
      "append",
      "append",
    ];
    const received = await growRounds({
      grown: src,
      from: src,
      to: d,
      names,
      steps,
      spacing: 1000,
      args: ["push", "--no-whole-file", src, `${daemon.url}/m/d`],
      env,
      stat: "Total bytes received",
      temps: module,
    });
    // Descriptions of 15 or more chunks a file (4 bytes of hash each, and
    // a length) came back the first two times; by hash alone (16 bytes a
    // file) once two pushes in a row were appends; after the edits
    // (described in full again) in full twice more, then by hash again.
    const saved = names.length * 40;
    assert(received[2] < received[1] - saved, `${received}`);
    assert(received[6] < received[5] - saved, `${received}`);
    assert(received[3] > received[2] + saved, `${received}`);
    assert(Math.abs(received[5] - received[1]) < saved, `${received}`);
  });
});

Deno.test("delta pull of a tree appended to on the daemon, again and again: after two pulls of appends (the client's history) the client offers its grown old copies by hash alone (less goes out); an edit turns it off; every pull exact", async () => {
  await withBed(async ({ work, module, daemon }) => {
    const state = `${work}/state`;
    const local = `${work}/local`;
    const d = `${module}/d`;
    Deno.mkdirSync(d);
    Deno.mkdirSync(local);
    const names = sameFiles(d, local, 20, 30_000, 500);
    const sent = await growRounds({
      grown: d,
      from: d,
      to: local,
      names,
      steps: ["append", "append", "append", "insert", "append"],
      spacing: 2000,
      args: ["pull", "--no-whole-file", `${daemon.url}/m/d`, local],
      env: { XDG_STATE_HOME: state },
      stat: "Total bytes sent",
      temps: local,
    });
    // Full descriptions went out the first two times; by hash alone (16
    // bytes a file) the third; the edited files in full, and the next
    // appends in full again (the history's streak was broken).
    const saved = names.length * 40;
    assert(sent[2] < sent[1] - saved, `${sent}`);
    assert(sent[3] > sent[2] + saved, `${sent}`);
    assert(sent[4] > sent[2] + saved, `${sent}`);
    // The history says what each pull found of its grown files.
    const records = Deno.readTextFileSync(`${state}/blit/perf_history.jsonl`)
      .trim().split("\n").map((line) => JSON.parse(line));
    assertEquals(
      records.map((r) => [r.grown_appended, r.grown_other]),
      [[20, 0], [20, 0], [20, 0], [0, 20], [20, 0]],
    );
  });
});
