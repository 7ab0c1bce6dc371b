// The daemon process: start-up flags, refusals, and a clean stop on
// SIGTERM/SIGINT in the middle of transfers.
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import {
  DaemonStartError,
  grpcClient,
  openPush,
  startDaemon,
} from "./_daemon.ts";
import { relative } from "node:path";
import { REPO, runCli, tempFiles } from "./_helpers.ts";
import {
  type DataTransferNegotiation,
  FileDataSchema,
  ListModulesRequestSchema,
  type ListModulesResponse,
  ManifestBatchSchema,
  ManifestCompleteSchema,
  PushHeaderSchema,
  TransferOptionsSchema,
  Transport,
} from "../lib/rpc/service.ts";
import { entryToHeader } from "../lib/rpc/convert.ts";
import { dialDataPlane } from "../lib/wire/data_plane.ts";
import { encodeFileHeader } from "../lib/wire/frame_codec.ts";

async function runDaemon(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${REPO}/daemon.ts`, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

async function waitFor(check: () => boolean): Promise<boolean> {
  // Bounded: 10 s at most.
  for (let i = 0; i < 1000; i++) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return check();
}

Deno.test("--root and --port override the file; ListModules shows the module", async () => {
  const root = Deno.realPathSync(await Deno.makeTempDir());
  // Port 1 would need privileges: the flag must win for the start to work.
  const daemon = await startDaemon({
    config: { port: 1 },
    args: ["--root", root, "--port", "0"],
  });
  const client = grpcClient(daemon.address);
  try {
    assertEquals(daemon.address, `127.0.0.1:${daemon.port}`);
    const modules = await new Promise<ListModulesResponse | undefined>(
      (resolve, reject) =>
        client.listModules(
          create(ListModulesRequestSchema),
          (e, r) => e ? reject(e) : resolve(r),
        ),
    );
    assertEquals(
      modules?.modules.map((m) => [m.name, m.readOnly]),
      [["default", false]],
    );
    assertMatch(daemon.stderr(), /blit-daemon: modules: default=/);
  } finally {
    client.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("refusals: no modules, state dir inside a module, bad flags; --help", async () => {
  const work = Deno.realPathSync(await Deno.makeTempDir());
  try {
    let error: unknown;
    try {
      await startDaemon({});
    } catch (e) {
      error = e;
    }
    assertEquals(error instanceof DaemonStartError, true);
    assertEquals((error as DaemonStartError).code, 2);
    assertMatch(
      (error as DaemonStartError).stderr,
      /^blit-daemon: error: no modules to export; pass --root DIR or add "modules" to a --config file\n/,
    );

    const inside = await runDaemon(["--root", work], {
      BLIT_STATE_DIR: `${work}/state`,
    });
    assertEquals(inside.code, 2);
    assertEquals(
      inside.stderr,
      `blit-daemon: error: state directory ${work}/state/daemon is inside module "default"; set "stateDir" elsewhere\n`,
    );

    const unknown = await runDaemon(["--root", work, "--colour"]);
    assertEquals(unknown.code, 2);
    assertMatch(unknown.stderr, /^blit-daemon: error: .*--colour/);
    const port = await runDaemon(["--root", work, "--port", "70000"]);
    assertEquals(port.code, 2);
    assertEquals(
      port.stderr,
      'blit-daemon: error: --port must be 0-65535, got "70000"\n',
    );
    const help = await runDaemon(["--help"]);
    assertEquals(help.code, 0);
    assertMatch(help.stdout, /^blit-daemon \d+\.\d+\.\d+: export directories/);
    assertEquals(help.stderr, "");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

/** Starts a push of one 4 MiB file and returns once the negotiation came. */
async function startPush(
  address: string,
  src: string,
  forceGrpcData: boolean,
) {
  const bytes = new Uint8Array(4 << 20).fill(1);
  Deno.writeFileSync(`${src}/big.bin`, bytes);
  const entry = {
    path: "big.bin",
    kind: "file" as const,
    size: bytes.length,
    mtimeMs: 1_600_000_000_000,
    mode: 0o644,
  };
  const client = grpcClient(address);
  const call = openPush(client);
  call.send({
    case: "header",
    value: create(PushHeaderSchema, {
      module: "m",
      destination: "",
      options: create(TransferOptionsSchema, { forceGrpcData }),
    }),
  });
  call.send({
    case: "manifestBatch",
    value: create(ManifestBatchSchema, { entries: [entryToHeader(entry)] }),
  });
  call.send({
    case: "manifestComplete",
    value: create(ManifestCompleteSchema, { entries: 1n }),
  });
  let negotiation: DataTransferNegotiation | undefined;
  while (!negotiation) {
    const message = await call.next();
    if (message === undefined) throw new Error("the push ended early");
    if (message.payload.case === "negotiation") {
      negotiation = message.payload.value;
    }
  }
  return { client, call, negotiation, entry, bytes };
}

Deno.test("SIGTERM mid-push over gRPC: exit 0, the temp file is gone, nothing landed", async () => {
  const work = Deno.realPathSync(await Deno.makeTempDir());
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  const daemon = await startDaemon({ modules: { m: { path: module } } });
  const { client, call, negotiation, entry, bytes } = await startPush(
    daemon.address,
    work,
    true,
  );
  try {
    assertEquals(negotiation.transport, Transport.GRPC);
    call.send({
      case: "fileData",
      value: create(FileDataSchema, {
        path: "big.bin",
        header: entryToHeader(entry),
        data: bytes.subarray(0, 1 << 20),
        last: false,
      }),
    });
    assertEquals(await waitFor(() => tempFiles(module).length === 1), true);
    assertEquals(await daemon.stop("SIGTERM"), 0);
    assertEquals((await call.status).code !== 0, true);
    assertEquals(tempFiles(module), []);
    assertEquals(Deno.readDirSync(module).toArray(), []);
    assertMatch(daemon.stderr(), /blit-daemon: stopping/);
  } finally {
    client.close();
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("SIGINT mid-push over TCP: exit 0, the temp file is gone, nothing landed", async () => {
  const work = Deno.realPathSync(await Deno.makeTempDir());
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  const daemon = await startDaemon({ modules: { m: { path: module } } });
  const { client, call, negotiation, entry, bytes } = await startPush(
    daemon.address,
    work,
    false,
  );
  const conn = await dialDataPlane(
    "127.0.0.1",
    negotiation.port,
    negotiation.token,
  );
  try {
    assertEquals(negotiation.transport, Transport.TCP);
    await conn.write(encodeFileHeader(entry));
    await conn.write(bytes.subarray(0, 1 << 20));
    assertEquals(await waitFor(() => tempFiles(module).length === 1), true);
    assertEquals(await daemon.stop("SIGINT"), 0);
    assertEquals((await call.status).code !== 0, true);
    assertEquals(tempFiles(module), []);
    assertEquals(Deno.readDirSync(module).toArray(), []);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the daemon
    }
    client.close();
    await daemon.stop();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a relative --state-dir stays where it was given, whatever the daemon's working directory does", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const module = `${work}/module`;
  const state = `${work}/state`;
  Deno.mkdirSync(`${module}/sub`, { recursive: true });
  Deno.mkdirSync(`${work}/src`);
  Deno.writeTextFileSync(`${work}/src/f`, "f");
  const daemon = await startDaemon({
    modules: { m: { path: module } },
    args: ["--state-dir", relative(REPO, state)],
  });
  try {
    const r = await runCli(["push", `${work}/src/`, `${daemon.url}/m/sub/`]);
    assertEquals(r.code, 0, r.stderr);
    // The journal and history are in the state directory given...
    assertEquals(Deno.statSync(`${state}/temp_dirs.jsonl`).isFile, true);
    // ...and nothing of the daemon's landed inside the module.
    assertEquals(
      [...Deno.readDirSync(`${module}/sub`)].map((e) => e.name),
      ["f"],
    );
    assertEquals(
      [...Deno.readDirSync(module)].map((e) => e.name),
      ["sub"],
    );
  } finally {
    assertEquals(await daemon.stop(), 0);
  }
  Deno.removeSync(work, { recursive: true });
});
