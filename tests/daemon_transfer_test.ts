// The daemon's protocol end to end, driven by a bare grpc-js client: push,
// list, pull (gRPC and TCP), purge, mirror, dry run and file placement.
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import {
  type BlitRpcClient,
  type Conversation,
  grpcClient,
  listCall,
  openPull,
  openPush,
  purgeCall,
  startDaemon,
  type TestDaemon,
} from "./_daemon.ts";
import { makeTree, snapshot, tempFiles } from "./_helpers.ts";
import {
  type ClientPushRequest,
  type DataTransferNegotiation,
  FileDataSchema,
  FileListSchema,
  ManifestBatchSchema,
  ManifestCompleteSchema,
  NeedCompleteSchema,
  PullDoneSchema,
  PullHeaderSchema,
  PushHeaderSchema,
  type PushSummary,
  type ServerPushResponse,
  TransferOptionsSchema,
  Transport,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";
import { entryToHeader } from "../lib/rpc/convert.ts";
import type { FileEntry } from "../lib/fs/entry.ts";
import { enumerate } from "../lib/fs/enumerate.ts";
import { dialDataPlane } from "../lib/wire/data_plane.ts";
import {
  encodeEnd,
  encodeFileHeader,
  encodeHash,
  encodeResume,
} from "../lib/wire/frame_codec.ts";
import { FrameDecoder } from "../lib/wire/frame_decoder.ts";
import { sendFrames } from "../lib/wire/frame_io.ts";
import { decodeEntries } from "../lib/rpc/packed_manifest.ts";
import { hashBytes } from "../lib/fs/hash.ts";

const MANY = 1100;

/** makeTree plus 1,100 small files in `many/` (more than one batch). */
function makeSource(root: string): void {
  makeTree(root);
  Deno.mkdirSync(`${root}/many`);
  for (let i = 0; i < MANY; i++) {
    const name = `${root}/many/f${String(i).padStart(4, "0")}.txt`;
    Deno.writeTextFileSync(name, `file ${i}\n`);
    Deno.utimeSync(name, 1_650_000_000, 1_650_000_000);
  }
  Deno.utimeSync(`${root}/many`, 1_650_000_000, 1_650_000_000);
}

async function manifestOf(root: string): Promise<FileEntry[]> {
  return await Array.fromAsync(enumerate(root));
}

function filesOf(entries: FileEntry[]): FileEntry[] {
  return entries.filter((e) => e.kind === "file");
}

function sumSizes(entries: FileEntry[]): number {
  return entries.reduce((n, e) => n + e.size, 0);
}

interface PushOutcome {
  ackDestination: string;
  fileListBatches: number[];
  needed: string[];
  negotiation?: DataTransferNegotiation;
  summary?: PushSummary;
}

/** Sends `manifest` as single-entry messages, 500 a batch, then its end. */
function sendManifest(
  call: Conversation<ClientPushRequest, ServerPushResponse>,
  manifest: FileEntry[],
): void {
  for (let i = 0; i < manifest.length; i += 500) {
    call.send({
      case: "manifestBatch",
      value: create(ManifestBatchSchema, {
        entries: manifest.slice(i, i + 500).map(entryToHeader),
      }),
    });
  }
  call.send({
    case: "manifestComplete",
    value: create(ManifestCompleteSchema, { entries: BigInt(manifest.length) }),
  });
}

/**
 * Runs the push protocol up to the negotiation; `sendBytes` moves the
 * needed files, then upload_complete and the summary.
 */
async function push(
  client: BlitRpcClient,
  header: {
    module: string;
    destination: string;
    mirror?: boolean;
    sourceIsFile?: boolean;
    forceGrpcData?: boolean;
    dryRun?: boolean;
  },
  manifest: FileEntry[],
  sendBytes: (
    call: Conversation<ClientPushRequest, ServerPushResponse>,
    negotiation: DataTransferNegotiation,
    needed: string[],
  ) => Promise<void>,
): Promise<PushOutcome> {
  const call = openPush(client);
  call.send({
    case: "header",
    value: create(PushHeaderSchema, {
      module: header.module,
      destination: header.destination,
      mirror: header.mirror ?? false,
      sourceIsFile: header.sourceIsFile ?? false,
      options: create(TransferOptionsSchema, {
        forceGrpcData: header.forceGrpcData ?? false,
        dryRun: header.dryRun ?? false,
      }),
    }),
  });
  sendManifest(call, manifest);
  const ack = await call.next();
  if (ack?.payload.case !== "ack") {
    throw new Error(
      `expected ack, got ${ack?.payload.case}: ${
        JSON.stringify(await call.status)
      }`,
    );
  }
  const outcome: PushOutcome = {
    ackDestination: ack.payload.value.destination,
    fileListBatches: [],
    needed: [],
  };
  // The data path is offered first (not in a dry run), then the need
  // list comes back in batches, the last one marked.
  for (;;) {
    const message = await call.next();
    if (message?.payload.case === "negotiation") {
      outcome.negotiation = message.payload.value;
      continue;
    }
    if (message?.payload.case === "fileList") {
      outcome.fileListBatches.push(message.payload.value.paths.length);
      outcome.needed.push(...message.payload.value.paths);
      if (message.payload.value.last && outcome.negotiation) break;
      continue;
    }
    if (message?.payload.case === "summary" && !outcome.negotiation) {
      outcome.summary = message.payload.value;
      call.end();
      assertEquals(await call.status, { code: 0, details: "" });
      return outcome;
    }
    throw new Error(
      `unexpected ${message?.payload.case}: ${
        JSON.stringify(await call.status)
      }`,
    );
  }
  if (!outcome.negotiation) throw new Error("no negotiation");
  await sendBytes(call, outcome.negotiation, outcome.needed);
  call.send({ case: "uploadComplete", value: create(UploadCompleteSchema) });
  call.end();
  for (;;) {
    const message = await call.next();
    if (message === undefined) break;
    if (message.payload.case === "summary") {
      outcome.summary = message.payload.value;
    }
  }
  assertEquals(await call.status, { code: 0, details: "" });
  return outcome;
}

/** Sends the needed files as FileData messages of at most 256 KiB. */
function sendFileData(root: string, manifest: FileEntry[]) {
  const byPath = new Map(manifest.map((e) => [e.path, e]));
  return async function send(
    call: Conversation<ClientPushRequest, ServerPushResponse>,
    _negotiation: DataTransferNegotiation,
    needed: string[],
  ): Promise<void> {
    for (const path of needed) {
      const entry = byPath.get(path)!;
      const bytes = Deno.readFileSync(`${root}/${path}`);
      // The whole body's content hash rides on the last chunk.
      const hash = await hashBytes(bytes);
      let offset = 0;
      do {
        const data = bytes.subarray(offset, offset + 256 * 1024);
        offset += data.length;
        call.send({
          case: "fileData",
          value: create(FileDataSchema, {
            path,
            header: offset === data.length ? entryToHeader(entry) : undefined,
            data,
            last: offset >= bytes.length,
            hash: offset >= bytes.length ? hash : undefined,
          }),
        });
      } while (offset < bytes.length);
    }
  };
}

/** Sends the needed files over the negotiated TCP data plane. */
function sendTcp(root: string, manifest: FileEntry[]) {
  const byPath = new Map(manifest.map((e) => [e.path, e]));
  return async function send(
    _call: Conversation<ClientPushRequest, ServerPushResponse>,
    negotiation: DataTransferNegotiation,
    needed: string[],
  ): Promise<void> {
    assertEquals(negotiation.transport, Transport.TCP);
    assertEquals(negotiation.host, "");
    const conn = await dialDataPlane(
      "127.0.0.1",
      negotiation.port,
      negotiation.token,
    );
    await sendFrames(conn, root, needed.map((p) => byPath.get(p)!));
    // The daemon closes after the end frame; wait for it.
    await conn.read(new Uint8Array(1)).catch(() => null);
    conn.close();
  };
}

/** One pulled file: its header as announced, and its bytes. */
interface Pulled {
  entry: { size: number; mtimeMs: number; mode: number };
  bytes: Uint8Array;
}

interface PullOutcome {
  sourceIsDir: boolean;
  manifest: string[];
  negotiation: DataTransferNegotiation;
  files: Map<string, Pulled>;
  summary?: PushSummary;
}

function collect(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** Runs a whole pull, asking for every regular file in the manifest. */
async function pull(
  client: BlitRpcClient,
  module: string,
  path: string,
  options: { forceGrpcData?: boolean; fallback?: boolean } = {},
): Promise<PullOutcome> {
  const call = openPull(client);
  call.send({
    case: "header",
    value: create(PullHeaderSchema, {
      module,
      path,
      options: create(TransferOptionsSchema, {
        forceGrpcData: options.forceGrpcData ?? false,
      }),
    }),
  });
  const ack = await call.next();
  if (ack?.payload.case !== "ack") {
    throw new Error(`expected ack: ${JSON.stringify(await call.status)}`);
  }
  assertEquals(ack.payload.value.sourceExists, true);
  // The data path is offered before the manifest.
  const offer = await call.next();
  if (offer?.payload.case !== "negotiation") {
    throw new Error(
      `expected negotiation: ${JSON.stringify(await call.status)}`,
    );
  }
  const negotiation = offer.payload.value;
  const manifest: string[] = [];
  const wanted: string[] = [];
  for (;;) {
    const message = await call.next();
    if (message?.payload.case === "manifestComplete") break;
    if (message?.payload.case !== "manifestBatch") {
      throw new Error(`expected manifest, got ${message?.payload.case}`);
    }
    // The daemon packs its batches (see lib/rpc/packed_manifest.ts).
    const take = (h: { path: string; kind: number }) => {
      manifest.push(h.path);
      if (h.kind === 1) wanted.push(h.path);
    };
    message.payload.value.entries.forEach(take);
    decodeEntries(message.payload.value.packed, take);
  }
  // Two need messages, to show they add up.
  const half = Math.ceil(wanted.length / 2);
  for (const paths of [wanted.slice(0, half), wanted.slice(half)]) {
    call.send({ case: "need", value: create(FileListSchema, { paths }) });
  }
  // A client that cannot reach the data plane asks for gRPC instead.
  const fallback = negotiation.transport === Transport.TCP &&
    (options.fallback ?? false);
  call.send({
    case: "needComplete",
    value: create(NeedCompleteSchema, { fallbackToGrpc: fallback }),
  });
  const files = new Map<string, Pulled>();
  const grpcBytes = async () => {
    let received = 0;
    let current:
      | { path: string; entry: Pulled["entry"]; chunks: Uint8Array[] }
      | undefined;
    while (files.size < wanted.length) {
      const message = await call.next();
      if (message?.payload.case !== "fileData") {
        throw new Error(`expected file data, got ${message?.payload.case}`);
      }
      const data = message.payload.value;
      if (data.header) {
        current = {
          path: data.path,
          entry: {
            size: Number(data.header.size),
            mtimeMs: Number(data.header.mtimeMs),
            mode: data.header.mode,
          },
          chunks: [],
        };
      }
      current!.chunks.push(data.data.slice());
      received += data.data.length;
      call.send({
        case: "dataAck",
        value: { $typeName: "blit.v2.DataAck", bytes: BigInt(received) },
      });
      if (data.last) {
        files.set(current!.path, {
          entry: current!.entry,
          bytes: collect(current!.chunks),
        });
        current = undefined;
      }
    }
  };
  if (fallback) {
    await grpcBytes();
  } else if (negotiation.transport === Transport.TCP) {
    const conn = await dialDataPlane(
      "127.0.0.1",
      negotiation.port,
      negotiation.token,
    );
    const decoder = new FrameDecoder();
    const buffer = new Uint8Array(1 << 20);
    let current:
      | { path: string; entry: Pulled["entry"]; chunks: Uint8Array[] }
      | undefined;
    const close = () => {
      if (current) {
        files.set(current.path, {
          entry: current.entry,
          bytes: collect(current.chunks),
        });
      }
      current = undefined;
    };
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (const event of decoder.push(buffer.subarray(0, n))) {
        if (event.type === "file") {
          close();
          const { path, size, mtimeMs, mode } = event.entry;
          current = { path, entry: { size, mtimeMs, mode }, chunks: [] };
        } else if (event.type === "data") {
          // The decoder hands out views of `buffer`: keep a copy.
          current!.chunks.push(event.bytes.slice());
        } else close();
      }
    }
    decoder.finish();
    conn.close();
  } else {
    await grpcBytes();
  }
  call.send({ case: "done", value: create(PullDoneSchema) });
  call.end();
  let summary: PushSummary | undefined;
  for (;;) {
    const message = await call.next();
    if (message === undefined) break;
    if (message.payload.case === "summary") summary = message.payload.value;
  }
  assertEquals(await call.status, { code: 0, details: "" });
  return {
    sourceIsDir: ack.payload.value.sourceIsDir,
    manifest,
    negotiation,
    files,
    summary,
  };
}

/** Asserts the pulled files equal the regular files under `root`. */
function assertPulled(
  files: Map<string, Pulled>,
  root: string,
  manifest: FileEntry[],
): void {
  const expected = filesOf(manifest);
  assertEquals([...files.keys()].sort(), expected.map((e) => e.path).sort());
  for (const entry of expected) {
    const got = files.get(entry.path)!;
    assertEquals(got.entry, {
      size: entry.size,
      mtimeMs: Math.trunc(entry.mtimeMs),
      mode: entry.mode,
    }, entry.path);
    assertEquals(got.bytes, Deno.readFileSync(`${root}/${entry.path}`));
  }
}

async function withDaemon(
  fn: (
    ctx: {
      work: string;
      src: string;
      module: string;
      client: BlitRpcClient;
      daemon: TestDaemon;
    },
  ) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  const work = Deno.realPathSync(
    await Deno.makeTempDir({ prefix: "blit-daemon-xfer-" }),
  );
  const src = `${work}/src`;
  const module = `${work}/module`;
  Deno.mkdirSync(src);
  Deno.mkdirSync(module);
  const daemon = await startDaemon({
    modules: { m: { path: module } },
    config,
  });
  const client = grpcClient(daemon.address);
  try {
    await fn({ work, src, module, client, daemon });
  } finally {
    client.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
}

Deno.test("push over gRPC FileData, list, pull over gRPC and TCP, purge", async () => {
  await withDaemon(async ({ src, module, client }) => {
    makeSource(src);
    const manifest = await manifestOf(src);
    const files = filesOf(manifest);

    // Push the tree into m/up over gRPC.
    const first = await push(
      client,
      { module: "m", destination: "up", forceGrpcData: true },
      manifest,
      sendFileData(src, manifest),
    );
    assertEquals(first.ackDestination, "up");
    // Small batches while the first 1,000 are named (bytes start early),
    // then up to 1,000 a batch; the last is marked (and may be empty).
    assertEquals(
      first.fileListBatches,
      [...Array(15).fill(64), files.length - 960],
    );
    assertEquals(first.needed.sort(), files.map((e) => e.path).sort());
    assertEquals(first.negotiation?.transport, Transport.GRPC);
    assertEquals(first.negotiation?.streams, 1);
    assertEquals(first.summary?.filesTransferred, BigInt(files.length + 1));
    assertEquals(first.summary?.bytesTransferred, BigInt(sumSizes(files)));
    assertEquals(first.summary?.filesDeleted, 0n);
    assertEquals(first.summary?.filesSkipped, 0n);
    assertEquals(first.summary?.transport, Transport.GRPC);
    assertEquals(
      await snapshot(`${module}/up`, { dirMtimes: true }),
      await snapshot(src, { dirMtimes: true }),
    );
    assertEquals(tempFiles(module), []);

    // The same push again needs nothing.
    const again = await push(
      client,
      { module: "m", destination: "up", forceGrpcData: true },
      manifest,
      sendFileData(src, manifest),
    );
    assertEquals(again.needed, []);
    assertEquals(again.summary?.filesTransferred, 0n);
    assertEquals(again.summary?.filesSkipped, BigInt(files.length + 1));

    // List: a directory in batches of at most 1000, sorted; one file alone.
    const top = await listCall(client, "m", "up");
    assertEquals(top.code, 0);
    assertEquals(top.pathIsDir, true);
    assertEquals(top.entries.map((e) => e.path), [
      "a.txt",
      "bin",
      "dir one",
      "empty dir",
      "empty.txt",
      "link to a",
      "many",
    ]);
    assertEquals(top.entries[5].linkTarget, "a.txt");
    const many = await listCall(client, "m", "up/many");
    assertEquals(many.batches, [1000, 100]);
    assertEquals(many.entries[0].path, "f0000.txt");
    const one = await listCall(client, "m", "up/a.txt");
    assertEquals(one.pathIsDir, false);
    assertEquals(
      one.entries.map((e) => [e.path, Number(e.size), e.mode]),
      [["a.txt", 6, 0o644]],
    );

    // Pull it back over gRPC, over TCP and by the fallback.
    const viaGrpc = await pull(client, "m", "up", { forceGrpcData: true });
    assertEquals(viaGrpc.sourceIsDir, true);
    assertEquals(viaGrpc.manifest, manifest.map((e) => e.path));
    assertEquals(viaGrpc.negotiation.transport, Transport.GRPC);
    assertPulled(viaGrpc.files, src, manifest);
    assertEquals(viaGrpc.summary?.filesTransferred, BigInt(files.length));
    assertEquals(viaGrpc.summary?.bytesTransferred, BigInt(sumSizes(files)));
    assertEquals(viaGrpc.summary?.transport, Transport.GRPC);

    const viaTcp = await pull(client, "m", "up");
    assertEquals(viaTcp.negotiation.transport, Transport.TCP);
    assertEquals(viaTcp.negotiation.host, "");
    assertPulled(viaTcp.files, src, manifest);
    assertEquals(viaTcp.summary?.transport, Transport.TCP);

    const fallback = await pull(client, "m", "up", { fallback: true });
    assertEquals(fallback.negotiation.transport, Transport.TCP);
    assertPulled(fallback.files, src, manifest);
    assertEquals(fallback.summary?.transport, Transport.GRPC);

    // A single file: one manifest entry named after it.
    const single = await pull(client, "m", "up/dir one/naïve café.txt");
    assertEquals(single.sourceIsDir, false);
    assertEquals(single.manifest, ["naïve café.txt"]);
    assertEquals(
      new TextDecoder().decode(single.files.get("naïve café.txt")?.bytes),
      "unicode\n",
    );

    // Purge: a tree, then the root (which needs allow_root and stays).
    assertEquals(
      await purgeCall(client, { module: "m", path: "up/many", dryRun: true }),
      {
        code: 0,
        details: "",
        response: {
          $typeName: "blit.v2.PurgeResponse",
          filesDeleted: BigInt(MANY),
          dirsDeleted: 1n,
        },
      },
    );
    assertEquals(Deno.readDirSync(`${module}/up/many`).toArray().length, MANY);
    const tree = await purgeCall(client, { module: "m", path: "up/many" });
    assertEquals(tree.response?.filesDeleted, BigInt(MANY));
    assertEquals(tree.response?.dirsDeleted, 1n);
    const refused = await purgeCall(client, { module: "m", path: "" });
    assertEquals(refused.code, 9); // FAILED_PRECONDITION
    assertEquals(refused.details, 'Purging the root of module "m" needs --yes');
    const root = await purgeCall(client, {
      module: "m",
      path: "",
      allowRoot: true,
    });
    assertEquals(root.code, 0);
    assertEquals(Deno.readDirSync(module).toArray(), []);
    const missing = await listCall(client, "m", "up");
    assertEquals([missing.code, missing.details], [
      5,
      'Path "up" not found in module "m"',
    ]);
  });
});

Deno.test("push over the TCP data plane; mirror deletes only after; dry run writes nothing", async () => {
  await withDaemon(async ({ src, module, client }) => {
    makeTree(src);
    const manifest = await manifestOf(src);
    const files = filesOf(manifest);
    Deno.mkdirSync(`${module}/old/deep`, { recursive: true });
    Deno.writeTextFileSync(`${module}/old/deep/stale.txt`, "stale");
    Deno.writeTextFileSync(`${module}/stale.txt`, "stale");

    const dry = await push(
      client,
      { module: "m", destination: "", mirror: true, dryRun: true },
      manifest,
      () => Promise.reject(new Error("a dry run negotiates nothing")),
    );
    assertEquals(dry.negotiation, undefined);
    assertEquals(dry.summary?.filesTransferred, BigInt(files.length + 1));
    // Two files and the directories old and old/deep.
    assertEquals(dry.summary?.filesDeleted, 4n);
    assertEquals(
      Deno.readDirSync(module).toArray().map((e) => e.name).sort(),
      ["old", "stale.txt"],
    );

    const real = await push(
      client,
      { module: "m", destination: "", mirror: true },
      manifest,
      sendTcp(src, manifest),
    );
    assertEquals(real.negotiation?.transport, Transport.TCP);
    assertEquals(real.summary?.filesTransferred, BigInt(files.length + 1));
    assertEquals(real.summary?.filesDeleted, 4n);
    assertEquals(real.summary?.transport, Transport.TCP);
    assertEquals(await snapshot(module), await snapshot(src));
    assertEquals(tempFiles(module), []);
  });
});

Deno.test("push of one file: into a directory, or as the destination path", async () => {
  await withDaemon(async ({ src, module, client }) => {
    Deno.writeTextFileSync(`${src}/one.txt`, "one\n");
    Deno.mkdirSync(`${module}/existing`);
    const manifest = (await manifestOf(src)).map((e) => ({ ...e }));
    const cases: [string, string][] = [
      ["", "one.txt"],
      ["new/", "new/one.txt"],
      ["existing", "existing/one.txt"],
      ["renamed.txt", "renamed.txt"],
      ["sub/renamed.txt", "sub/renamed.txt"],
    ];
    for (const [destination, lands] of cases) {
      const outcome = await push(
        client,
        { module: "m", destination, sourceIsFile: true, forceGrpcData: true },
        manifest,
        sendFileData(src, manifest),
      );
      assertEquals(outcome.needed, ["one.txt"], destination);
      assertEquals(outcome.summary?.filesTransferred, 1n, destination);
      assertEquals(Deno.readTextFileSync(`${module}/${lands}`), "one\n");
    }
  });
});

Deno.test("a forceGrpcData daemon offers gRPC only and listens on no data port", async () => {
  await withDaemon(async ({ src, module, client, daemon }) => {
    Deno.writeTextFileSync(`${src}/x.txt`, "x");
    const manifest = await manifestOf(src);
    const outcome = await push(
      client,
      { module: "m", destination: "" },
      manifest,
      sendFileData(src, manifest),
    );
    assertEquals(outcome.negotiation?.transport, Transport.GRPC);
    assertEquals(outcome.negotiation?.token, "");
    assertEquals(Deno.readTextFileSync(`${module}/x.txt`), "x");
    const pulled = await pull(client, "m", "");
    assertEquals(pulled.negotiation.transport, Transport.GRPC);
    assertEquals(pulled.files.get("x.txt")?.bytes, new Uint8Array([0x78]));
    assertEquals(daemon.stderr().includes("data plane: off (gRPC only)"), true);
  }, { forceGrpcData: true });
});

/** A push of `manifest` into module m by hand, up to its data connection. */
async function rawTcpPush(client: BlitRpcClient, manifest: FileEntry[]) {
  const call = openPush(client);
  call.send({
    case: "header",
    value: create(PushHeaderSchema, { module: "m", destination: "" }),
  });
  sendManifest(call, manifest);
  let negotiation: DataTransferNegotiation | undefined;
  while (!negotiation) {
    const message = await call.next();
    if (message === undefined) throw new Error("call ended early");
    if (message.payload.case === "negotiation") {
      negotiation = message.payload.value;
    }
  }
  const conn = await dialDataPlane(
    "127.0.0.1",
    negotiation.port,
    negotiation.token,
  );
  return { call, conn };
}

/** Closes a hand-made push: its data connection, then the call; its status. */
async function finishRawPush(
  call: Conversation<ClientPushRequest, ServerPushResponse>,
  conn: Deno.Conn,
) {
  conn.close();
  call.send({ case: "uploadComplete", value: create(UploadCompleteSchema) });
  call.end();
  while (await call.next() !== undefined) {
    // drain
  }
  return await call.status;
}

Deno.test("a data-plane connection without the end frame writes nothing under a final name", async () => {
  await withDaemon(async ({ src, module, client }) => {
    Deno.writeFileSync(`${src}/big.bin`, new Uint8Array(300_000).fill(7));
    const manifest = await manifestOf(src);
    const { call, conn } = await rawTcpPush(client, manifest);
    // Half of the file, then the end frame: a short file is an error.
    await conn.write(encodeFileHeader(manifest[0]));
    await conn.write(new Uint8Array(150_000).fill(7));
    await conn.write(encodeEnd());
    const status = await finishRawPush(call, conn);
    assertEquals(status.code, 3); // INVALID_ARGUMENT
    assertEquals(Deno.readDirSync(module).toArray(), []);
  });
});

Deno.test("a body whose content hash does not match fails the push with DATA_LOSS and never lands", async () => {
  await withDaemon(async ({ src, module, client }) => {
    const body = new Uint8Array(300_000).map((_, i) => i & 0xff);
    Deno.writeFileSync(`${src}/big.bin`, body);
    const manifest = await manifestOf(src);
    const { call, conn } = await rawTcpPush(client, manifest);
    // The whole body, one byte flipped on the way, and the hash of the
    // original: what a corrupting network would deliver.
    const corrupted = body.slice();
    corrupted[123_456] ^= 0x20;
    await conn.write(encodeFileHeader(manifest[0]));
    await conn.write(corrupted);
    await conn.write(encodeHash(await hashBytes(body)));
    await conn.write(encodeEnd());
    const status = await finishRawPush(call, conn);
    assertEquals(status, {
      code: 15, // DATA_LOSS
      details:
        "big.bin arrived corrupted (its content hash does not match); it was not written",
    });
    assertEquals(Deno.readDirSync(module).toArray(), []);
  });
});

Deno.test("a resume frame for a copy the daemon never offered, or through a planted link, is refused and writes nothing", async () => {
  await withDaemon(async ({ work, src, module, client }) => {
    const size = 32 << 20;
    Deno.writeFileSync(`${src}/big.bin`, new Uint8Array(size));
    // A link planted under the partial copy's name, to a file outside.
    Deno.writeFileSync(`${work}/outside`, new Uint8Array(4 << 20).fill(9));
    Deno.symlinkSync(`${work}/outside`, `${module}/.big.bin.blit-partial.tmp`);
    const manifest = await manifestOf(src);
    const { call, conn } = await rawTcpPush(client, manifest);
    // "Keep your first two blocks": the daemon offered none.
    await conn.write(
      encodeResume(manifest[0], {
        blockSize: 4 << 20,
        blocks: 2,
        bitmap: new Uint8Array([3]),
      }),
    );
    await conn.write(encodeEnd());
    const status = await finishRawPush(call, conn);
    assertEquals(status.code, 3); // INVALID_ARGUMENT
    assertMatch(
      status.details,
      /big\.bin was resumed, but no partial copy of it was offered/,
    );
    assertEquals(
      Deno.readFileSync(`${work}/outside`),
      new Uint8Array(4 << 20).fill(9),
    );
    // Nothing written: the planted link is all there is, untouched.
    assertEquals(Deno.readDirSync(module).toArray().map((e) => e.name), [
      ".big.bin.blit-partial.tmp",
    ]);
    assertEquals(
      Deno.readLinkSync(`${module}/.big.bin.blit-partial.tmp`),
      `${work}/outside`,
    );
  });
});

Deno.test("two data streams: one token each, none reusable; a stream sending an unasked file fails the push and lands nothing", async () => {
  await withDaemon(async ({ src, module, client }) => {
    Deno.writeFileSync(`${src}/a.bin`, new Uint8Array(300_000).fill(1));
    Deno.writeFileSync(`${src}/b.bin`, new Uint8Array(200_000).fill(2));
    const manifest = await manifestOf(src);
    const call = openPush(client);
    call.send({
      case: "header",
      value: create(PushHeaderSchema, {
        module: "m",
        destination: "",
        options: create(TransferOptionsSchema, { streams: 2 }),
      }),
    });
    const ack = await call.next();
    assertEquals(ack?.payload.case, "ack");
    const offer = await call.next();
    if (offer?.payload.case !== "negotiation") {
      throw new Error("no negotiation");
    }
    const n = offer.payload.value;
    assertEquals(n.streams, 2);
    assertEquals(n.tokens.length, 2);
    assertEquals(n.tokens[0] !== n.tokens[1], true);
    const [c1, c2] = await Promise.all(
      n.tokens.map((t) => dialDataPlane("127.0.0.1", n.port, t)),
    );
    // A token already used is refused.
    await assertRejects(
      () => dialDataPlane("127.0.0.1", n.port, n.tokens[0]),
      Error,
      /closed the connection without accepting the token/,
    );
    sendManifest(call, manifest);
    // Wait for the need list, then: a.bin honestly on stream 1, and on
    // stream 2 a file nobody asked for.
    for (;;) {
      const m = await call.next();
      if (m?.payload.case === "fileList" && m.payload.value.last) break;
      if (!m) throw new Error("call ended early");
    }
    const a = manifest.find((e) => e.path === "a.bin")!;
    await sendFrames(c1, src, [a]);
    await c2.write(
      encodeFileHeader({ ...a, path: "stray.bin" }),
    ).catch(() => {});
    await c2.write(new Uint8Array(a.size)).catch(() => {});
    await c2.write(encodeEnd()).catch(() => {});
    c2.close();
    call.send({ case: "uploadComplete", value: create(UploadCompleteSchema) });
    call.end();
    while (await call.next() !== undefined) {
      // drain
    }
    const status = await call.status;
    assertEquals(status.code, 3); // INVALID_ARGUMENT
    assertMatch(status.details, /stray\.bin was not asked for/);
    // Nothing landed under a final name, no temp file is left.
    assertEquals(
      [...Deno.readDirSync(module)].filter((e) => e.name !== "a.bin").map((e) =>
        e.name
      ),
      [],
    );
    assertEquals(tempFiles(module), []);
  });
});

Deno.test("a pull's need list must follow the manifest: out of order, twice or never offered fails the call, and nothing is sent", async () => {
  await withDaemon(async ({ module, client }) => {
    for (let i = 0; i < 5; i++) Deno.writeTextFileSync(`${module}/f${i}`, "x");
    const cases: [string, (files: string[]) => string[]][] = [
      ["out of order", (files) => [files[3], files[1]]],
      ["twice", (files) => [files[2], files[2]]],
      ["never offered", () => ["nope"]],
    ];
    for (const [label, needs] of cases) {
      const call = openPull(client);
      call.send({
        case: "header",
        value: create(PullHeaderSchema, {
          module: "m",
          path: "",
          options: create(TransferOptionsSchema, { forceGrpcData: true }),
        }),
      });
      const files: string[] = [];
      for (;;) {
        const message = await call.next();
        if (!message) throw new Error(`${label}: the call ended early`);
        if (message.payload.case === "manifestComplete") break;
        if (message.payload.case === "manifestBatch") {
          decodeEntries(message.payload.value.packed, (h) => {
            if (h.kind === 1) files.push(h.path);
          });
        }
      }
      assertEquals(files.length, 5, label);
      call.send({
        case: "need",
        value: create(FileListSchema, { paths: needs(files) }),
      });
      const sent: string[] = [];
      for (;;) {
        const message = await call.next();
        if (!message) break;
        if (message.payload.case === "fileData") {
          sent.push(message.payload.value.path);
        }
      }
      const status = await call.status;
      assertEquals(status.code, 3, `${label}: ${status.details}`);
      assertMatch(
        status.details,
        /^Need list names "[^"]+", which is not in the manifest \(or not in its order, or twice\)$/,
      );
      assertEquals(sent, [], label);
    }
  });
});
