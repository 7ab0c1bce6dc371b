// Abuse that used to degrade service, tried again as an attacker would,
// with the real daemon on loopback: idle sockets, trickling sessions and
// a snapshot flood never keep a real client from being served.
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import {
  grpcClient,
  openPush,
  startDaemon,
  type TestDaemon,
} from "./_daemon.ts";
import { pushHeader } from "./_push.ts";
import { create } from "../lib/rpc/codec.ts";
import * as grpc from "../lib/deps/grpc.ts";
import { PerfSnapshotRequestSchema } from "../lib/rpc/service.ts";
import { SNAPSHOTS_PER_WINDOW } from "../lib/daemon/perf.ts";

async function openSockets(port: number, n: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < n; i++) {
    conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // the daemon closed it already
    }
  }
}

/**
 * Runs `fn` with a daemon exporting module `m` (configured with
 * `config`), a file `a.txt` to push in `work`, and a push of it as a real
 * client makes it; stops and cleans up after.
 */
async function withDaemon(
  config: Record<string, unknown>,
  fn: (ctx: {
    work: string;
    daemon: TestDaemon;
    push: () => ReturnType<typeof runCli>;
  }) => Promise<void>,
): Promise<void> {
  const work = Deno.realPathSync(
    Deno.makeTempDirSync({ prefix: "blit-abuse-" }),
  );
  Deno.mkdirSync(`${work}/m`);
  Deno.writeTextFileSync(`${work}/a.txt`, "served");
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/m` } },
    config,
  });
  const push = () =>
    runCli([
      "push",
      "--json",
      "--retries",
      "0",
      `${work}/a.txt`,
      `${daemon.url}/m/a.txt`,
    ], { env: { BLIT_STATE_DIR: `${work}/state` } });
  try {
    await fn({ work, daemon, push });
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(work, { recursive: true });
  }
}

Deno.test("abuse: 100 silent sockets on each port from the client's own address don't lock it out (its push goes over TCP at once)", async () => {
  // A minute to say something: without eviction the sockets would hold
  // both ports' per-address caps (32) for all of it.
  await withDaemon(
    { limits: { handshakeTimeout: 60 } },
    async ({ work, daemon, push }) => {
      const dataPort = Number(
        daemon.stderr().match(/data plane: 127\.0\.0\.1:(\d+)/)![1],
      );
      const sockets = [
        ...await openSockets(daemon.port, 100),
        ...await openSockets(dataPort, 100),
      ];
      try {
        const run = await push();
        assertEquals(run.code, 0, run.stderr);
        assertEquals(run.stderr, "");
        const summary = JSON.parse(run.stdout);
        assertEquals([summary.files_transferred, summary.transport], [
          1,
          "tcp",
        ]);
        assertEquals(Deno.readTextFileSync(`${work}/m/a.txt`), "served");
      } finally {
        closeAll(sockets);
      }
    },
  );
});

Deno.test("abuse: sessions that trickle give their slots up to a real push; the trickles are told why", async () => {
  // Two slots; progress judged over 1 s windows (30 s by default).
  await withDaemon(
    { limits: { maxSessions: 2, progressWindow: 1 } },
    async ({ daemon, push }) => {
      const client = grpcClient(daemon.address);
      try {
        // Two sessions that say hello, then (almost) nothing.
        const trickles = [openPush(client), openPush(client)];
        for (const t of trickles) t.send(pushHeader("m", "slow"));
        for (const t of trickles) {
          assertEquals((await t.next())?.payload.case, "ack");
        }
        await new Promise((r) => setTimeout(r, 1500));
        const run = await push();
        assertEquals(run.code, 0, run.stderr);
        assertEquals(JSON.parse(run.stdout).files_transferred, 1);
        // One trickle made way (one slot was enough); it was told so.
        const ended = await Promise.race([
          Promise.any(trickles.map((t) => t.status)),
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000)),
        ]);
        assertEquals(ended?.code, grpc.status.RESOURCE_EXHAUSTED);
        assertMatch(ended!.details, /made too little progress/);
        for (const t of trickles) t.cancel();
      } finally {
        client.close();
      }
    },
  );
});

Deno.test("abuse: a PerfSnapshot flood from one address is refused past its rate; list still answers", async () => {
  await withDaemon({}, async ({ work, daemon }) => {
    Deno.writeTextFileSync(`${work}/m/f`, "x");
    const client = grpcClient(daemon.address);
    try {
      type Unary = (
        request: unknown,
        callback: (error: grpc.ServiceError | null) => void,
      ) => void;
      const snapshot = (client as unknown as Record<string, Unary>)
        .perfSnapshot;
      const codes = await Promise.all(
        Array.from(
          { length: 64 },
          () =>
            new Promise<number>((resolve) =>
              snapshot.call(
                client,
                create(PerfSnapshotRequestSchema, { module: "m" }),
                (error) => resolve(error?.code ?? 0),
              )
            ),
        ),
      );
      assertEquals(codes.filter((c) => c === 0).length, SNAPSHOTS_PER_WINDOW);
      assertEquals(
        codes.filter((c) => c === grpc.status.RESOURCE_EXHAUSTED).length,
        64 - SNAPSHOTS_PER_WINDOW,
      );
      const list = await runCli(["list", `${daemon.url}/m`], {
        env: { BLIT_STATE_DIR: `${work}/state` },
      });
      assertEquals(list.code, 0, list.stderr);
      assertMatch(list.stdout, / f\n$/);
    } finally {
      client.close();
    }
  });
});
