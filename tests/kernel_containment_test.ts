// The attacks of issue 18, tried as a local user and a hostile client
// would, against the real daemon: rename/exchange races during purge, push
// and pull; a partial copy swapped for a link or a FIFO; resume offers and
// sparse partial copies that would make the daemon hash for minutes; two
// long names sharing a partial copy; setuid files; names that drive the
// terminal. Plus a check that daemon code makes no path-based call.
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import { REPO, runCli } from "./_helpers.ts";
import {
  type BlitRpcClient,
  grpcClient,
  listCall,
  openPull,
  openPush,
  startDaemon,
} from "./_daemon.ts";
import {
  EntryKind,
  FileDataSchema,
  FileHeaderSchema,
  FileListSchema,
  NeedCompleteSchema,
  PullDoneSchema,
  PullHeaderSchema,
  ResumeKeptSchema,
  ResumeOfferSchema,
  TransferOptionsSchema,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";
import { manifest, pushHeader, until } from "./_push.ts";
import { hashBytes } from "../lib/fs/hash.ts";

const MiB = 1024 * 1024;
const SECRET = "TOPSECRET-outside-the-module";

interface Work {
  work: string;
  module: string;
  /** Files a local user must never get the daemon to touch. */
  victims: string;
  /** The local user's own corner outside the module. */
  attack: string;
}

function makeWork(): Work {
  const work = Deno.realPathSync(
    Deno.makeTempDirSync({ prefix: "blit-kernel-" }),
  );
  const w = {
    work,
    module: `${work}/module`,
    victims: `${work}/victims`,
    attack: `${work}/attack`,
  };
  for (const dir of [w.module, w.victims, w.attack]) Deno.mkdirSync(dir);
  for (let i = 0; i < 40; i++) {
    Deno.writeTextFileSync(`${w.victims}/f${i}`, SECRET, { mode: 0o600 });
    Deno.chmodSync(`${w.victims}/f${i}`, 0o600);
  }
  Deno.mkdirSync(`${w.victims}/sub`);
  Deno.writeTextFileSync(`${w.victims}/sub/g`, SECRET);
  return w;
}

/** Names, sizes, modes and contents under `dir`: what "untouched" means. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const stack = [""];
  for (let i = 0; stack.length > 0 && i < 10_000; i++) {
    const rel = stack.pop()!;
    for (const e of Deno.readDirSync(rel ? `${dir}/${rel}` : dir)) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      const info = Deno.lstatSync(`${dir}/${path}`);
      if (info.isDirectory) stack.push(path);
      const body = info.isFile ? Deno.readTextFileSync(`${dir}/${path}`) : "";
      out.push(`${path} ${info.mode?.toString(8)} ${body}`);
    }
  }
  return out.sort();
}

/** Starts the swapper process; resolves once it has swapped once. */
async function swapper(
  a: string,
  b: string,
  ms: number,
): Promise<{ done: Promise<string> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}/tests/_swapper.ts`, "--ms", String(ms), a, b],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("swapping")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const done = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await child.status;
    return text;
  })();
  return { done };
}

/** Fills `dir` with a small tree whose files say "inside". */
function fillTree(dir: string): void {
  Deno.mkdirSync(`${dir}/sub`, { recursive: true });
  for (let i = 0; i < 40; i++) {
    Deno.writeTextFileSync(`${dir}/f${i}`, "inside");
  }
  Deno.writeTextFileSync(`${dir}/sub/g`, "inside");
}

Deno.test("exchange races: purge, push and pull while a local user swaps the directory for a link out touch nothing outside", async () => {
  const w = makeWork();
  const before = snapshot(w.victims);
  // The local user's link, swapped with the module's directory d over and
  // over: d is now a real directory, now a link to the victims.
  Deno.symlinkSync(w.victims, `${w.attack}/lnk`);
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const local = `${w.work}/local`;
  fillTree(local);
  let race: { done: Promise<string> } | undefined;
  try {
    // Push: every run writes 41 files into d, wherever d is.
    fillTree(`${w.module}/d`);
    race = await swapper(`${w.module}/d`, `${w.attack}/lnk`, 3000);
    for (let i = 0; i < 6; i++) {
      await runCli(["push", "-q", local, `${daemon.url}/m/d`]);
    }
    assertMatch(await race.done, /swaps \d+/);
    assertEquals(snapshot(w.victims), before, "push wrote outside");

    // Pull: nothing of the victims' is ever read.
    race = await swapper(`${w.module}/d`, `${w.attack}/lnk`, 3000);
    for (let i = 0; i < 6; i++) {
      const out = `${w.work}/pulled${i}`;
      await runCli(["pull", "-q", `${daemon.url}/m/d`, out]);
      // A pull that met the link either fails (nothing written) or, when
      // the source itself was the link at that moment, makes the same link
      // locally (a link is sent as a link, never followed): only regular
      // files' contents count, and the test must not follow that link.
      const top = (() => {
        try {
          return Deno.lstatSync(out);
        } catch {
          return undefined;
        }
      })();
      const pulled = top?.isDirectory ? snapshot(out) : [];
      for (const line of pulled) {
        assertEquals(
          line.includes(SECRET),
          false,
          `pull read outside: ${line}`,
        );
      }
    }
    await race.done;

    // Purge: nothing outside is deleted. (The tree is filled before the
    // race: this test's own writes would follow the link.)
    for (let i = 0; i < 5; i++) fillTree(`${w.module}/d/s${i}`);
    race = await swapper(`${w.module}/d`, `${w.attack}/lnk`, 3000);
    for (let i = 0; i < 6; i++) {
      const purge = await runCli(["purge", "--yes", `${daemon.url}/m/d`]);
      if (purge.code !== 0) assertMatch(purge.stderr, /^blit: error: .*\n$/);
    }
    await race.done;
    assertEquals(snapshot(w.victims), before, "purge deleted outside");
  } finally {
    await race?.done; // a failed check must not race the clean-up
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("exchange races with a real directory: sessions are refused or act on one directory, never through a link, and the daemon keeps serving", async () => {
  const w = makeWork();
  const before = snapshot(w.victims);
  // The local user's own directory, exchanged with the module's d; its
  // files link to the victims (a pull sends links as links, never their
  // targets' bytes).
  const other = `${w.attack}/o`;
  fillTree(other);
  Deno.symlinkSync(`${w.victims}/f0`, `${other}/via`);
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const c2 = grpcClient(daemon.address);
  const local = `${w.work}/local`;
  fillTree(local);
  fillTree(`${w.module}/d`);
  let race: { done: Promise<string> } | undefined;
  try {
    race = await swapper(`${w.module}/d`, other, 4000);
    for (let i = 0; i < 5; i++) {
      const out = `${w.work}/pulled${i}`;
      const runs = [
        await runCli(["push", "-q", local, `${daemon.url}/m/d`]),
        await runCli(["pull", "-q", `${daemon.url}/m/d`, out]),
        await runCli(["purge", "--yes", `${daemon.url}/m/d`]),
      ];
      // Done, or refused in one line: never a crash or a usage error.
      for (const r of runs) {
        if (r.code !== 0) assertMatch(r.stderr, /^blit: error: [^\n]*\n$/);
        assertEquals(r.code === 0 || r.code === 1, true, r.stderr);
      }
      const top = (() => {
        try {
          return Deno.lstatSync(out);
        } catch {
          return undefined;
        }
      })();
      for (const line of top?.isDirectory ? snapshot(out) : []) {
        assertEquals(line.includes(SECRET), false, `pull read it: ${line}`);
      }
      assertEquals((await listCall(c2, "m", "")).code, 0);
    }
    await race.done;
    race = undefined;
    assertEquals(snapshot(w.victims), before);
  } finally {
    await race?.done;
    c2.close();
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

/** Polls until `path` exists (at most ~10 s). */
async function appears(path: string): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    try {
      Deno.lstatSync(path);
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}

/** Whether `path` is gone (it may take the daemon a moment). */
async function gone(path: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    try {
      Deno.lstatSync(path);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** The slowest of List calls made every 50 ms until `until` settles. */
async function slowestList(
  client: BlitRpcClient,
  until: Promise<unknown>,
): Promise<number> {
  let over = false;
  until.finally(() => over = true).catch(() => {});
  let slowest = 0;
  for (let i = 0; i < 2000 && !over; i++) {
    const t0 = performance.now();
    const result = await listCall(client, "m", "");
    assertEquals(result.code, 0, result.details);
    slowest = Math.max(slowest, performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  return slowest;
}

function fileHeader(path: string, size: number, mode = 0o644) {
  return create(FileHeaderSchema, {
    path,
    kind: EntryKind.FILE,
    size: BigInt(size),
    mtimeMs: 1_700_000_000_000n,
    mode,
  });
}

Deno.test("a partial copy swapped for a link out or a FIFO: nothing outside is chmod'ed, nothing is followed, nothing blocks", async () => {
  const w = makeWork();
  const before = snapshot(w.victims);
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const c1 = grpcClient(daemon.address);
  const c2 = grpcClient(daemon.address);
  const size = 20 * MiB;
  const chunk = new Uint8Array(4 * MiB).fill(5);
  const whole = await hashBytes(new Uint8Array(size).fill(5));
  try {
    for (const swapTo of ["link", "fifo"]) {
      const push = openPush(c1);
      push.send(pushHeader("m", ""));
      assertEquals((await push.next())?.payload.case, "ack");
      for (const p of manifest([fileHeader("big", size, 0o4777)])) {
        push.send(p);
      }
      assertEquals(
        (await until(push, "negotiation"))?.payload.case,
        "negotiation",
      );
      const send = (off: number) =>
        push.send({
          case: "fileData",
          value: create(FileDataSchema, {
            path: "big",
            header: off === 0 ? fileHeader("big", size, 0o4777) : undefined,
            data: chunk,
            last: off + chunk.length >= size,
            ...(off + chunk.length >= size ? { hash: whole } : {}),
          }),
        });
      send(0);
      const partial = `${w.module}/.big.blit-partial.tmp`;
      assertEquals(await appears(partial), true, swapTo);
      // The local user's move: the partial copy becomes a link to a
      // victim (or a FIFO nobody writes to).
      Deno.removeSync(partial);
      if (swapTo === "link") Deno.symlinkSync(`${w.victims}/f0`, partial);
      else {
        const mk = new Deno.Command("mkfifo", { args: [partial] }).outputSync();
        assertEquals(mk.code, 0);
      }
      for (let off = chunk.length; off < size; off += chunk.length) send(off);
      push.send({
        case: "uploadComplete",
        value: create(UploadCompleteSchema),
      });
      push.end();
      const answered = slowestList(c2, push.status);
      while (await push.next());
      const status = await push.status;
      assertEquals(
        status.code,
        grpc.status.FAILED_PRECONDITION,
        `${swapTo}: ${status.details}`,
      );
      assertMatch(status.details, /"big" was replaced while being written/);
      assertEquals((await answered) < 1000, true, "list waited");
      // Nothing landed under the final name; the victim kept its mode.
      assertEquals(
        (() => {
          try {
            return Deno.lstatSync(`${w.module}/big`).isFile;
          } catch {
            return "absent";
          }
        })(),
        "absent",
        swapTo,
      );
      assertEquals(snapshot(w.victims), before, swapTo);
      // The planted name was unlinked (never followed) by the daemon.
      assertEquals(await gone(partial), true, swapTo);
    }
    // A file swapped for a FIFO while it is pulled: refused at once.
    Deno.writeTextFileSync(`${w.module}/f`, "inside");
    const pull = openPull(c1);
    pull.send({
      case: "header",
      value: create(PullHeaderSchema, {
        module: "m",
        path: "f",
        options: create(TransferOptionsSchema, { forceGrpcData: true }),
      }),
    });
    for (let i = 0; i < 100; i++) {
      const m = await pull.next();
      if (!m || m.payload.case === "manifestComplete") break;
    }
    Deno.removeSync(`${w.module}/f`);
    new Deno.Command("mkfifo", { args: [`${w.module}/f`] }).outputSync();
    pull.send({
      case: "need",
      value: create(FileListSchema, { paths: ["f"] }),
    });
    pull.send({ case: "needComplete", value: create(NeedCompleteSchema) });
    const answered = slowestList(c2, pull.status);
    while (await pull.next());
    const status = await pull.status;
    assertEquals(status.code, grpc.status.FAILED_PRECONDITION);
    assertMatch(status.details, /^"f" is no longer a regular file/);
    assertEquals((await answered) < 1000, true, "list waited");
  } finally {
    c1.close();
    c2.close();
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

/** Writes a sparse file of `size` bytes whose first `data` bytes are real. */
function sparse(path: string, size: number, data: number): void {
  const file = Deno.openSync(path, { write: true, create: true });
  file.writeSync(new Uint8Array(data).fill(1));
  file.truncateSync(size);
  file.close();
}

Deno.test("resume can't freeze the daemon: a huge offer is hashed off the main thread, a sparse partial copy is never hashed nor extended", async () => {
  const w = makeWork();
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const c1 = grpcClient(daemon.address);
  const c2 = grpcClient(daemon.address);
  try {
    // Pull: a 2 GiB sparse file and an offer of every block as zeros.
    const size = 2 * 1024 * MiB;
    sparse(`${w.module}/huge`, size, 0);
    const zero = await hashBytes(new Uint8Array(4 * MiB));
    const blocks = size / (4 * MiB);
    const hashes = new Uint8Array(blocks * 16);
    for (let i = 0; i < blocks; i++) hashes.set(zero, i * 16);
    const pull = openPull(c1);
    pull.send({
      case: "header",
      value: create(PullHeaderSchema, {
        module: "m",
        path: "huge",
        options: create(TransferOptionsSchema, { forceGrpcData: true }),
      }),
    });
    for (let i = 0; i < 100; i++) {
      const m = await pull.next();
      if (!m || m.payload.case === "manifestComplete") break;
    }
    pull.send({
      case: "need",
      value: create(FileListSchema, {
        paths: ["huge"],
        resumes: [
          create(ResumeOfferSchema, {
            path: "huge",
            blockSize: 4 * MiB,
            hashes,
          }),
        ],
      }),
    });
    pull.send({ case: "needComplete", value: create(NeedCompleteSchema) });
    let kept: number | undefined;
    const reading = (async () => {
      for (let i = 0; i < 100; i++) {
        const m = await pull.next();
        if (!m) break;
        if (m.payload.case === "fileData" && m.payload.value.resume) {
          kept = m.payload.value.resume.blocks;
          if (m.payload.value.last) {
            pull.send({ case: "done", value: create(PullDoneSchema) });
            pull.end();
          }
        }
      }
    })();
    const t0 = performance.now();
    const slowest = await slowestList(c2, reading);
    const hashedMs = performance.now() - t0;
    await reading;
    assertEquals(kept, blocks, "every zero block kept, nothing resent");
    assertEquals((await pull.status).code, 0);
    assertEquals(
      slowest < 1000,
      true,
      `list waited ${slowest} ms while 2 GiB were hashed in ${hashedMs} ms`,
    );

    // Push: a sparse partial copy a local user left (8 GiB, 4 MiB real):
    // the offer covers only bytes the disk holds, and a claimed resume
    // never extends the copy.
    const big = 8 * 1024 * MiB;
    const partial = `${w.module}/.big.blit-partial.tmp`;
    sparse(partial, big, 4 * MiB);
    const push = openPush(c1);
    push.send(pushHeader("m", ""));
    assertEquals((await push.next())?.payload.case, "ack");
    for (const p of manifest([fileHeader("big", big)])) push.send(p);
    // The need list (with the offer) and the negotiation, in either order.
    const offers = [];
    let negotiated = false;
    for (let i = 0; i < 100 && (!negotiated || offers.length === 0); i++) {
      const m = await push.next();
      if (!m) break;
      if (m.payload.case === "fileList") {
        offers.push(...m.payload.value.resumes);
      }
      if (m.payload.case === "negotiation") negotiated = true;
    }
    assertEquals(negotiated, true);
    assertEquals(offers.length, 1);
    assertEquals(offers[0].hashes.length, 16, "one real block offered");
    // Claim the block, send 1 MiB more, and vanish.
    push.send({
      case: "fileData",
      value: create(FileDataSchema, {
        path: "big",
        header: fileHeader("big", big),
        data: new Uint8Array(0),
        last: false,
        resume: create(ResumeKeptSchema, {
          blockSize: 4 * MiB,
          blocks: 1,
          bitmap: new Uint8Array([1]),
        }),
      }),
    });
    push.send({
      case: "fileData",
      value: create(FileDataSchema, {
        path: "big",
        data: new Uint8Array(MiB).fill(2),
        last: false,
      }),
    });
    await new Promise((r) => setTimeout(r, 500));
    push.cancel();
    const cancelled = await push.status;
    // The daemon closes its side; the copy holds what arrived, no more.
    let kept2 = -1;
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      try {
        kept2 = Deno.statSync(partial).size;
      } catch {
        kept2 = 0;
      }
      if (kept2 <= 5 * MiB) break;
    }
    assertEquals(
      kept2 <= 5 * MiB,
      true,
      `partial copy is ${kept2} bytes; ${cancelled.details} ${daemon.stderr()}`,
    );
  } finally {
    c1.close();
    c2.close();
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("a big push and a big pull never keep another client's list waiting", async () => {
  const w = makeWork();
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const c2 = grpcClient(daemon.address);
  const local = `${w.work}/local`;
  Deno.mkdirSync(local);
  Deno.writeFileSync(`${local}/big`, new Uint8Array(256 * MiB).fill(3));
  try {
    for (
      const args of [
        ["push", "-q", "--streams", "1", local, `${daemon.url}/m/`],
        ["pull", "-q", "--streams", "1", `${daemon.url}/m/`, `${w.work}/back`],
      ]
    ) {
      const run = runCli(args);
      const slowest = await slowestList(c2, run);
      const out = await run;
      assertEquals(out.code, 0, out.stderr);
      assertEquals(
        slowest < 1000,
        true,
        `${args[0]}: list waited ${slowest} ms`,
      );
    }
    assertEquals(Deno.statSync(`${w.work}/back/big`).size, 256 * MiB);
  } finally {
    c2.close();
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("two big files whose names share their first 200 bytes land with their own content", async () => {
  const w = makeWork();
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const local = `${w.work}/local`;
  Deno.mkdirSync(local);
  const stem = "n".repeat(210);
  Deno.writeFileSync(`${local}/${stem}a`, new Uint8Array(17 * MiB).fill(0xa));
  Deno.writeFileSync(`${local}/${stem}b`, new Uint8Array(17 * MiB).fill(0xb));
  try {
    const out = await runCli([
      "push",
      "--json",
      "--streams",
      "2",
      local,
      `${daemon.url}/m/`,
    ]);
    assertEquals(out.code, 0, out.stderr);
    for (
      const [name, byte] of [[`${stem}a`, 0xa], [`${stem}b`, 0xb]] as const
    ) {
      const got = Deno.readFileSync(`${w.module}/${name}`);
      assertEquals(got.length, 17 * MiB);
      assertEquals(got.every((b) => b === byte), true, name);
    }
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("setuid, setgid and sticky bits are dropped on a daemon unless the module keeps them", async () => {
  const w = makeWork();
  Deno.mkdirSync(`${w.work}/keep`);
  const daemon = await startDaemon({
    modules: {
      m: { path: w.module },
      keep: { path: `${w.work}/keep`, keepSpecialBits: true },
    },
  });
  const local = `${w.work}/local`;
  Deno.mkdirSync(`${local}/d`, { recursive: true });
  Deno.writeTextFileSync(`${local}/d/suid`, "x");
  Deno.chmodSync(`${local}/d/suid`, 0o4755);
  Deno.chmodSync(`${local}/d`, 0o3777);
  try {
    for (
      const [module, dir, keep] of [["m", w.module, false], [
        "keep",
        `${w.work}/keep`,
        true,
      ]] as const
    ) {
      const out = await runCli([
        "push",
        "-q",
        local,
        `${daemon.url}/${module}/x`,
      ]);
      assertEquals(out.code, 0, out.stderr);
      assertEquals(
        Deno.statSync(`${dir}/x/d/suid`).mode! & 0o7777,
        keep ? 0o4755 : 0o755,
        module,
      );
      assertEquals(
        Deno.statSync(`${dir}/x/d`).mode! & 0o7777,
        keep ? 0o3777 : 0o777,
        module,
      );
    }
    // A root client pulling keeps them only when asked to.
    if (Deno.uid() === 0) {
      for (const keep of [false, true]) {
        const into = `${w.work}/pulled-${keep}`;
        const out = await runCli([
          "pull",
          "-q",
          ...(keep ? ["--keep-special-bits"] : []),
          `${daemon.url}/keep/x`,
          into,
        ]);
        assertEquals(out.code, 0, out.stderr);
        assertEquals(
          Deno.statSync(`${into}/d/suid`).mode! & 0o7777,
          keep ? 0o4755 : 0o755,
        );
      }
    }
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("names with control characters are printed escaped: list, -v, dry runs, errors", async () => {
  const w = makeWork();
  const daemon = await startDaemon({ modules: { m: { path: w.module } } });
  const local = `${w.work}/local`;
  Deno.mkdirSync(local);
  const evil = "a\u001b[31mred\nfake line\rb";
  Deno.writeTextFileSync(`${local}/${evil}`, "x");
  const shown = "a\\x1b[31mred\\nfake line\\rb";
  try {
    const push = await runCli(["push", "-v", local, `${daemon.url}/m/`]);
    assertEquals(push.code, 0, push.stderr);
    assertEquals(push.stdout.split("\n")[0], `+ ${shown}`);
    const list = await runCli(["list", `${daemon.url}/m/`]);
    assertEquals(list.code, 0, list.stderr);
    assertMatch(list.stdout, new RegExp(`  ${escapeRegExp(shown)}\\n$`));
    assertEquals(list.stdout.includes("\u001b"), false);
    const dry = await runCli(["pull", "-n", `${daemon.url}/m/`, `${w.work}/p`]);
    assertEquals(dry.stdout.split("\n")[0], `+ ${shown}`);
    const missing = await runCli(["list", `${daemon.url}/m/${evil}x`]);
    assertEquals(missing.code, 1);
    assertEquals(missing.stderr.includes("\u001b"), false, missing.stderr);
    assertEquals(missing.stderr.trimEnd().split("\n").length, 1);
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

Deno.test("the fallback tree (no openat2) still serves push, list, pull, mirror and purge, and says it is weaker", async () => {
  const w = makeWork();
  const daemon = await startDaemon({
    modules: { m: { path: w.module } },
    env: { BLIT_DAEMON_CONTAINMENT: "walk" },
  });
  const local = `${w.work}/local`;
  fillTree(local);
  Deno.symlinkSync("f0", `${local}/link`);
  try {
    assertMatch(daemon.stderr(), /containment: path walk \(forced by/);
    const push = await runCli(["push", "--json", local, `${daemon.url}/m/x`]);
    assertEquals(push.code, 0, push.stderr);
    assertEquals(JSON.parse(push.stdout).files_transferred, 42);
    assertEquals(Deno.readLinkSync(`${w.module}/x/link`), "f0");
    const list = await runCli(["list", `${daemon.url}/m/x/sub`]);
    assertMatch(list.stdout, / {2}g\n$/);
    const pull = await runCli([
      "pull",
      "-q",
      `${daemon.url}/m/x`,
      `${w.work}/back`,
    ]);
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(snapshot(`${w.work}/back`), snapshot(local));
    Deno.removeSync(`${local}/f1`);
    const mirror = await runCli([
      "push",
      "--json",
      "--mirror",
      local,
      `${daemon.url}/m/x`,
    ]);
    assertEquals(JSON.parse(mirror.stdout).files_deleted, 1);
    const purge = await runCli([
      "purge",
      "--yes",
      "--json",
      `${daemon.url}/m/x`,
    ]);
    assertEquals(JSON.parse(purge.stdout), {
      op: "purge",
      files_deleted: 41,
      dirs_deleted: 2,
      dry_run: false,
    });
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});

Deno.test("daemon code makes no path-based filesystem call: every name goes through a tree", () => {
  // Files that only ever touch trusted paths (config, state directory,
  // the sandbox's own set-up), each with why.
  const trusted: Record<string, string> = {
    "lib/daemon/config_load.ts": "reads the config, secret and TLS files",
    "lib/daemon/perf.ts": "the state directory's history and probe file",
    "lib/daemon/temp_journal.ts": "the state directory's journal",
    "lib/daemon/landlock.ts": "stats the paths it allows, at start-up",
    "lib/daemon/sandbox.ts": "signal listeners only",
    "lib/daemon/link_broker.ts": "a comment",
    "lib/daemon/call_log.ts": "appends to the operator's configured log file",
    "lib/transfer/same_host.ts":
      "reads the kernel's boot id at its fixed /proc path (never a name a peer sent)",
  };
  const pathCall =
    /Deno\.(readDir|lstat|stat|open|remove|rename|chmod|chown|utime|symlink|mkdir|readLink|readFile|readTextFile|writeFile|writeTextFile|truncate|create|link|copyFile|realPath)(Sync)?\(/;
  const offenders: string[] = [];
  for (const dir of ["lib/daemon", "lib/transfer"]) {
    for (const e of Deno.readDirSync(`${REPO}/${dir}`)) {
      const rel = `${dir}/${e.name}`;
      if (!e.name.endsWith(".ts") || e.name.endsWith("_test.ts")) continue;
      if (trusted[rel]) continue;
      const text = Deno.readTextFileSync(`${REPO}/${rel}`);
      text.split("\n").forEach((line, i) => {
        if (pathCall.test(line) && !line.trim().startsWith("*")) {
          offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
        }
      });
    }
  }
  assertEquals(offenders, []);
});

Deno.test("the sandboxed daemon is confined by the kernel: even a raw open through libc can't read outside", async () => {
  if (Deno.build.os !== "linux") return;
  const w = makeWork();
  const daemon = await startDaemon({
    modules: { m: { path: w.module } },
    env: { BLIT_DAEMON_DEBUG_READ: `${w.victims}/f0` },
  });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const err = daemon.stderr();
    if (/kernel confinement: Landlock ABI \d+/.test(err)) {
      // EACCES from the kernel, past every Deno permission check.
      assertMatch(err, new RegExp(`debug raw open ${w.victims}/f0: errno 13`));
    } else {
      assertMatch(err, /kernel confinement: none \(/);
    }
    assertMatch(err, /containment: kernel \(openat2/);
    assertMatch(err, /--allow-ffi=\/\S*libc\.so\.6/);
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(w.work, { recursive: true });
  }
});
