// Containment against a racing client, speaking the raw protocol: symlink
// swaps between the check and the use (read, write, mirror), escaping and
// absolute link targets, links through symlinked parents, temp files left
// by a crash, connection floods and a hostile manifest.
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import {
  type BlitRpcClient,
  crashDaemon,
  daemonPids,
  dryRunMirrorPush,
  grpcClient,
  listCall,
  openPull,
  openPush,
  peakRssMiB,
  purgeCall,
  startDaemon,
  type TestDaemon,
} from "./_daemon.ts";
import {
  EntryKind,
  FileDataSchema,
  FileListSchema,
  NeedCompleteSchema,
  PullHeaderSchema,
  type ServerPullResponse,
  TransferOptionsSchema,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";
import { dialDataPlane } from "../lib/wire/data_plane.ts";
import { isTempName } from "../lib/fs/temp_names.ts";
import { header, manifest, pushAll, pushHeader, until } from "./_push.ts";

const SECRET = "TOPSECRET-outside-the-module";

interface Setup {
  work: string;
  /** Module "m": links munged (the default). */
  munged: string;
  /** Module "raw": "mungeSymlinks": false, so a pushed link leads out. */
  raw: string;
  outside: string;
}

function setupDirs(): Setup {
  const work = Deno.realPathSync(
    Deno.makeTempDirSync({ prefix: "blit-contain-" }),
  );
  const setup = {
    work,
    munged: `${work}/munged`,
    raw: `${work}/raw`,
    outside: `${work}/outside`,
  };
  for (const dir of [setup.munged, setup.raw, setup.outside]) {
    Deno.mkdirSync(dir);
  }
  Deno.writeTextFileSync(`${setup.outside}/secret`, SECRET);
  return setup;
}

function modules(setup: Setup) {
  return {
    m: { path: setup.munged },
    raw: { path: setup.raw, mungeSymlinks: false },
  };
}

function outsideNames(setup: Setup): string[] {
  return [...Deno.readDirSync(setup.outside)].map((e) => e.name).sort();
}

async function withDaemon(
  setup: Setup,
  fn: (
    daemon: TestDaemon,
    c1: BlitRpcClient,
    c2: BlitRpcClient,
  ) => Promise<void>,
  options: Parameters<typeof startDaemon>[0] = {},
): Promise<void> {
  let passed = false;
  try {
    const daemon = await startDaemon({ modules: modules(setup), ...options });
    const c1 = grpcClient(daemon.address);
    const c2 = grpcClient(daemon.address);
    try {
      await fn(daemon, c1, c2);
    } finally {
      c1.close();
      c2.close();
      assertEquals(await daemon.stop(), 0, daemon.stderr());
    }
    passed = true;
  } finally {
    // A failed test leaves nothing behind either (a passing one removes
    // its directories itself, after its last look).
    if (!passed) Deno.removeSync(setup.work, { recursive: true });
  }
}

Deno.test("read swap: a file listed by a pull, then swapped for a link out, is never read (gRPC and TCP, munged or not)", async () => {
  const setup = setupDirs();
  await withDaemon(setup, async (_daemon, c1, c2) => {
    for (const [module, dir] of [["m", setup.munged], ["raw", setup.raw]]) {
      for (const tcp of [false, true]) {
        const at = `${module} over ${tcp ? "TCP" : "gRPC"}`;
        Deno.mkdirSync(`${dir}/x`, { recursive: true });
        Deno.writeTextFileSync(`${dir}/x/passwd`, "harmless\n");
        const pull = openPull(c1);
        pull.send({
          case: "header",
          value: create(PullHeaderSchema, {
            module,
            path: "x",
            options: create(TransferOptionsSchema, { forceGrpcData: !tcp }),
          }),
        });
        // The data path is offered before the manifest; a client dials it
        // at once.
        let message: ServerPullResponse | undefined;
        let conn: Deno.Conn | undefined;
        do {
          message = await pull.next();
          if (message?.payload.case === "negotiation" && tcp) {
            const n = message.payload.value;
            conn = await dialDataPlane("127.0.0.1", n.port, n.token);
          }
        } while (message && message.payload.case !== "manifestComplete");
        assertEquals(message?.payload.case, "manifestComplete", at);
        assertEquals(conn !== undefined, tcp, at);

        // The swap, from another connection: passwd becomes a link out.
        const swap = await pushAll(c2, module, "x", [
          header(module, "passwd", EntryKind.SYMLINK, {
            linkTarget: `${setup.outside}/secret`,
          }),
        ]);
        assertEquals(swap, { code: 0, details: "" }, at);
        assertEquals(
          Deno.readLinkSync(`${dir}/x/passwd`),
          module === "m"
            ? `/blit-munged/${setup.outside}/secret`
            : `${setup.outside}/secret`,
          at,
        );

        pull.send({
          case: "need",
          value: create(FileListSchema, { paths: ["passwd"] }),
        });
        pull.send({
          case: "needComplete",
          value: create(NeedCompleteSchema, {}),
        });
        let received = "";
        if (conn) {
          const buffer = new Uint8Array(65536);
          for (let i = 0; i < 1000; i++) {
            let got: number | null;
            try {
              got = await conn.read(buffer);
            } catch {
              break;
            }
            if (got === null) break;
            received += new TextDecoder().decode(buffer.subarray(0, got));
          }
          conn.close();
        }
        for (;;) {
          const m = await pull.next();
          if (!m) break;
          if (m.payload.case === "fileData") {
            received += new TextDecoder().decode(m.payload.value.data);
          }
        }
        const status = await pull.status;
        assertEquals(status.code, grpc.status.FAILED_PRECONDITION, at);
        assertMatch(status.details, /^"passwd" is no longer a regular file/);
        assertEquals(received.includes(SECRET), false, at);
        pull.end();
        Deno.removeSync(`${dir}/x`, { recursive: true });
      }
    }
  });
  assertEquals(outsideNames(setup), ["secret"]);
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("write swap: a push whose destination becomes a link out, or another directory, writes nothing anywhere", async () => {
  const setup = setupDirs();
  const big = new Uint8Array(2 * 1024 * 1024).fill(7);
  await withDaemon(setup, async (_daemon, c1, c2) => {
    for (const [module, dir] of [["m", setup.munged], ["raw", setup.raw]]) {
      for (const swapTo of ["link", "dir"]) {
        const at = `${module}, swapped for a ${swapTo}`;
        const push = openPush(c1);
        push.send(pushHeader(module, "x"));
        assertEquals((await push.next())?.payload.case, "ack", at);
        for (
          const payload of manifest([
            header(module, "big", EntryKind.FILE, { size: big.length }),
          ])
        ) push.send(payload);
        assertEquals(
          (await until(push, "negotiation"))?.payload.case,
          "negotiation",
        );

        // Between the negotiation and the bytes: purge x, put a link (or
        // a fresh directory) in its place.
        assertEquals(
          (await purgeCall(c2, { module, path: "x" })).code,
          0,
          at,
        );
        const swap = await pushAll(c2, module, "", [
          swapTo === "link"
            ? header(module, "x", EntryKind.SYMLINK, {
              linkTarget: setup.outside,
            })
            : header(module, "x", EntryKind.DIR),
        ]);
        assertEquals(swap.code, 0, `${at}: ${swap.details}`);

        for (let off = 0; off < big.length; off += 1 << 20) {
          push.send({
            case: "fileData",
            value: create(FileDataSchema, {
              path: "big",
              header: off === 0
                ? header(module, "big", EntryKind.FILE, { size: big.length })
                : undefined,
              data: big.subarray(off, off + (1 << 20)),
              last: off + (1 << 20) >= big.length,
            }),
          });
        }
        push.send({
          case: "uploadComplete",
          value: create(UploadCompleteSchema),
        });
        push.end();
        while (await push.next());
        const status = await push.status;
        if (swapTo === "link") {
          assertEquals(status.code, grpc.status.INVALID_ARGUMENT, at);
          assertMatch(status.details, /"x": goes through a symlink/);
        } else if (Deno.statSync(dir).birthtime !== null) {
          assertEquals(status.code, grpc.status.FAILED_PRECONDITION, at);
          assertMatch(status.details, /"x" was replaced during the transfer/);
          assertEquals([...Deno.readDirSync(`${dir}/x`)], [], at);
        } else {
          // No birth times here, and a new directory may reuse the old
          // inode number: then it can't be told apart, but it is the same
          // path inside the module, so the file lands there or nowhere.
          assertEquals(
            status.code === 0
              ? Deno.statSync(`${dir}/x/big`).size === big.length
              : /was replaced/.test(status.details),
            true,
            `${at}: ${status.details}`,
          );
        }
        assertEquals(outsideNames(setup), ["secret"], at);
        Deno.removeSync(`${dir}/x`, { recursive: true });
      }
    }
  });
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("mirror swap: deletions never follow a destination swapped for a link out", async () => {
  const setup = setupDirs();
  Deno.writeTextFileSync(`${setup.outside}/a`, "a");
  Deno.mkdirSync(`${setup.outside}/sub`);
  Deno.writeTextFileSync(`${setup.outside}/sub/b`, "b");
  await withDaemon(setup, async (_daemon, c1, c2) => {
    for (const module of ["m", "raw"]) {
      const push = openPush(c1);
      push.send(pushHeader(module, "x", { mirror: true }));
      assertEquals((await push.next())?.payload.case, "ack");
      for (const payload of manifest([])) push.send(payload);
      assertEquals(
        (await until(push, "negotiation"))?.payload.case,
        "negotiation",
      );
      assertEquals((await purgeCall(c2, { module, path: "x" })).code, 0);
      const swap = await pushAll(c2, module, "", [
        header(module, "x", EntryKind.SYMLINK, { linkTarget: setup.outside }),
      ]);
      assertEquals(swap.code, 0, swap.details);
      push.send({
        case: "uploadComplete",
        value: create(UploadCompleteSchema),
      });
      push.end();
      while (await push.next());
      const status = await push.status;
      assertEquals(status.code, grpc.status.INVALID_ARGUMENT, module);
      assertMatch(status.details, /"x": goes through a symlink/);
      assertEquals(outsideNames(setup), ["a", "secret", "sub"]);
      assertEquals(Deno.readTextFileSync(`${setup.outside}/sub/b`), "b");
    }
  });
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("links: escaping targets are munged on disk and come back exact; links through a symlinked parent are refused", async () => {
  const setup = setupDirs();
  const local = `${setup.work}/local`;
  Deno.mkdirSync(`${local}/d`, { recursive: true });
  const links: Record<string, string> = {
    "abs": "/etc/shadow",
    "rel": "d",
    "d/up": "../../../x",
    "d/ok": "../rel",
    "d/tricky": "a/../../b",
    "looks-munged": "/blit-munged/x",
  };
  for (const [path, target] of Object.entries(links)) {
    Deno.symlinkSync(target, `${local}/${path}`);
  }
  const munged: Record<string, string> = {
    "abs": "/blit-munged//etc/shadow",
    "rel": "d",
    "d/up": "/blit-munged/../../../x",
    "d/ok": "../rel",
    "d/tricky": "/blit-munged/a/../../b",
    "looks-munged": "/blit-munged//blit-munged/x",
  };
  await withDaemon(setup, async (daemon, c1) => {
    const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
    for (const [module, dir] of [["m", setup.munged], ["raw", setup.raw]]) {
      const push = await runCli(
        ["push", "--json", `${local}/`, `${daemon.url}/${module}/t/`],
        { env },
      );
      assertEquals(push.code, 0, push.stderr);
      for (const path of Object.keys(links)) {
        assertEquals(
          Deno.readLinkSync(`${dir}/t/${path}`),
          module === "m" ? munged[path] : links[path],
          `${module}: ${path}`,
        );
      }
      // A list shows what the client pushed, never the munged text.
      const listed = await listCall(c1, module, "t");
      assertEquals(
        listed.entries.find((e) => e.path === "abs")?.linkTarget,
        "/etc/shadow",
      );
      // A second push sees the munged links as up to date.
      const again = await runCli(
        ["push", "--json", `${local}/`, `${daemon.url}/${module}/t/`],
        { env },
      );
      assertEquals(JSON.parse(again.stdout).files_transferred, 0, again.stdout);
      const back = `${setup.work}/back-${module}`;
      const pull = await runCli(
        ["pull", `${daemon.url}/${module}/t/`, `${back}/`],
        { env },
      );
      assertEquals(pull.code, 0, pull.stderr);
      for (const [path, target] of Object.entries(links)) {
        assertEquals(Deno.readLinkSync(`${back}/${path}`), target, path);
      }
      // Through the link "rel" (-> d): neither a link nor a file is made.
      for (
        const entry of [
          header(module, "t/rel/l2", EntryKind.SYMLINK, { linkTarget: "x" }),
          header(module, "t/rel/f", EntryKind.FILE, { size: 1 }),
        ]
      ) {
        const refused = await pushAll(c1, module, "", [entry], {
          "t/rel/f": new Uint8Array(1),
        });
        assertEquals(refused.code, grpc.status.INVALID_ARGUMENT);
        assertMatch(refused.details, /"t\/rel": goes through a symlink/);
      }
      assertEquals(
        [...Deno.readDirSync(`${dir}/t/d`)].map((e) => e.name).sort(),
        ["ok", "tricky", "up"],
      );
    }
  });
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("temp files: a crash's are swept at restart; temp names are never listed, pulled or accepted", async () => {
  const setup = setupDirs();
  const state = `${setup.work}/state`;
  Deno.mkdirSync(state);
  const options = { modules: modules(setup), config: { stateDir: state } };
  const daemon = await startDaemon(options);
  const client = grpcClient(daemon.address);
  const push = openPush(client);
  push.send(pushHeader("m", "deep/dir"));
  for (
    const payload of manifest([
      header("m", "big", EntryKind.FILE, { size: 8 << 20 }),
    ])
  ) push.send(payload);
  assertEquals((await until(push, "negotiation"))?.payload.case, "negotiation");
  push.send({
    case: "fileData",
    value: create(FileDataSchema, {
      path: "big",
      header: header("m", "big", EntryKind.FILE, { size: 8 << 20 }),
      data: new Uint8Array(3 << 20),
    }),
  });
  const temps = () =>
    [...Deno.readDirSync(`${setup.munged}/deep/dir`)]
      .map((e) => e.name).filter(isTempName);
  for (let i = 0; i < 500 && temps().length === 0; i++) {
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(temps().length, 1);
  await crashDaemon(daemon); // kill -9, parent and sandboxed child
  client.close();
  assertEquals(temps().length, 1); // the crash left it

  const again = await startDaemon(options);
  const c = grpcClient(again.address);
  try {
    assertEquals(temps(), []);
    assertMatch(
      again.stderr(),
      /removed 1 temporary files left by an earlier run/,
    );
    // One planted by hand (say, by an older blit) is hidden everywhere.
    const planted = ".a.blit-0123456789ab.tmp";
    Deno.writeTextFileSync(`${setup.munged}/${planted}`, "partial");
    const listed = await listCall(c, "m", "");
    assertEquals(listed.entries.map((e) => e.path), ["deep"]);
    const pulled = await runCli([
      "pull",
      "--json",
      `${again.url}/m/`,
      `${setup.work}/pulled/`,
    ], { env: { BLIT_DISABLE_PERF_HISTORY: "1" } });
    assertEquals(pulled.code, 0, pulled.stderr);
    assertEquals(
      [...Deno.readDirSync(`${setup.work}/pulled`)].map((e) => e.name),
      ["deep"],
    );
    const direct = await runCli([
      "pull",
      `${again.url}/m/${planted}`,
      `${setup.work}/direct`,
    ]);
    assertEquals(direct.code, 1);
    assertMatch(direct.stderr, /not found/);
    const refused = await pushAll(c, "m", "", [
      header("m", `sub/${planted}`, EntryKind.FILE, { size: 1 }),
    ]);
    assertEquals(refused.code, grpc.status.INVALID_ARGUMENT);
    assertMatch(refused.details, /uses a name reserved for temp files/);
  } finally {
    c.close();
    assertEquals(await again.stop(), 0);
  }
  Deno.removeSync(setup.work, { recursive: true });
});

async function flood(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    const connecting = Deno.connect({ hostname: "127.0.0.1", port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const conn = await Promise.race([
      connecting.catch(() => undefined),
      new Promise<undefined>((r) =>
        timer = setTimeout(() => r(undefined), 1000)
      ),
    ]);
    clearTimeout(timer);
    if (!conn) {
      // The listen queue is full: flooded enough. Don't leak a late one.
      connecting.then((c) => c.close(), () => {});
      break;
    }
    conns.push(conn);
  }
  return conns;
}

Deno.test("flood: past the descriptor limit on both ports, the daemon serves again within seconds", async () => {
  const setup = setupDirs();
  Deno.writeTextFileSync(`${setup.munged}/f`, "f");
  await withDaemon(setup, async (daemon) => {
    const dataPort = Number(
      daemon.stderr().match(/data plane: 127\.0\.0\.1:(\d+)/)![1],
    );
    for (const port of [daemon.port, dataPort]) {
      const conns = await flood(port, 600);
      assertEquals(conns.length > 256, true, `${conns.length} connections`);
      await new Promise((r) => setTimeout(r, 500));
      for (const conn of conns) conn.close();
      // Serving again: a normal list, well within 10 s.
      const started = Date.now();
      const list = await runCli(["list", "--json", `${daemon.url}/m/`], {
        env: { BLIT_DISABLE_PERF_HISTORY: "1" },
      });
      assertEquals(list.code, 0, list.stderr + daemon.stderr());
      assertEquals(
        JSON.parse(list.stdout).map((e: { name: string }) => e.name),
        ["f"],
      );
      assertEquals(Date.now() - started < 10_000, true);
    }
    // Out of descriptors or over the caps, reported, but a few lines only.
    const lines = daemon.stderr().split("\n").filter((l) =>
      /accept failed|refusing connections|rejected/.test(l)
    );
    assertEquals(lines.length > 0 && lines.length <= 8, true, lines.join("\n"));
  }, { wrapper: ["prlimit", "--nofile=256:256", "--"] });
  Deno.removeSync(setup.work, { recursive: true });
});

/** Reads until the peer closes (true) or `ms` pass (false). */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<boolean> {
  const timer = setTimeout(() => conn.close(), ms);
  const buffer = new Uint8Array(4096);
  try {
    for (let i = 0; i < 10_000; i++) {
      if (await conn.read(buffer) === null) return true;
    }
    return false;
  } catch (error) {
    // Reset by the daemon counts; our own timer's close does not.
    return !(error instanceof Deno.errors.BadResource);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // closed by the timer
    }
  }
}

const HTTP2_PREFACE = new Uint8Array([
  ...new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
  0,
  0,
  0,
  4,
  0,
  0,
  0,
  0,
  0, // an empty SETTINGS frame
]);

Deno.test("timeouts: a silent connection, an idle HTTP/2 session and an idle transfer are all dropped", async () => {
  const setup = setupDirs();
  await withDaemon(setup, async (daemon, c1) => {
    const dial = () =>
      Deno.connect({ hostname: "127.0.0.1", port: daemon.port });
    // Says nothing at all: gone after the 1 s handshake timeout.
    let started = Date.now();
    assertEquals(await closedWithin(await dial(), 5000), true);
    assertEquals(Date.now() - started >= 900, true);
    // Speaks HTTP/2, then sits idle: gone after the 2 s idle timeout.
    const idle = await dial();
    await idle.write(HTTP2_PREFACE);
    started = Date.now();
    assertEquals(await closedWithin(idle, 8000), true);
    assertEquals(Date.now() - started >= 1500, true);
    // Opens a push and sends nothing more: failed after 2 s idle.
    const push = openPush(c1);
    push.send(pushHeader("m", ""));
    assertEquals((await push.next())?.payload.case, "ack");
    started = Date.now();
    const status = await push.status;
    assertEquals(status.code, grpc.status.DEADLINE_EXCEEDED);
    assertEquals(
      status.details,
      "Transfer idle for 2 s; the daemon gave up on it",
    );
    assertEquals(Date.now() - started >= 1500, true);
  }, { config: { limits: { handshakeTimeout: 1, idleTimeout: 2 } } });
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("caps: a transfer or connection over its limit is told RESOURCE_EXHAUSTED; the CLI says so in one line", async () => {
  const setup = setupDirs();
  const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
  await withDaemon(setup, async (daemon, c1, c2) => {
    // Three connections per address (the gRPC clients have not connected
    // yet): three sockets that spoke (HTTP/2's preface; silent ones would
    // make way) hold them, so the CLI's is answered RESOURCE_EXHAUSTED,
    // then closed.
    const preface = new TextEncoder().encode(
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    );
    const held = [];
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: daemon.port,
      });
      await conn.write(preface);
      held.push(conn);
    }
    // Read by the daemon before the CLI's connection arrives.
    await new Promise((r) => setTimeout(r, 200));
    const refused = await runCli(["list", `${daemon.url}/m/`], { env });
    assertEquals(refused.code, 1, refused.stdout + daemon.stderr());
    assertMatch(
      refused.stderr,
      /^blit: error: The daemon has too many connections open \(limits\.maxConnections, limits\.maxConnectionsPerClient\); try again later\n$/,
    );
    for (const conn of held) conn.close();
    const served = await runCli(["list", `${daemon.url}/m/`], { env });
    assertEquals(served.code, 0, served.stderr);
    // One transfer per client address: the second is refused at once.
    const first = openPush(c1);
    first.send(pushHeader("m", ""));
    assertEquals((await first.next())?.payload.case, "ack");
    const second = await pushAll(c2, "m", "", []);
    assertEquals(second.code, grpc.status.RESOURCE_EXHAUSTED);
    assertMatch(
      second.details,
      /^Too many transfers from your address at once/,
    );
    const cli = await runCli(["push", setup.outside, `${daemon.url}/m/`], {
      env,
    });
    assertEquals(cli.code, 1);
    assertEquals(
      cli.stderr,
      "blit: error: Too many transfers from your address at once (1, the daemon's limit); wait for one to finish\n",
    );
    first.cancel();
  }, {
    config: {
      limits: { maxSessionsPerClient: 1, maxConnectionsPerClient: 3 },
    },
  });
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("errors name module-relative paths, never where the module lives; a module configured through a link works", async () => {
  const setup = setupDirs();
  const link = `${setup.work}/module-link`;
  Deno.symlinkSync(setup.munged, link);
  Deno.mkdirSync(`${setup.munged}/dir`);
  Deno.writeTextFileSync(`${setup.munged}/locked`, "x");
  Deno.chmodSync(`${setup.munged}/locked`, 0o000);
  const env = { BLIT_DISABLE_PERF_HISTORY: "1" };
  const local = `${setup.work}/local`;
  Deno.mkdirSync(local);
  Deno.writeTextFileSync(`${local}/dir`, "a file where a directory is");
  await withDaemon(setup, async (daemon) => {
    const runs = [
      await runCli(["push", `${local}/`, `${daemon.url}/m/`], { env }),
      await runCli(["pull", `${daemon.url}/m/missing`, `${local}/x`], { env }),
      await runCli(["push", `${local}/`, `${daemon.url}/m/locked/sub/`], {
        env,
      }),
    ];
    if (Deno.uid() !== 0) {
      // root reads mode 000 files anyway
      runs.push(
        await runCli(["pull", `${daemon.url}/m/locked`, `${local}/l`], { env }),
      );
    }
    for (const run of runs) {
      assertEquals(run.code, 1, run.stderr);
      assertEquals(run.stderr.includes(setup.work), false, run.stderr);
      assertEquals(run.stderr.trim().split("\n").length, 1, run.stderr);
    }
    assertMatch(runs[0].stderr, /Cannot replace directory "dir" with a file/);
    assertMatch(runs[1].stderr, /"missing" not found in module "m"/);
    assertEquals(
      runs[2].stderr,
      "blit: error: Destination locked/sub can't be made: locked is not a directory\n",
    );
    // Through the link the module was configured with: resolved at load.
    const ok = await runCli(["push", `${local}/dir`, `${daemon.url}/m/new/`], {
      env,
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(Deno.readTextFileSync(`${setup.munged}/new/dir`).length, 27);
  }, { modules: { m: { path: link } } });
  Deno.chmodSync(`${setup.munged}/locked`, 0o644);
  Deno.removeSync(setup.work, { recursive: true });
});

Deno.test("hostile manifest: 300,000 deep directories stop at the memory budget, daemon under 300 MB", async () => {
  const setup = setupDirs();
  await withDaemon(setup, async (daemon, c1) => {
    // ~4 KB paths: 16 components of 250 characters under a unique prefix.
    const tail = Array.from(
      { length: 16 },
      (_, i) => String(i).repeat(250).slice(0, 250),
    ).join("/");
    const batches = function* () {
      for (let sent = 0; sent < 300_000; sent += 256) {
        yield Array.from(
          { length: 256 },
          (_, i) =>
            header("m", `${sent + i}/${tail}`.slice(0, 4090), EntryKind.DIR),
        );
      }
    };
    const { status: result, sent } = await dryRunMirrorPush(
      c1,
      "m",
      batches(),
    );
    assertEquals(sent > 0, true);
    assertEquals(result.code, grpc.status.RESOURCE_EXHAUSTED, result.details);
    assertMatch(result.details, /per-transfer memory budget \(128 MiB\)/);
    const peak = peakRssMiB(daemonPids(daemon));
    console.log(
      `hostile manifest: daemon peak RSS ${peak.toFixed(0)} MiB`,
    );
    assertEquals(peak > 0 && peak < 300, true, `peak RSS ${peak} MiB`);
    // And it still serves.
    assertEquals((await listCall(c1, "m", "")).code, 0);
  });
  Deno.removeSync(setup.work, { recursive: true });
});
