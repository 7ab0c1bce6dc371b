// The CLI against a hostile daemon: a fake server that lies in its
// manifest or sends files nobody asked for. Nothing may land outside the
// destination, and nothing half-written may stay.
import * as grpc from "../lib/deps/grpc.ts";
import { hashBytes } from "../lib/fs/hash.ts";
import { create } from "../lib/rpc/codec.ts";
import { assertEquals, assertMatch } from "./_assert.ts";
import { runCli } from "./_helpers.ts";
import {
  AckSchema,
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
import { blitService } from "../lib/rpc/grpc_service.ts";

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

Deno.test("a daemon that sends an unasked file, too many bytes or a corrupted body leaves nothing behind", async () => {
  for (const lie of ["other path", "too long", "corrupted"]) {
    const work = await Deno.makeTempDir();
    const fake = await fakeDaemon((call) => {
      let step = 0;
      call.on("data", (request: ClientPullRequest) => {
        if (step++ === 0) manifest(call, [header("asked.txt", 3)]);
        if (request.payload.case === "needComplete") {
          const path = lie === "other path" ? "unasked.txt" : "asked.txt";
          const data = new TextEncoder().encode(
            lie === "too long" ? "abcdef" : "abc",
          );
          // "corrupted": the hash of other bytes than those sent.
          void hashBytes(lie === "corrupted" ? data.map((b) => b ^ 1) : data)
            .then((hash) =>
              call.write(message({
                case: "fileData",
                value: create(FileDataSchema, {
                  path,
                  header: header(path, 3),
                  data,
                  last: true,
                  hash,
                }),
              }))
            );
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
        {
          "other path": /was not asked for/,
          "too long": /more than its 3 bytes/,
          corrupted:
            /^blit: error: asked\.txt arrived corrupted \(its content hash does not match\); it was not written; run the same command again to resend it\n$/,
        }[lie]!,
      );
      assertEquals([...Deno.readDirSync(`${work}/dest`)], []);
    } finally {
      fake.close();
      await Deno.remove(work, { recursive: true });
    }
  }
});
