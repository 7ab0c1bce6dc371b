import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { allows, parseAllowRule } from "./allow.ts";
import { parseConfig } from "./config.ts";
import { diskFiles } from "./config_load.ts";

Deno.test("allow: addresses and CIDR blocks, IPv4, IPv6 and IPv4-mapped", () => {
  const rules = ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"].map(
    (r) => parseAllowRule(r)!,
  );
  const cases: [string, boolean][] = [
    ["10.255.0.1", true],
    ["11.0.0.1", false],
    ["192.168.1.7", true],
    ["192.168.1.8", false],
    ["::ffff:10.1.2.3", true], // IPv4 through an IPv6 socket
    ["2001:db8:1::5", true],
    ["2001:db9::5", false],
    ["::1", true],
    ["[::1]", true],
    ["::2", false],
    ["not an address", false],
  ];
  for (const [client, want] of cases) {
    assertEquals(allows(rules, client), want, client);
  }
  assertEquals(allows([parseAllowRule("0.0.0.0/0")!], "8.8.8.8"), true);
  assertEquals(allows([parseAllowRule("::/0")!], "8.8.8.8"), false);
  for (
    const bad of [
      "10.0.0.0/33",
      "1.2.3",
      "256.1.1.1",
      "::1/129",
      "1::2::3",
      "a/b/c",
      "10.0.0.0/x",
      "",
    ]
  ) {
    assertEquals(parseAllowRule(bad), undefined, bad);
  }
});

Deno.test("config: a bad allow item stops the daemon, naming it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const load = (allow: unknown) =>
      parseConfig(
        JSON.stringify({ modules: { p: { path: dir, allow } } }),
        "blit.jsonc",
        diskFiles,
      );
    assertEquals(load(["127.0.0.1", "10.0.0.0/8"]).modules[0].allow?.length, 2);
    assertThrows(
      () => load(["127.0.0.1", "10.0.0.0/40"]),
      Error,
      /modules\.p\.allow\[1\]: "10\.0\.0\.0\/40" is not an IP address or CIDR block/,
    );
    assertThrows(() => load("127.0.0.1"), Error, /must be a list/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
