// A daemon in this process, for the client modules' own tests: the real
// server (lib/daemon/server.ts) on a free loopback port, one module in a
// fresh temporary directory; no sandbox (daemon.ts adds that). Processes
// are for the tests in tests/ (see _daemon.ts).
import { loadConfig } from "../lib/daemon/config_load.ts";
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
  options: { forceGrpcData?: boolean; stateDir?: boolean } = {},
): Promise<T> {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  Deno.mkdirSync(`${root}/module`);
  const daemon = await startDaemon(
    loadConfig({
      root: `${root}/module`,
      port: 0,
      bind: "127.0.0.1",
      forceGrpcData: options.forceGrpcData,
    }),
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
    Deno.removeSync(root, { recursive: true });
    Deno.removeSync(work, { recursive: true });
  }
}
