// The sending role against a receiver that breaks the rules (the whole
// conversation is in receive_tree_test.ts).
import { loopbackPair } from "../../tests/_net.ts";
import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { enumerate } from "../fs/enumerate.ts";
import { Sender } from "./sender.ts";
import { sendTree } from "./send_tree.ts";
import { DataLink, PeerError, peerPair } from "./peer.ts";
import { SourceChangedError } from "../wire/file_reader.ts";

function tree(): { work: string; src: string } {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const src = `${work}/src`;
  Deno.mkdirSync(`${src}/d`, { recursive: true });
  Deno.writeTextFileSync(`${src}/a.txt`, "alpha");
  Deno.writeTextFileSync(`${src}/d/zero`, "");
  return { work, src };
}

Deno.test("sendTree: a receiver naming a file never offered, or twice, is refused and nothing is sent", async () => {
  const { work, src } = tree();
  try {
    for (const paths of [["nope"], ["a.txt", "a.txt"], ["d/zero", "a.txt"]]) {
      const [toReceiver, toSender] = peerPair();
      const sending = sendTree(toReceiver, new Sender(src), enumerate(src));
      // Read the manifest, then ask for what was not offered.
      for (;;) {
        const m = await toSender.next();
        if (m?.kind === "manifestEnd") break;
      }
      await toSender.write({
        kind: "needs",
        paths,
        offers: new Map(),
        bases: new Map(),
        decided: 0,
        last: true,
      });
      const error = await assertRejects(() => sending, PeerError);
      assertEquals(
        error.message,
        `Need list names ${
          JSON.stringify(paths.at(-1))
        }, which is not in the manifest (or not in its order, or twice)`,
      );
      let data = 0;
      toReceiver.end();
      for (let m = await toSender.next(); m; m = await toSender.next()) {
        if (m.kind === "data") data++;
      }
      assertEquals(data, 0);
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("sendTree: a receiver that goes away inside the need list fails the sender as ended", async () => {
  const { work, src } = tree();
  try {
    const [toReceiver, toSender] = peerPair();
    const sending = sendTree(toReceiver, new Sender(src), enumerate(src));
    sending.catch(() => {});
    toSender.end();
    const error = await assertRejects(() => sending, PeerError);
    assertEquals(
      [error.ended, error.message],
      [true, "the receiver ended the transfer inside the need list"],
    );
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

/**
 * A push over one data connection of `src`'s tree, driven from the
 * receiver's side: the sender's manifest is read, `beforeNeeds` runs, and
 * only `big` is needed. From then on the conversation fails with `reason`
 * (a daemon's error ending its call) or, with none, goes quiet. `server`
 * is the receiver's end of the data connection.
 */
async function pushBig(
  src: string,
  reason: Error | undefined,
  beforeNeeds: (server: Deno.Conn) => void,
): Promise<unknown> {
  const [conn, server] = await loopbackPair();
  const [toReceiver, toSender] = peerPair();
  let failed = false;
  const peer = {
    ...toReceiver,
    next: () => failed && reason ? Promise.reject(reason) : toReceiver.next(),
  };
  const sending = sendTree(peer, new Sender(src), enumerate(src), {
    link: DataLink.of([conn]),
  });
  sending.catch(() => {});
  for (;;) {
    const m = await toSender.next();
    if (m?.kind === "manifestEnd") break;
  }
  beforeNeeds(server);
  failed = true;
  await toSender.write({
    kind: "needs",
    paths: ["big"],
    offers: new Map(),
    bases: new Map(),
    decided: 4,
    last: true,
  });
  try {
    await sending;
    return undefined;
  } catch (error) {
    return error;
  } finally {
    toSender.end();
    try {
      server.close();
    } catch { /* closed already */ }
  }
}

Deno.test("sendTree: data connections that break say the receiver's reason when the conversation brings one, else the connection's error", async () => {
  const { work, src } = tree();
  try {
    const big = new Uint8Array(8 << 20);
    for (let i = 0; i < big.length; i += 65536) {
      crypto.getRandomValues(big.subarray(i, i + 65536));
    }
    Deno.writeFileSync(`${src}/big`, big);
    for (const reason of [new Error("no space left on device"), undefined]) {
      // The receiver's end of the data connection goes away at once.
      const error = await pushBig(src, reason, (server) => server.close());
      if (reason) assertEquals(error, reason);
      else {
        assertEquals(
          error instanceof Deno.errors.BrokenPipe ||
            error instanceof Deno.errors.ConnectionReset,
          true,
          String(error),
        );
      }
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("sendTree: this side's own failure (a source that shrank) is not taken for the receiver's", async () => {
  const { work, src } = tree();
  try {
    Deno.writeFileSync(`${src}/big`, new Uint8Array(4 << 20).fill(3));
    let draining: Promise<void> | undefined;
    const error = await pushBig(
      src,
      new Error("the client's data stopped mid-file"),
      (server) => {
        // The receiver's end reads on (the connection stays whole)...
        draining = (async () => {
          const buf = new Uint8Array(1 << 16);
          try {
            while (await server.read(buf) !== null) { /* drop */ }
          } catch { /* closed */ }
        })();
        // ...and the file listed at 4 MiB has 1 MiB when it is read.
        Deno.truncateSync(`${src}/big`, 1 << 20);
      },
    );
    assertEquals(error instanceof SourceChangedError, true, String(error));
    assertEquals((error as Error).message.includes("big"), true);
    await draining;
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});
