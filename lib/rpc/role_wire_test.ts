// The roles' messages on each end of the push and pull calls: what goes
// out as which protobuf message, and what comes back as which role message.
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { create } from "./codec.ts";
import {
  FileListSchema,
  NeedCompleteSchema,
  PullDoneSchema,
  PushSummarySchema,
  ResumeOfferSchema,
  Transport,
  UploadCompleteSchema,
} from "./service.ts";
import { manifestBatchOf } from "./convert.ts";
import {
  pullReceiverPeer,
  pullSenderPeer,
  pushReceiverPeer,
  pushSenderPeer,
} from "./role_wire.ts";
import { DataLink, PeerError } from "../transfer/peer.ts";
import { loadZstd } from "../wire/zstd.ts";

// The packing functions compress synchronously once node:zlib is loaded.
await loadZstd();

/** A call that records what is written and answers from `queue`. */
function fakeCall<In>(queue: In[]) {
  const written: { payload: { case?: string; value?: unknown } }[] = [];
  const call = {
    write(message: never, callback?: (error?: Error | null) => void) {
      written.push(message);
      callback?.();
      return true;
    },
    once() {},
    off() {},
  };
  const reader = { next: () => Promise.resolve(queue.shift()) };
  return { written, call, reader };
}

const entry = {
  path: "a",
  kind: "file" as const,
  size: 1,
  mtimeMs: 0,
  mode: 0o644,
};

Deno.test("push, client end: the manifest, data and end of data go out; need lists, acks and the summary come back", async () => {
  const { written, call, reader } = fakeCall([
    {
      payload: {
        case: "fileList",
        value: create(FileListSchema, {
          paths: ["a"],
          decided: 3n,
          last: true,
          resumes: [
            create(ResumeOfferSchema, {
              path: "a",
              blockSize: 4,
              hashes: new Uint8Array(16),
            }),
          ],
        }),
      },
    },
    { payload: { case: "dataAck", value: { bytes: 7n } } },
    {
      payload: {
        case: "summary",
        value: create(PushSummarySchema, {
          filesTransferred: 2n,
          transport: Transport.TCP,
        }),
      },
    },
    { payload: { case: "ack", value: {} } },
  ]);
  const peer = pushSenderPeer(call as never, reader as never);
  await peer.write({ kind: "manifest", entries: [entry] });
  await peer.write({ kind: "manifestEnd", count: 1 });
  await peer.write({ kind: "dataEnd", fallback: true });
  assertEquals(written.map((m) => m.payload.case), [
    "manifestBatch",
    "manifestComplete",
    "uploadComplete",
  ]);
  assertEquals(
    (written[2].payload.value as { fallbackToGrpc: boolean }).fallbackToGrpc,
    true,
  );
  const needs = await peer.next();
  assertEquals(
    needs?.kind === "needs" &&
      [
        needs.paths,
        needs.decided,
        needs.last,
        needs.offers.get("a")?.blockSize,
      ],
    [["a"], 3, true, 4],
  );
  assertEquals(await peer.next(), { kind: "ack", bytes: 7 });
  const done = await peer.next();
  assertEquals(
    done?.kind === "done" && [done.summary.files, done.summary.transport],
    [2, "tcp"],
  );
  await assertRejects(
    () => peer.next(),
    PeerError,
    /^unexpected ack from the daemon$/,
  );
});

Deno.test("push, daemon end: a manifest batch is validated into entries; end of data carries the client's fallback", async () => {
  const { written, call, reader } = fakeCall([
    { payload: { case: "manifestBatch", value: manifestBatchOf([entry]) } },
    {
      payload: {
        case: "uploadComplete",
        value: create(UploadCompleteSchema, { fallbackToGrpc: true }),
      },
    },
    { payload: { case: "header", value: {} } },
  ]);
  const peer = pushReceiverPeer(call as never, reader as never);
  assertEquals(await peer.next(), { kind: "manifest", entries: [entry] });
  assertEquals(await peer.next(), { kind: "dataEnd", fallback: true });
  await assertRejects(
    () => peer.next(),
    PeerError,
    /^unexpected header from the client$/,
  );
  await peer.write({
    kind: "needs",
    paths: ["a"],
    offers: new Map(),
    bases: new Map(),
    decided: 1,
    last: true,
  });
  await peer.write({
    kind: "done",
    summary: {
      files: 1,
      bytes: 1,
      deleted: 0,
      skipped: 0,
      matched: 0,
      transport: "grpc",
    },
  });
  assertEquals(written.map((m) => m.payload.case), ["fileList", "summary"]);
  assertEquals((written[0].payload.value as { last: boolean }).last, true);
});

Deno.test("pull, client end: the last need batch becomes need + need_complete with the fallback; done is PullDone", async () => {
  const { written, call, reader } = fakeCall([
    {
      payload: {
        case: "dataComplete",
        value: create(UploadCompleteSchema, {}),
      },
    },
  ]);
  const peer = pullReceiverPeer(call as never, reader as never, true);
  await peer.write({
    kind: "needs",
    paths: ["a"],
    offers: new Map(),
    bases: new Map(),
    decided: 1,
    last: false,
  });
  await peer.write({
    kind: "needs",
    paths: ["b"],
    offers: new Map(),
    bases: new Map(),
    decided: 2,
    last: true,
  });
  await peer.write({
    kind: "done",
    summary: {
      files: 0,
      bytes: 0,
      deleted: 0,
      skipped: 0,
      matched: 0,
      transport: "grpc",
    },
  });
  assertEquals(written.map((m) => m.payload.case), [
    "need",
    "need",
    "needComplete",
    "done",
  ]);
  assertEquals(
    (written[2].payload.value as { fallbackToGrpc: boolean }).fallbackToGrpc,
    true,
  );
  assertEquals(await peer.next(), { kind: "dataEnd", fallback: false });
});

Deno.test("pull, daemon end: need_complete with a fallback settles the data link to messages", async () => {
  const { call, reader } = fakeCall([
    {
      payload: {
        case: "need",
        value: create(FileListSchema, { paths: ["a"], decided: 1n }),
      },
    },
    {
      payload: {
        case: "needComplete",
        value: create(NeedCompleteSchema, { fallbackToGrpc: true }),
      },
    },
    { payload: { case: "done", value: create(PullDoneSchema, {}) } },
  ]);
  let cancelled = 0;
  const link = new DataLink(new Promise(() => {}), () => cancelled++);
  const peer = pullSenderPeer(call as never, reader as never, link);
  const first = await peer.next();
  assertEquals(first?.kind === "needs" && [first.paths, first.last], [
    ["a"],
    false,
  ]);
  const last = await peer.next();
  assertEquals(last?.kind === "needs" && last.last, true);
  assertEquals([await link.connections, cancelled], [undefined, 1]);
  assertEquals((await peer.next())?.kind, "done");
});
