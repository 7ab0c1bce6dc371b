import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { connReadable, connWritable, readExact, writeAll } from "./socket.ts";

async function pair(): Promise<[Deno.Conn, Deno.Conn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  const server = await accepted;
  listener.close();
  return [client, server];
}

function pattern(size: number, seed: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 7 + seed) & 0xff);
}

Deno.test("connWritable -> connReadable carries every byte; chunks are never overwritten", async () => {
  const [a, b] = await pair();
  const parts = [pattern(300_000, 1), pattern(1, 2), pattern(70_000, 3)];
  const sending = ReadableStream.from(parts).pipeTo(connWritable(a));
  // Collect everything before looking: a reused buffer would show up as
  // corrupted early chunks.
  const chunks = await Array.fromAsync(
    connReadable(b, { bufferSize: 65536 }),
  );
  await sending;
  const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    got.set(c, offset);
    offset += c.length;
  }
  const want = new Uint8Array(370_001);
  want.set(parts[0], 0);
  want.set(parts[1], 300_000);
  want.set(parts[2], 300_001);
  assertEquals(got, want);
  assertEquals(chunks.every((c) => c.length <= 65536), true);
  a.close();
  b.close();
});

Deno.test("connReadable: cancel closes the connection", async () => {
  const [a, b] = await pair();
  const reader = connReadable(b).getReader();
  await writeAll(a, new Uint8Array([9]));
  assertEquals((await reader.read()).value, new Uint8Array([9]));
  await reader.cancel();
  await assertRejects(
    () => b.write(new Uint8Array(1)),
    Deno.errors.BadResource,
  );
  assertEquals(await a.read(new Uint8Array(1)), null);
  a.close();
  assertThrows(
    () => connReadable(a, { bufferSize: 10 }),
    RangeError,
    /^bufferSize must be an integer >= 1024, got 10$/,
  );
});

Deno.test("connWritable: a write error reaches the source, which stops", async () => {
  const [a, b] = await pair();
  b.close();
  let produced = 0;
  let cancelled: unknown;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      // Bounded: the peer is gone, so an error must come long before this.
      if (produced === 1000) controller.close();
      else {
        produced++;
        controller.enqueue(new Uint8Array(65536));
      }
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  await assertRejects(() => source.pipeTo(connWritable(a)), Error);
  assertEquals(cancelled instanceof Error, true);
  assertEquals(produced < 1000, true);
  a.close();
});

Deno.test("connWritable: close half-closes, so the peer reads EOF and can still answer", async () => {
  const [a, b] = await pair();
  await ReadableStream.from([new Uint8Array([1, 2, 3])]).pipeTo(
    connWritable(a),
  );
  assertEquals(await readExact(b, 3), new Uint8Array([1, 2, 3]));
  assertEquals(await b.read(new Uint8Array(1)), null);
  await writeAll(b, new Uint8Array([4]));
  b.close();
  assertEquals(await readExact(a, 1), new Uint8Array([4]));
  await assertRejects(
    () => readExact(a, 1),
    Deno.errors.UnexpectedEof,
    /^Connection closed after 0 of 1 bytes$/,
  );
  a.close();
});
