import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  daemonStateDir,
  DEFAULT_LIMITS,
  type ModuleConfig,
  moduleSecret,
  setModuleSecret,
} from "./config_types.ts";

Deno.test("a module's secret is kept off the object: never enumerated, never serialised", () => {
  const module: ModuleConfig = {
    name: "m",
    path: "/srv/m",
    readOnly: false,
    comment: "",
    mungeSymlinks: true,
  };
  assertEquals(moduleSecret(module), undefined);
  setModuleSecret(module, new TextEncoder().encode("s3cret"));
  assertEquals(new TextDecoder().decode(moduleSecret(module)), "s3cret");
  assertEquals(JSON.stringify(module).includes("s3cret"), false);
});

Deno.test("DEFAULT_LIMITS can't be changed by accident; daemonStateDir's order of choices", () => {
  assertThrows(() => {
    (DEFAULT_LIMITS as { maxSessions: number }).maxSessions = 1;
  }, TypeError);
  assertEquals(
    [
      daemonStateDir("/c", { BLIT_STATE_DIR: "/b" }),
      daemonStateDir(null, { BLIT_STATE_DIR: "/b", XDG_STATE_HOME: "/x" }),
      daemonStateDir(null, { XDG_STATE_HOME: "/x" }),
      daemonStateDir(null, { HOME: "/h" }),
    ],
    ["/c", "/b/daemon", "/x/blit-daemon", "/h/.local/state/blit-daemon"],
  );
});
