// A daemon in this process, for the client modules' own tests: the real
// server (lib/daemon/server.ts) on a free loopback port, one module in a
// fresh temporary directory; no sandbox (daemon.ts adds that). Processes
// are for the tests in tests/ (see _daemon.ts).
import { loadConfig } from "../lib/daemon/config_load.ts";
import type { DaemonConfig } from "../lib/daemon/config.ts";
import { startDaemon } from "../lib/daemon/server.ts";
import { parseRemote, type RemoteAddress } from "../lib/client/address.ts";

/** What a test gets: the module's directory and addresses into it. */
export interface InProcessDaemon {
  /** The module's directory (module name "default"). */
  module: string;
  /** `blit://127.0.0.1:PORT/default/PATH` parsed. */
  address(path?: string): RemoteAddress;
  /** A scratch directory for the client side, removed afterwards. */
  work: string;
}

/** Runs `fn` against a daemon in this process, then stops it and cleans up. */
export async function withInProcessDaemon<T>(
  fn: (daemon: InProcessDaemon) => Promise<T>,
  options: {
    forceGrpcData?: boolean;
    stateDir?: boolean;
    /** Changes the config before the daemon starts (modules, limits). */
    configure?: (config: DaemonConfig) => void;
  } = {},
): Promise<T> {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  // A walk-fallback tree moves the process's working directory (shared by
  // every test running at once): it is put back before anything goes.
  const cwd = Deno.cwd();
  Deno.mkdirSync(`${root}/module`);
  const config = loadConfig({
    root: `${root}/module`,
    port: 0,
    bind: "127.0.0.1",
    forceGrpcData: options.forceGrpcData,
  });
  options.configure?.(config);
  const daemon = await startDaemon(
    config,
    {
      log: () => {},
      stateDir: options.stateDir ? `${root}/state` : undefined,
    },
  );
  try {
    return await fn({
      module: `${root}/module`,
      work,
      address: (path = "") =>
        parseRemote(`blit://127.0.0.1:${daemon.port}/default/${path}`),
    });
  } finally {
    await daemon.stop();
    Deno.chdir(cwd);
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(work, { recursive: true });
  }
}
