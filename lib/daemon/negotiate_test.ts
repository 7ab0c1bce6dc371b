import { assertEquals } from "../../tests/_assert.ts";
import { Transport } from "../rpc/service.ts";
import { DataPlaneServer } from "../wire/data_plane.ts";
import { TokenIssuer } from "../wire/token.ts";
import { advertised, MAX_STREAMS, negotiate, streamsFor } from "./negotiate.ts";
import { testContext } from "../../tests/_service_context.ts";

const request = {
  module: "m",
  scope: "push" as const,
  forceGrpc: false,
  streams: 0,
};

Deno.test("streamsFor: the daemon's choice for 0, whole numbers, at most MAX_STREAMS", () => {
  assertEquals(
    [streamsFor(0), streamsFor(-1), streamsFor(3.7), streamsFor(100)],
    [1, 1, 3, MAX_STREAMS],
  );
});

Deno.test("negotiate: gRPC when the daemon has no data plane or the client asks for it", async () => {
  const ctx = testContext();
  try {
    const none = await negotiate(ctx, request);
    assertEquals([none.link, none.negotiation.transport], [
      undefined,
      Transport.GRPC,
    ]);
  } finally {
    ctx.dispose();
  }
});

Deno.test("negotiate: a data plane offers one single-use token a stream, at the advertised address", async () => {
  const plane = DataPlaneServer.listen({
    hostname: "127.0.0.1",
    port: 0,
    issuer: new TokenIssuer(),
  });
  const ctx = testContext({ dataPlane: plane });
  try {
    const offer = await negotiate(ctx, { ...request, streams: 3 });
    assertEquals(offer.negotiation.transport, Transport.TCP);
    assertEquals(offer.negotiation.tokens.length, 3);
    assertEquals(new Set(offer.negotiation.tokens).size, 3);
    assertEquals([offer.negotiation.host, offer.negotiation.port], [
      "",
      plane.port,
    ]);
    offer.link!.cancel();
    const forced = await negotiate(ctx, { ...request, forceGrpc: true });
    assertEquals(forced.negotiation.transport, Transport.GRPC);
    ctx.config.advertiseData = "[::1]:9000";
    assertEquals(advertised(ctx, plane), { host: "::1", port: 9000 });
  } finally {
    plane.close();
    ctx.dispose();
  }
});
