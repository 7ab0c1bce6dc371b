import { assertEquals } from "../../tests/_assert.ts";
import { bracketHost, hostPort } from "./host_port.ts";

Deno.test("bracketHost and hostPort: IPv6 in brackets once, names and IPv4 as they are", () => {
  assertEquals(
    [
      bracketHost("::1"),
      bracketHost("[::1]"),
      bracketHost("10.0.0.1"),
      bracketHost("h.example"),
    ],
    ["[::1]", "[::1]", "10.0.0.1", "h.example"],
  );
  assertEquals([hostPort("fe80::1", 9), hostPort("127.0.0.1", 50051)], [
    "[fe80::1]:9",
    "127.0.0.1:50051",
  ]);
});
