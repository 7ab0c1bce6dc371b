import { assertEquals } from "../../tests/_assert.ts";
import { MAX_MESSAGE_BYTES, SECRET_METADATA } from "./service.ts";
import { blitService } from "./grpc_service.ts";

Deno.test("blitService names every call the daemon serves, streaming where a transfer is", () => {
  const methods = Object.keys(blitService).sort();
  assertEquals(methods, [
    "list",
    "listModules",
    "perfSnapshot",
    "pull",
    "purge",
    "push",
    "uploadPerf",
  ]);
  assertEquals(
    [
      blitService.push.requestStream,
      blitService.push.responseStream,
      blitService.list.responseStream,
      blitService.purge.requestStream,
    ],
    [true, true, true, false],
  );
  assertEquals([MAX_MESSAGE_BYTES, SECRET_METADATA], [8 << 20, "blit-secret"]);
});
