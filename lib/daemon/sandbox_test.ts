import { findXxhash } from "../fs/native_hash.ts";
import { assertEquals } from "../../tests/_assert.ts";
import { sandboxFlags } from "./sandbox.ts";
import { CLIENT_V8_FLAGS, V8_FLAGS } from "../v8_flags.ts";
import { DEFAULT_LIMITS } from "./config.ts";
import { findLibc } from "../fs/_libc.ts";
import { findZstd } from "../wire/zstd.ts";

Deno.test("sandboxFlags: read/write scoped to modules and state, net to the bind address", () => {
  const flags = sandboxFlags({
    bind: "::1",
    port: 1,
    dataPort: 0,
    advertiseData: null,
    forceGrpcData: false,
    zeroCopy: false,
    stateDir: null,
    selfCheckInterval: 86400,
    configFile: "/etc/blit.jsonc",
    limits: { ...DEFAULT_LIMITS },
    modules: [
      {
        name: "rw",
        path: "/srv/rw",
        readOnly: false,
        comment: "",
        mungeSymlinks: true,
      },
      {
        name: "ro",
        path: "/srv/ro",
        readOnly: true,
        comment: "",
        mungeSymlinks: true,
      },
    ],
  }, "/var/lib/blit");
  const lib = decodeURIComponent(new URL("../", import.meta.url).pathname)
    .replace(/\/$/, "");
  assertEquals(flags, [
    "--no-prompt",
    // blit's own lib/ too: the hashing Workers load their modules.
    `--allow-read=/srv/rw,/srv/ro,/var/lib/blit,${lib},/etc/blit.jsonc`,
    "--allow-write=/srv/rw,/var/lib/blit",
    "--allow-net=[::1]",
    "--allow-env=GRPC_*,grpc_*,NODE_*,BLIT_DAEMON_*,BLIT_DISABLE_PERF_HISTORY",
    "--allow-sys=loadavg",
    V8_FLAGS,
    // FFI on the C library (openat2 and the fd-relative calls),
    // libxxhash (hashing) and libzstd (compression), nothing else.
    `--allow-ffi=${
      [findLibc(), findXxhash(), findZstd()].filter(Boolean).join(",")
    }`,
  ]);
  if (Deno.build.os === "linux") {
    assertEquals(findLibc()?.endsWith("/libc.so.6"), true);
  }
  // The `daemon` task runs with the sandbox's heap settings, the `blit`
  // task (and its install, of the bundles) with the CLI's.
  const tasks = JSON.parse(
    Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)),
  ).tasks;
  assertEquals(tasks.daemon.includes(` ${V8_FLAGS} `), true, "daemon");
  assertEquals(tasks.blit.includes(` ${CLIENT_V8_FLAGS} `), true, "blit");
  assertEquals(
    tasks.install.includes(
      ` ${CLIENT_V8_FLAGS} --config deno.json --name blit dist/blit.js`,
    ),
    true,
    "install blit",
  );
  assertEquals(
    tasks.install.includes(
      ` ${V8_FLAGS} --config deno.json --name blit-daemon dist/blit-daemon.js`,
    ),
    true,
    "install blit-daemon",
  );
});
