// A connected pair of loopback TCP sockets, for tests of the data path.

/** Both ends of one loopback connection: [the dialler's, the listener's]. */
export async function loopbackPair(): Promise<[Deno.Conn, Deno.Conn]> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const accepted = listener.accept();
    const dialled = await Deno.connect({
      hostname: "127.0.0.1",
      port: (listener.addr as Deno.NetAddr).port,
    });
    return [dialled, await accepted];
  } finally {
    listener.close();
  }
}
