import { assertEquals } from "../../tests/_assert.ts";
import { create } from "../rpc/codec.ts";
import { AckSchema } from "../rpc/service.ts";
import { protocolError, pullMessage, pushMessage } from "./context.ts";

Deno.test("protocolError is INVALID_ARGUMENT with the message as given", () => {
  const error = protocolError("Expected a need list");
  assertEquals([error.code, error.message], [3, "Expected a need list"]);
});

Deno.test("pushMessage and pullMessage wrap a payload in the call's response", () => {
  const ack = create(AckSchema, { destination: "d" });
  assertEquals(pushMessage({ case: "ack", value: ack }).payload.value, ack);
  assertEquals(pullMessage({ case: "ack", value: ack }).payload.case, "ack");
});
