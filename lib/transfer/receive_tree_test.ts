// The whole conversation of the two roles in one process: sendTree and
// receiveTree joined by peerPair (no gRPC, no daemon), the bytes in
// messages or on loopback sockets, and a sender that breaks the rules
// (send_tree_test.ts has a receiver that does).
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { ManifestTooLargeError } from "../rpc/convert.ts";
import { enumerate } from "../fs/enumerate.ts";
import { Receiver } from "./receiver.ts";
import { Sender } from "./sender.ts";
import { sendTree } from "./send_tree.ts";
import { receiveTree } from "./receive_tree.ts";
import {
  DataLink,
  PeerError,
  peerPair,
  type ReceiverMessage,
  type SenderMessage,
} from "./peer.ts";

function tree(): { work: string; src: string; dst: string } {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const src = `${work}/src`;
  const dst = `${work}/dst`;
  Deno.mkdirSync(`${src}/d/empty`, { recursive: true });
  Deno.writeTextFileSync(`${src}/a.txt`, "alpha");
  // Bigger than an acknowledgement's worth: the window must open.
  Deno.writeFileSync(`${src}/d/big`, new Uint8Array(5_000_000).fill(9));
  Deno.writeTextFileSync(`${src}/d/zero`, "");
  Deno.symlinkSync("../a.txt", `${src}/d/link`);
  Deno.utimeSync(`${src}/a.txt`, 1_000_000, 1_000_000);
  Deno.mkdirSync(dst);
  return { work, src, dst };
}

/** A peer pair that records what crosses each way. */
function recorded() {
  const [toReceiver, toSender] = peerPair();
  const down: SenderMessage["kind"][] = [];
  const up: ReceiverMessage["kind"][] = [];
  return {
    down,
    up,
    toReceiver: {
      next: toReceiver.next,
      write(message: SenderMessage) {
        down.push(message.kind);
        return toReceiver.write(message);
      },
    },
    toSender: {
      next: toSender.next,
      write(message: ReceiverMessage) {
        up.push(message.kind);
        return toSender.write(message);
      },
    },
  };
}

/** A connected pair of loopback sockets, `count` times. */
async function socketPairs(count: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const a: Deno.Conn[] = [];
  const b: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) {
    const [dialled, accepted] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
      listener.accept(),
    ]);
    a.push(dialled);
    b.push(accepted);
  }
  listener.close();
  return [a, b];
}

function assertSameTree(src: string, dst: string) {
  assertEquals(Deno.readTextFileSync(`${dst}/a.txt`), "alpha");
  assertEquals(Deno.statSync(`${dst}/a.txt`).mtime?.getTime(), 1_000_000_000);
  assertEquals(
    Deno.readFileSync(`${dst}/d/big`),
    Deno.readFileSync(`${src}/d/big`),
  );
  assertEquals(Deno.readTextFileSync(`${dst}/d/zero`), "");
  assertEquals(Deno.readLinkSync(`${dst}/d/link`), "../a.txt");
  assertEquals(Deno.statSync(`${dst}/d/empty`).isDirectory, true);
}

