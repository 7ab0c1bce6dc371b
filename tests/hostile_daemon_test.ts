// The CLI against a hostile daemon: a fake server that lies in its
// manifest or sends files nobody asked for. Nothing may land outside the
// destination, and nothing half-written may stay.
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/deps/protobuf.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import {
  AckSchema,
  blitService,
  type ClientPullRequest,
  DataTransferNegotiationSchema,
  EntryKind,
  FileDataSchema,
  FileHeaderSchema,
  ManifestBatchSchema,
  ManifestCompleteSchema,
  type ServerPullResponse,
  ServerPullResponseSchema,
  Transport,
} from "../lib/rpc/service.ts";

type Script = (
  call: grpc.ServerDuplexStream<ClientPullRequest, ServerPullResponse>,
) => void;

function message(payload: ServerPullResponse["payload"]): ServerPullResponse {
  return create(ServerPullResponseSchema, { payload });
}

function header(path: string, size = 3, kind = EntryKind.FILE) {
  return create(FileHeaderSchema, {
    path,
    size: BigInt(size),
    kind,
    mode: 0o644,
    mtimeMs: 0n,
  });
}

async function fakeDaemon(
  script: Script,
): Promise<{ port: number; close: () => void }> {
  const server = new grpc.Server();
  server.addService(blitService, { pull: script });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (e, p) => e ? reject(e) : resolve(p),
    )
  );
  return { port, close: () => server.forceShutdown() };
}

function manifest(
  call: grpc.ServerDuplexStream<ClientPullRequest, ServerPullResponse>,
  entries: ReturnType<typeof header>[],
) {
  call.write(
    message({
      case: "ack",
      value: create(AckSchema, { sourceExists: true, sourceIsDir: true }),
    }),
  );
  // The data path is offered before the manifest: gRPC here.
  call.write(message({
    case: "negotiation",
    value: create(DataTransferNegotiationSchema, {
      transport: Transport.GRPC,
      streams: 1,
    }),
  }));
  call.write(
    message({
      case: "manifestBatch",
      value: create(ManifestBatchSchema, { entries }),
    }),
  );
  call.write(
    message({
      case: "manifestComplete",
      value: create(ManifestCompleteSchema, {}),
    }),
  );
}

Deno.test("a daemon whose manifest escapes the destination is refused", async () => {
  const work = await Deno.makeTempDir();
  const fake = await fakeDaemon((call) => {
    call.once("data", () => manifest(call, [header("../escaped.txt")]));
  });
  try {
    const r = await runCli([
      "pull",
      "--retries",
      "0",
      `blit://127.0.0.1:${fake.port}/m`,
      `${work}/dest`,
    ]);
    assertEquals(r.code, 1);
    assertMatch(
      r.stderr,
      /^blit: error: Unsafe path "\.\.\/escaped\.txt": contains '\.\.'\n$/,
    );
    assertEquals([...Deno.readDirSync(work)].map((e) => e.name), ["dest"]);
    assertEquals([...Deno.readDirSync(`${work}/dest`)], []);
  } finally {
    fake.close();
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a daemon that sends an unasked file or too many bytes leaves nothing behind", async () => {
  for (const lie of ["other path", "too long"]) {
    const work = await Deno.makeTempDir();
    const fake = await fakeDaemon((call) => {
      let step = 0;
      call.on("data", (request: ClientPullRequest) => {
        if (step++ === 0) manifest(call, [header("asked.txt", 3)]);
        if (request.payload.case === "needComplete") {
          const path = lie === "other path" ? "unasked.txt" : "asked.txt";
          call.write(message({
            case: "fileData",
            value: create(FileDataSchema, {
              path,
              header: header(path, 3),
              data: new TextEncoder().encode(
                lie === "too long" ? "abcdef" : "abc",
              ),
              last: true,
            }),
          }));
        }
      });
    });
    try {
      const r = await runCli([
        "pull",
        "--retries",
        "0",
        `blit://127.0.0.1:${fake.port}/m`,
        `${work}/dest`,
      ]);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(
        r.stderr,
        lie === "other path" ? /was not asked for/ : /more than its 3 bytes/,
      );
      assertEquals([...Deno.readDirSync(`${work}/dest`)], []);
    } finally {
      fake.close();
      await Deno.remove(work, { recursive: true });
    }
  }
});
