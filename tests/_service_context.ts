// A service context for the daemon's unit tests: one module in a fresh
// temporary directory (removed by `dispose`), default limits, no data
// plane unless given.
import {
  DEFAULT_LIMITS,
  type ModuleConfig,
  parseConfig,
} from "../lib/daemon/config.ts";
import { diskFiles } from "../lib/daemon/config_load.ts";
import { Admission } from "../lib/daemon/admission.ts";
import type { ServiceContext } from "../lib/daemon/context.ts";

/** A context with module `m` (and any `extra` modules), and its cleanup. */
export function testContext(
  extra: Partial<ServiceContext> = {},
  module: Partial<ModuleConfig> = {},
): ServiceContext & { lines: string[]; dispose(): void } {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  const lines: string[] = [];
  return {
    config: {
      // The defaults a config file without keys gives, and one module.
      ...parseConfig("", "(test)", diskFiles),
      modules: [{
        name: "m",
        path: dir,
        readOnly: false,
        comment: "",
        mungeSymlinks: true,
        ...module,
      }],
      configFile: null,
    },
    dataPlane: null,
    log: (line) => lines.push(line),
    admission: new Admission(DEFAULT_LIMITS),
    ...extra,
    lines,
    dispose: () => Deno.removeSync(dir, { recursive: true }),
  };
}
