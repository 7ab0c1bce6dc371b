import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { hostPort, isRemote, parseRemote, UsageError } from "./address.ts";

Deno.test("parseRemote: hosts, ports, modules, paths", () => {
  assertEquals(parseRemote("blit://example.org/photos"), {
    host: "example.org",
    port: 50051,
    module: "photos",
    path: "",
    trailingSlash: false,
  });
  assertEquals(parseRemote("blit://10.0.0.1:9000/m/a/./b/"), {
    host: "10.0.0.1",
    port: 9000,
    module: "m",
    path: "a/b",
    trailingSlash: true,
  });
  assertEquals(parseRemote("blit://[::1]:7/m/x").host, "::1");
  assertEquals(parseRemote("blit://h", { moduleRequired: false }).module, "");
  assertEquals(isRemote("blit://h/m"), true);
  assertEquals(isRemote("./blit://x"), false);
  assertEquals(hostPort("::1", 5), "[::1]:5");
  assertEquals(hostPort("h", 5), "h:5");
});

Deno.test("parseRemote: every malformed address is a UsageError", () => {
  const bad: [string, RegExp][] = [
    ["blit://", /missing host/],
    ["blit:///m", /missing host/],
    ["blit://h:/m", /port must be 1-65535/],
    ["blit://h:0/m", /port must be 1-65535/],
    ["blit://h:65536/m", /port must be 1-65535/],
    ["blit://h:x/m", /port must be 1-65535/],
    ["blit://h", /missing module/],
    ["blit://h/", /missing module/],
    ["blit://h/bad module", /invalid module name/],
    ["blit://h/../x", /invalid module name/],
    ["blit://h/m/../x", /contains '\.\.'/],
    ["blit://h/m/a\\b", /backslash/],
    ["blit://[::1/m", /unclosed/],
    ["blit://[zz]/m", /invalid IPv6/],
    ["blit://::1/m", /brackets/],
    ["blit://ho st/m", /invalid host/],
    ["/local/path", /not a remote address/],
  ];
  for (const [address, pattern] of bad) {
    assertThrows(() => parseRemote(address), UsageError, pattern);
  }
});
