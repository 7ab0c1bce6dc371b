import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { ConfigError, DEFAULT_LIMITS, parseConfig } from "./config.ts";
import { diskFiles } from "./config_load.ts";

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
    diskFiles,
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
  assertEquals(parseConfig("", "empty.jsonc", diskFiles).port, 50051);
  assertEquals(
    parseConfig("", "empty.jsonc", diskFiles).selfCheckInterval,
    86400,
  );
  assertEquals(
    parseConfig('{"selfCheckInterval": 2}', "s.jsonc", diskFiles)
      .selfCheckInterval,
    2,
  );
  assertEquals(
    parseConfig("// nothing but a comment\n", "c.jsonc", diskFiles).bind,
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
    assertThrows(
      () => parseConfig(text, "f.jsonc", diskFiles),
      ConfigError,
      pattern,
    );
  }
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
    diskFiles,
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
    () => parseConfig('{"limits": {"maxSessions": 0}}', "c.jsonc", diskFiles),
    ConfigError,
    /^c\.jsonc:1:13: limits\.maxSessions: must be a positive integer$/,
  );
  assertThrows(
    () => parseConfig('{"limits": {"frob": 1}}', "c.jsonc", diskFiles),
    ConfigError,
    /limits\.frob: unknown key/,
  );
  Deno.removeSync(dir, { recursive: true });
});

Deno.test("parseConfig touches no file itself: module directories, secrets and certificates come through ConfigFiles, and its errors get their place", () => {
  const asked: string[] = [];
  const files = {
    moduleDir(path: string) {
      asked.push(`dir ${path}`);
      if (path === "/gone") throw new ConfigError(`${path} does not exist`);
      return `/real${path}`;
    },
    secret(path: string) {
      asked.push(`secret ${path}`);
      return new TextEncoder().encode("s3cret");
    },
    pem(path: string, what: string) {
      asked.push(`pem ${path} ${what}`);
      return "-----BEGIN X-----";
    },
  };
  const c = parseConfig(
    `{"modules": {"m": {"path": "/srv/m", "secretFile": "/etc/m.secret"}},
      "tls": {"cert": "/c.pem", "key": "/k.pem"}}`,
    "c.jsonc",
    files,
  );
  assertEquals(asked, [
    "dir /srv/m",
    "secret /etc/m.secret",
    "pem /c.pem certificate",
    "pem /k.pem private key",
  ]);
  assertEquals([c.modules[0].path, c.modules[0].linkedFrom], [
    "/real/srv/m",
    "/srv/m",
  ]);
  assertEquals(c.tls?.certFile, "/c.pem");
  assertThrows(
    () =>
      parseConfig('{"modules": {"m": {"path": "/gone"}}}', "c.jsonc", files),
    ConfigError,
    /^c\.jsonc:1:20: modules\.m\.path: \/gone does not exist$/,
  );
  // Shapes are the parser's own: nothing is asked for a relative path.
  asked.length = 0;
  assertThrows(
    () => parseConfig('{"modules": {"m": {"path": "rel"}}}', "c.jsonc", files),
    ConfigError,
    /path must be an absolute path, got "rel"/,
  );
  assertEquals(asked, []);
});
