import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  ConfigError,
  daemonStateDir,
  DEFAULT_LIMITS,
  loadConfig,
  parseConfig,
} from "./config.ts";

Deno.test("parseConfig: defaults, comments, every key", () => {
  const dir = Deno.makeTempDirSync();
  const c = parseConfig(
    `{
      // comments and trailing commas are fine
      "bind": "::1", "port": 0, "dataPort": 7000, "advertiseData": "[::1]:7001",
      "forceGrpcData": true, "stateDir": "/var/lib/blit",
      "modules": { "m": { "path": "${dir}", "readOnly": true, "comment": "c" }, },
    }`,
    "x.jsonc",
  );
  assertEquals([
    c.bind,
    c.port,
    c.dataPort,
    c.advertiseData,
    c.forceGrpcData,
    c.stateDir,
  ], [
    "::1",
    0,
    7000,
    "[::1]:7001",
    true,
    "/var/lib/blit",
  ]);
  assertEquals(c.modules, [{
    name: "m",
    path: dir,
    readOnly: true,
    comment: "c",
    mungeSymlinks: true,
  }]);
  assertEquals(parseConfig("", "empty.jsonc").port, 50051);
  assertEquals(parseConfig("", "empty.jsonc").selfCheckInterval, 86400);
  assertEquals(
    parseConfig('{"selfCheckInterval": 2}', "s.jsonc").selfCheckInterval,
    2,
  );
  assertEquals(
    parseConfig("// nothing but a comment\n", "c.jsonc").bind,
    "127.0.0.1",
  );
  Deno.removeSync(dir);
});

Deno.test("parseConfig: errors name file, line, column and key", () => {
  const cases: [string, RegExp][] = [
    ['{\n"x": 1}', /^f\.jsonc:2:1: x: unknown key/],
    [
      '{"port": 70000}',
      /^f\.jsonc:1:2: port: value must be an integer port 0-65535, got 70000$/,
    ],
    [
      '{"advertiseData": "nohostport"}',
      /advertiseData: must be "HOST:PORT" or null/,
    ],
    ['{"stateDir": "rel"}', /stateDir: must be an absolute path or null/],
    ['{"forceGrpcData": "yes"}', /forceGrpcData: must be true or false/],
    [
      '{"selfCheckInterval": 0}',
      /selfCheckInterval: must be a whole number of seconds from 1 to 31536000/,
    ],
    [
      '{"selfCheckInterval": "daily"}',
      /selfCheckInterval: must be a whole number of seconds/,
    ],
    [
      '{"modules": {"bad name": {"path": "/tmp"}}}',
      /modules\.bad name: module names use/,
    ],
    [
      '{"modules": {"m": "/tmp"}}',
      /modules\.m: must be an object with a "path"/,
    ],
    ["[1]", /the config must be a JSON object/],
    [
      '{"port": 1,,}',
      /^f\.jsonc:1:12: invalid JSONC \(PropertyNameExpected\)$/,
    ],
  ];
  for (const [text, pattern] of cases) {
    assertThrows(() => parseConfig(text, "f.jsonc"), ConfigError, pattern);
  }
});

Deno.test("loadConfig: flags override; --root exports default; no module refused", () => {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/c.jsonc`;
  Deno.writeTextFileSync(
    file,
    `{ "port": 1000, "modules": { "a": { "path": "${dir}" } } }`,
  );
  const c = loadConfig({
    config: file,
    port: 2000,
    bind: "0.0.0.0",
    forceGrpcData: true,
    root: dir,
  });
  assertEquals(
    [c.port, c.bind, c.forceGrpcData, c.modules.map((m) => m.name)],
    [2000, "0.0.0.0", true, ["a", "default"]],
  );
  assertThrows(() => loadConfig({}), ConfigError, /no modules to export/);
  assertThrows(
    () => loadConfig({ config: `${dir}/none.jsonc` }),
    ConfigError,
    /cannot read config/,
  );
  assertThrows(
    () => loadConfig({ root: `${dir}/missing` }),
    ConfigError,
    /does not exist/,
  );
  assertEquals(
    daemonStateDir(null, { XDG_STATE_HOME: "/x" }),
    "/x/blit-daemon",
  );
  assertEquals(daemonStateDir("/s", { BLIT_STATE_DIR: "/b" }), "/s");
  assertEquals(
    daemonStateDir(null, { HOME: "/h" }),
    "/h/.local/state/blit-daemon",
  );
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("parseConfig: limits and mungeSymlinks; a module path given as a link is resolved", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${dir}/real`);
  Deno.symlinkSync(`${dir}/real`, `${dir}/link`);
  const c = parseConfig(
    JSON.stringify({
      limits: { maxSessions: 4, sessionMemory: 1048576 },
      modules: { m: { path: `${dir}/link`, mungeSymlinks: false } },
    }),
    "c.jsonc",
  );
  assertEquals(c.limits, {
    ...DEFAULT_LIMITS,
    maxSessions: 4,
    sessionMemory: 1048576,
  });
  assertEquals(c.modules[0], {
    name: "m",
    path: `${dir}/real`,
    readOnly: false,
    comment: "",
    mungeSymlinks: false,
    linkedFrom: `${dir}/link`,
  });
  assertThrows(
    () => parseConfig('{"limits": {"maxSessions": 0}}', "c.jsonc"),
    ConfigError,
    /^c\.jsonc:1:13: limits\.maxSessions: must be a positive integer$/,
  );
  assertThrows(
    () => parseConfig('{"limits": {"frob": 1}}', "c.jsonc"),
    ConfigError,
    /limits\.frob: unknown key/,
  );
  Deno.removeSync(dir, { recursive: true });
});