Deno.test("conversation: a tree crosses in messages, acknowledged; a second run sends no data", async () => {
  const { work, src, dst } = tree();
  try {
    const first = recorded();
    const [sent, got] = await Promise.all([
      sendTree(first.toReceiver, new Sender(src), enumerate(src)),
      receiveTree(first.toSender, new Receiver(dst)),
    ]);
    assertSameTree(src, dst);
    assertEquals(sent.transport, "grpc");
    assertEquals(sent.summary, {
      files: 4,
      bytes: 5_000_005,
      deleted: 0,
      skipped: 0,
      matched: 0,
      same: 0,
      transport: "grpc",
    });
    assertEquals(got.result.files, 4);
    assertEquals(got.fallback, false);
    // 5 MB in messages: at least two acknowledgements came back.
    assertEquals(first.up.filter((k) => k === "ack").length >= 2, true);
    assertEquals(first.up.at(-1), "done");
    assertEquals(first.down.at(-1), "dataEnd");

    const second = recorded();
    const [again] = await Promise.all([
      sendTree(second.toReceiver, new Sender(src), enumerate(src)),
      receiveTree(second.toSender, new Receiver(dst)),
    ]);
    assertEquals(again.summary.files, 0);
    assertEquals(again.summary.skipped, 4);
    assertEquals(second.down.filter((k) => k === "data").length, 0);
    assertEquals(second.up, ["needs", "done"]);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("conversation: a mirror over data streams deletes what the source lacks, and reports how", async () => {
  const { work, src, dst } = tree();
  try {
    Deno.writeTextFileSync(`${dst}/stale`, "old");
    const [out, into] = await socketPairs(2);
    const talk = recorded();
    const [sent, got] = await Promise.all([
      sendTree(talk.toReceiver, new Sender(src), enumerate(src), {
        link: DataLink.of(out),
      }),
      receiveTree(talk.toSender, new Receiver(dst, { mirror: true }), {
        link: DataLink.of(into),
      }),
    ]);
    assertSameTree(src, dst);
    assertEquals(existsNot(`${dst}/stale`), true);
    assertEquals([sent.transport, sent.streams], ["tcp", 2]);
    assertEquals([got.transport, got.streams], ["tcp", 2]);
    assertEquals(got.result.deleted, 1);
    assertEquals(talk.down.filter((k) => k === "data").length, 0);
    assertEquals(talk.up.filter((k) => k === "ack").length, 0);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

function existsNot(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return false;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
}

Deno.test("conversation: a sender that could not dial falls back to messages, and both say so", async () => {
  const { work, src, dst } = tree();
  try {
    // The receiver listens: its connections never come, the sender's
    // end of data says it fell back.
    let cancelled = 0;
    const never = new DataLink(new Promise(() => {}), () => cancelled++);
    const [toReceiver, toSender] = peerPair();
    const [sent, got] = await Promise.all([
      sendTree(toReceiver, new Sender(src), enumerate(src), {
        link: DataLink.of(undefined),
      }),
      receiveTree(toSender, new Receiver(dst), { link: never }),
    ]);
    assertSameTree(src, dst);
    assertEquals([sent.transport, sent.fallback], ["grpc", true]);
    assertEquals([got.transport, got.fallback], ["grpc", true]);
    assertEquals(cancelled >= 1, true);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("conversation: a dry run names what would move and moves nothing", async () => {
  const { work, src, dst } = tree();
  try {
    const talk = recorded();
    const named: string[] = [];
    const [sent, got] = await Promise.all([
      sendTree(talk.toReceiver, new Sender(src), enumerate(src), {
        dryRun: true,
        onNeed: (path) => named.push(path),
      }),
      receiveTree(talk.toSender, new Receiver(dst, { dryRun: true }), {
        dryRun: true,
      }),
    ]);
    assertEquals(named.sort(), ["a.txt", "d/big", "d/zero"]);
    assertEquals(sent.summary.files, 4);
    assertEquals(got.result.bytes, 5_000_005);
    assertEquals([...Deno.readDirSync(dst)], []);
    assertEquals(talk.down.includes("data"), false);
    assertEquals(talk.down.includes("dataEnd"), false);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("conversation: a sender that ends early, or sends data where none may come, fails the receiver", async () => {
  const { work, dst } = tree();
  try {
    // Ends inside the manifest.
    let [toReceiver, toSender] = peerPair();
    toReceiver.end();
    let error: Error = await assertRejects(
      () => receiveTree(toSender, new Receiver(dst)),
      PeerError,
    );
    assertEquals((error as PeerError).ended, true);
    assertEquals(
      error.message,
      "the sender ended the transfer inside the manifest",
    );
    // Bytes in messages while the data streams are in use.
    [toReceiver, toSender] = peerPair();
    const [, into] = await socketPairs(1);
    const receiving = receiveTree(toSender, new Receiver(dst), {
      link: DataLink.of(into),
    });
    await toReceiver.write({ kind: "manifestEnd", count: 0 });
    await toReceiver.next(); // the need list's end
    await toReceiver.write({
      kind: "data",
      chunk: { path: "a", data: new Uint8Array(1), last: true },
    });
    error = await assertRejects(() => receiving, PeerError);
    assertEquals(error.message, "file data in messages after the data streams");
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("conversation: the receiver reads the manifest in order, skips empty batches, and refuses one too long or out of place", async () => {
  const { work, dst } = tree();
  const file = (path: string) => ({
    path,
    kind: "file" as const,
    size: 0,
    mtimeMs: 0,
    mode: 0o644,
  });
  try {
    // Empty batches are skipped, not a stall.
    let [toReceiver, toSender] = peerPair();
    let receiving = receiveTree(toSender, new Receiver(dst, { dryRun: true }), {
      dryRun: true,
    });
    await toReceiver.write({ kind: "manifest", entries: [] });
    await toReceiver.write({ kind: "manifest", entries: [file("x")] });
    await toReceiver.write({ kind: "manifest", entries: [] });
    await toReceiver.write({ kind: "manifestEnd", count: 1 });
    const needs = await toReceiver.next();
    assertEquals(needs?.kind === "needs" && needs.paths, ["x"]);
    assertEquals((await receiving).result.files, 1);

    // A batch of needs with descriptions leaves once it has waited 20 ms,
    // not only when 64 files are named: the sender gets work while the
    // receiver describes on (entries trickling in, one every 10 ms).
    Deno.mkdirSync(`${dst}/old`);
    for (let i = 0; i < 50; i++) {
      Deno.writeFileSync(`${dst}/old/t${i}`, new Uint8Array(2048).fill(i));
    }
    [toReceiver, toSender] = peerPair();
    receiving = receiveTree(
      toSender,
      new Receiver(`${dst}/old`, { delta: true }),
    );
    receiving.catch(() => {});
    const first: { message?: ReceiverMessage | null } = {};
    toReceiver.next().then((m) => {
      first.message = m;
    });
    const written: string[] = [];
    for (let i = 0; i < 50 && first.message === undefined; i++) {
      written.push(`t${i}`);
      await toReceiver.write({
        kind: "manifest",
        entries: [{ ...file(`t${i}`), size: 2048 }],
      });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const early = first.message;
    const named = early?.kind === "needs" ? early.paths : [];
    assertEquals(named.length > 0 && named.length < 50, true, `${named}`);
    assertEquals(named, written.slice(0, named.length));
    assertEquals(
      early?.kind === "needs" ? [...early.bases.keys()] : [],
      named,
    );
    // Ended here: data where the manifest goes on.
    await toReceiver.write({ kind: "dataEnd", fallback: false });
    await assertRejects(
      () => receiving,
      PeerError,
      /^expected the manifest, got dataEnd$/,
    );

    // More entries than allowed.
    [toReceiver, toSender] = peerPair();
    receiving = receiveTree(toSender, new Receiver(dst), { maxEntries: 2 });
    receiving.catch(() => {});
    await toReceiver.write({
      kind: "manifest",
      entries: [file("a"), file("b"), file("c")],
    });
    await assertRejects(
      () => receiving,
      ManifestTooLargeError,
      /^Manifest has more than 2 entries$/,
    );

    // Data before the manifest's end.
    [toReceiver, toSender] = peerPair();
    receiving = receiveTree(toSender, new Receiver(dst));
    receiving.catch(() => {});
    await toReceiver.write({ kind: "dataEnd", fallback: false });
    await assertRejects(
      () => receiving,
      PeerError,
      /^expected the manifest, got dataEnd$/,
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
