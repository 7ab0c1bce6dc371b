import { assertEquals } from "../../tests/_assert.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { IntegrityError } from "../wire/frame_codec.ts";
import { ManifestTooLargeError } from "../rpc/convert.ts";
import { PeerError } from "../transfer/peer.ts";
import {
  ModuleNotFoundError,
  ReadOnlyModuleError,
  ServiceError,
  toStatus,
} from "./errors.ts";

Deno.test("toStatus: each failure's gRPC status, with the message a client shows", () => {
  assertEquals(toStatus(new ServiceError(9, "x")), { code: 9, details: "x" });
  assertEquals(toStatus(new ModuleNotFoundError("m", [])), {
    code: 5,
    details: 'Module "m" not found (available: none)',
  });
  assertEquals(toStatus(new ReadOnlyModuleError("ro")).code, 7);
  assertEquals(toStatus(new PathEscapeError("../x", "contains '..'")).code, 3);
  assertEquals(toStatus(new ManifestTooLargeError("too many")).code, 8);
  assertEquals(toStatus(new IntegrityError("a")).code, 15);
  assertEquals(
    toStatus(
      new PeerError("the sender ended the transfer inside the manifest", {
        ended: true,
      }),
    ),
    { code: 3, details: "The client ended the transfer inside the manifest" },
  );
  assertEquals(toStatus(new Deno.errors.NotFound("gone")).code, 5);
});
