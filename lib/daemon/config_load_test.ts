import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { ConfigError, daemonStateDir } from "./config.ts";
import { diskFiles, loadConfig } from "./config_load.ts";

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

Deno.test("diskFiles: a secret file others can read, an empty one, a missing PEM and a file for a module are refused", () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${dir}/open.secret`, "x");
    Deno.chmodSync(`${dir}/open.secret`, 0o644);
    assertThrows(
      () => diskFiles.secret(`${dir}/open.secret`),
      ConfigError,
      /is readable or writable by group or others \(mode 0644\); chmod 600 it$/,
    );
    Deno.writeTextFileSync(`${dir}/empty.secret`, "\n");
    Deno.chmodSync(`${dir}/empty.secret`, 0o600);
    assertThrows(
      () => diskFiles.secret(`${dir}/empty.secret`),
      ConfigError,
      /is empty$/,
    );
    Deno.writeTextFileSync(`${dir}/ok.secret`, "abc\r\n");
    Deno.chmodSync(`${dir}/ok.secret`, 0o600);
    assertEquals(
      new TextDecoder().decode(diskFiles.secret(`${dir}/ok.secret`)),
      "abc",
    );
    assertThrows(
      () => diskFiles.pem(`${dir}/none.pem`, "certificate"),
      ConfigError,
      /does not exist or cannot be read$/,
    );
    assertThrows(
      () => diskFiles.pem(`${dir}/ok.secret`, "certificate"),
      ConfigError,
      /is not a PEM certificate$/,
    );
    assertThrows(
      () => diskFiles.moduleDir(`${dir}/ok.secret`, "path"),
      ConfigError,
      /is not a directory$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
