import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { DataLink, PeerError, peerPair } from "./peer.ts";

Deno.test("peerPair: messages cross in order both ways; an ended side reads undefined; entries are copied, not shared", async () => {
  const [toReceiver, toSender] = peerPair();
  const entry = {
    path: "a",
    kind: "file" as const,
    size: 1,
    mtimeMs: 0,
    mode: 0o644,
  };
  await toReceiver.write({ kind: "manifest", entries: [entry] });
  await toReceiver.write({ kind: "manifestEnd", count: 1 });
  await toSender.write({ kind: "ack", bytes: 5 });
  const got = await toSender.next();
  assertEquals(got?.kind === "manifest" && got.entries, [entry]);
  if (got?.kind === "manifest") got.entries[0].path = "renamed";
  assertEquals(entry.path, "a");
  assertEquals((await toSender.next())?.kind, "manifestEnd");
  assertEquals(await toReceiver.next(), { kind: "ack", bytes: 5 });
  const waiting = toSender.next();
  toReceiver.end();
  assertEquals(await waiting, undefined);
  await assertRejects(
    () => toReceiver.write({ kind: "dataEnd", fallback: false }),
    PeerError,
    /^the conversation has ended$/,
  );
});

Deno.test("DataLink: the dialling side's connections are known at once; a listening one falls back, once, and cancels what is still to come", async () => {
  assertEquals(await DataLink.of(undefined).connections, undefined);
  let cancelled = 0;
  let arrive!: (conns: Deno.Conn[]) => void;
  const link = new DataLink(
    new Promise((resolve) => arrive = resolve),
    () => cancelled++,
  );
  assertEquals(link.settled, false);
  link.fallBack();
  assertEquals([link.settled, cancelled], [true, 1]);
  assertEquals(await link.connections, undefined);
  arrive([]); // too late: the link stays as it settled
  assertEquals(await link.connections, undefined);
});

Deno.test("PeerError says whether the peer went away or broke the rules", () => {
  assertEquals(new PeerError("x").ended, false);
  assertEquals(new PeerError("y", { ended: true }).ended, true);
  assertEquals(new PeerError("z").name, "PeerError");
});
