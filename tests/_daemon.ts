// Test helper: runs the real blit-daemon as a process and talks gRPC to it.
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/rpc/codec.ts";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type ClientPullRequest,
  ClientPullRequestSchema,
  type ClientPushRequest,
  ClientPushRequestSchema,
  type FileHeader,
  type ListModulesRequest,
  type ListModulesResponse,
  type ListRequest,
  ListRequestSchema,
  type ListResponse,
  ManifestBatchSchema,
  ManifestCompleteSchema,
  type PurgeRequest,
  PurgeRequestSchema,
  type PurgeResponse,
  PushHeaderSchema,
  type ServerPullResponse,
  type ServerPushResponse,
  TransferOptionsSchema,
} from "../lib/rpc/service.ts";
import { BlitClient } from "../lib/rpc/grpc_service.ts";

const REPO = dirname(dirname(fileURLToPath(import.meta.url)));
const decoder = new TextDecoder();

/** A module as the test config declares it. */
export interface TestModule {
  path: string;
  readOnly?: boolean;
  comment?: string;
  keepSpecialBits?: boolean;
  mungeSymlinks?: boolean;
  secretFile?: string;
  allow?: string[];
}

/** Options for {@linkcode startDaemon}. */
export interface StartDaemonOptions {
  /** Modules written to the config file. Default: none. */
  modules?: Record<string, TestModule>;
  /** Extra command-line flags after `--config FILE`. */
  args?: string[];
  /** Config keys merged over the defaults (port 0, dataPort 0, temp stateDir). */
  config?: Record<string, unknown>;
  /** Extra environment variables for the daemon. */
  env?: Record<string, string>;
  /** A command the daemon runs under, e.g. `["prlimit", "--nofile=256", "--"]`. */
  wrapper?: string[];
  /** The daemon to run (a path or a URL). Default: the checkout's daemon.ts. */
  script?: string;
  /** Its working directory. Default: the checkout. */
  cwd?: string;
}

/** A daemon process started for a test. */
export interface TestDaemon {
  /** The control-plane port it bound. */
  port: number;
  /** `127.0.0.1:PORT` */
  address: string;
  /** `blit://127.0.0.1:PORT` */
  url: string;
  stateDir: string;
  configFile: string;
  child: Deno.ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  stderr(): string;
  /** Sends `signal` (default SIGTERM), SIGKILL after 10 s; the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  /** SIGKILL now (the parent, so its sandboxed child is orphaned). */
  kill(): void;
}

/** The daemon did not print its `listening on` line in time. */
export class DaemonStartError extends Error {
  /** What the daemon printed on stderr. */
  readonly stderr: string;
  /** Its exit code, when it exited. */
  readonly code: number | null;
  constructor(message: string, stderr: string, code: number | null) {
    super(message);
    this.name = "DaemonStartError";
    this.stderr = stderr;
    this.code = code;
  }
}

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/**
 * Starts `daemon.ts` as users do (`deno run --allow-all daemon.ts --config
 * FILE`, so the sandbox re-exec happens) with a JSONC config on a free
 * port, and waits for its `listening on` line.
 *
 * @example
 * ```ts ignore
 * const daemon = await startDaemon({ modules: { m: { path: "/tmp/m" } } });
 * await daemon.stop();
 * ```
 * @throws {DaemonStartError} when it exits or stays silent for 20 s.
 */
export async function startDaemon(
  options: StartDaemonOptions = {},
): Promise<TestDaemon> {
  const dir = await Deno.makeTempDir({ prefix: "blit-test-daemon-" });
  const stateDir = join(dir, "state");
  const configFile = join(dir, "blit-daemon.jsonc");
  const config: Record<string, unknown> = {
    bind: "127.0.0.1",
    port: 0,
    dataPort: 0,
    stateDir,
    ...(options.modules ? { modules: options.modules } : {}),
    ...options.config,
  };
  await Deno.writeTextFile(
    configFile,
    `// written by tests/_daemon.ts\n${JSON.stringify(config, null, 2)}\n`,
  );
  const wrapper = options.wrapper ?? [];
  const child = new Deno.Command(wrapper[0] ?? Deno.execPath(), {
    args: [
      ...(wrapper.length > 0 ? [...wrapper.slice(1), Deno.execPath()] : []),
      "run",
      "--allow-all",
      options.script ?? join(REPO, "daemon.ts"),
      "--config",
      configFile,
      ...(options.args ?? []),
    ],
    cwd: options.cwd ?? REPO,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let stderrText = "";
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) stderrText += decoder.decode(chunk);
  })();
  const reader = child.stdout.getReader();
  let stdoutText = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<{ done: true; value: undefined }>((resolve) => {
    timer = setTimeout(
      () => resolve({ done: true, value: undefined }),
      START_TIMEOUT_MS,
    );
  });
  while (!/listening on \S+:\d+\n/.test(stdoutText)) {
    const { value, done } = await Promise.race([reader.read(), timeout]);
    if (done) break;
    stdoutText += decoder.decode(value);
  }
  clearTimeout(timer);
  reader.releaseLock();
  const drain = child.stdout.pipeTo(new WritableStream()).catch(() => {});
  const cleanup = () => Deno.remove(dir, { recursive: true }).catch(() => {});

  const match = stdoutText.match(/listening on \S+:(\d+)\n/);
  if (!match) {
    killQuietly(child, "SIGKILL");
    const status = await child.status;
    await stderrDone;
    await drain;
    await cleanup();
    throw new DaemonStartError(
      `The daemon did not start (exit ${status.code}): ${stderrText.trim()}`,
      stderrText,
      status.code,
    );
  }
  const port = Number(match[1]);
  // The start-up summary (modules, data plane) comes on stderr: wait for
  // it too, so a test reading it never races its arrival.
  for (
    let i = 0;
    i < 500 && !stderrText.includes("blit-daemon: modules:");
    i++
  ) {
    await new Promise((r) => setTimeout(r, 10));
  }
  let stopped: Promise<number> | undefined;
  function stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    stopped ??= (async () => {
      killQuietly(child, signal);
      const force = setTimeout(
        () => killQuietly(child, "SIGKILL"),
        STOP_TIMEOUT_MS,
      );
      const status = await child.status;
      clearTimeout(force);
      await stderrDone;
      await drain;
      await cleanup();
      return status.code;
    })();
    return stopped;
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    url: `blit://127.0.0.1:${port}`,
    stateDir,
    configFile,
    child,
    stderr: () => stderrText,
    stop,
    kill: () => killQuietly(child, "SIGKILL"),
  };
}

function killQuietly(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // Already exited.
  }
}

/** The blit service's methods on a grpc-js client. */
export interface BlitRpcClient extends grpc.Client {
  push(): grpc.ClientDuplexStream<ClientPushRequest, ServerPushResponse>;
  pull(): grpc.ClientDuplexStream<ClientPullRequest, ServerPullResponse>;
  list(
    request: ListRequest,
    metadata?: grpc.Metadata,
  ): grpc.ClientReadableStream<ListResponse>;
  purge(
    request: PurgeRequest,
    callback: (
      error: grpc.ServiceError | null,
      response?: PurgeResponse,
    ) => void,
  ): grpc.ClientUnaryCall;
  listModules(
    request: ListModulesRequest,
    callback: (
      error: grpc.ServiceError | null,
      response?: ListModulesResponse,
    ) => void,
  ): grpc.ClientUnaryCall;
}

/**
 * A plain-text gRPC client for the daemon at `address` ("HOST:PORT").
 * Close it with `.close()`.
 *
 * @example
 * ```ts ignore
 * const client = grpcClient("127.0.0.1:50051");
 * client.close();
 * ```
 */
export function grpcClient(address: string): BlitRpcClient {
  return new BlitClient(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as BlitRpcClient;
}

/** How a call ended: 0 for OK, else the gRPC status and its details. */
export interface CallStatus {
  code: number;
  details: string;
}

/**
 * One side of a bidirectional call, message by message: `send` a payload,
 * `next` the answer (undefined once the daemon ended the call), and
 * `status` when the call is over.
 */
export class Conversation<Req extends { payload: unknown }, Res> {
  readonly #call: grpc.ClientDuplexStream<Req, Res>;
  readonly #make: (payload: Req["payload"]) => Req;
  readonly #queue: Res[] = [];
  #wake: (() => void) | undefined;
  #over = false;
  /** Resolves when the call ends, with its status. */
  readonly status: Promise<CallStatus>;

  constructor(
    call: grpc.ClientDuplexStream<Req, Res>,
    make: (payload: Req["payload"]) => Req,
  ) {
    this.#call = call;
    this.#make = make;
    call.on("data", (message: Res) => {
      this.#queue.push(message);
      this.#wakeUp();
    });
    this.status = new Promise((resolve) => {
      call.on("error", (e: grpc.ServiceError) => {
        this.#over = true;
        this.#wakeUp();
        resolve({ code: e.code, details: e.details });
      });
      // "end" follows the last message; "status" may overtake buffered ones.
      call.on("end", () => {
        this.#over = true;
        this.#wakeUp();
        resolve({ code: 0, details: "" });
      });
    });
  }

  /** Sends one request message with `payload`. */
  send(payload: Req["payload"]): void {
    this.#call.write(this.#make(payload));
  }

  /** Half-closes the request side. */
  end(): void {
    this.#call.end();
  }

  /** Cancels the call. */
  cancel(): void {
    this.#call.cancel();
  }

  /** The next response, or undefined when the call is over. */
  async next(): Promise<Res | undefined> {
    while (this.#queue.length === 0 && !this.#over) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    return this.#queue.shift();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Opens a Push call as a {@linkcode Conversation}. */
export function openPush(
  client: BlitRpcClient,
): Conversation<ClientPushRequest, ServerPushResponse> {
  return new Conversation(
    client.push(),
    (payload) => create(ClientPushRequestSchema, { payload }),
  );
}

/** Opens a Pull call as a {@linkcode Conversation}. */
export function openPull(
  client: BlitRpcClient,
): Conversation<ClientPullRequest, ServerPullResponse> {
  return new Conversation(
    client.pull(),
    (payload) => create(ClientPullRequestSchema, { payload }),
  );
}

/** What a List call returned. */
export interface ListResult extends CallStatus {
  entries: FileHeader[];
  /** Messages received (each at most 1000 entries). */
  batches: number[];
  pathIsDir: boolean;
}

/** Runs a List call to its end. */
export function listCall(
  client: BlitRpcClient,
  module: string,
  path: string,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<ListResult> {
  return new Promise((resolve) => {
    const result: ListResult = {
      code: 0,
      details: "",
      entries: [],
      batches: [],
      pathIsDir: false,
    };
    const call = client.list(
      create(ListRequestSchema, { module, path }),
      metadata,
    );
    call.on("data", (response: ListResponse) => {
      result.entries.push(...response.entries);
      result.batches.push(response.entries.length);
      result.pathIsDir = response.pathIsDir;
    });
    call.on("error", (e: grpc.ServiceError) => {
      resolve({ ...result, code: e.code, details: e.details });
    });
    call.on("end", () => resolve(result));
  });
}

/** Runs a Purge call; `response` is set when it succeeded. */
export function purgeCall(
  client: BlitRpcClient,
  request: {
    module: string;
    path: string;
    allowRoot?: boolean;
    dryRun?: boolean;
  },
): Promise<CallStatus & { response?: PurgeResponse }> {
  return new Promise((resolve) => {
    client.purge(create(PurgeRequestSchema, request), (error, response) => {
      resolve(
        error
          ? { code: error.code, details: error.details }
          : { code: 0, details: "", response },
      );
    });
  });
}

/**
 * The PIDs of a test daemon's processes (the parent and its sandboxed
 * child), found by the config file on their command lines.
 */
export function daemonPids(daemon: TestDaemon): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(daemon.configFile)) pids.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The highest peak resident set size (VmHWM) among `pids`, in MiB. */
export function peakRssMiB(pids: number[]): number {
  let peak = 0;
  for (const pid of pids) {
    try {
      const status = Deno.readTextFileSync(`/proc/${pid}/status`);
      const kib = Number(status.match(/^VmHWM:\s+(\d+) kB/m)?.[1] ?? 0);
      peak = Math.max(peak, kib / 1024);
    } catch {
      // gone meanwhile
    }
  }
  return peak;
}

/** SIGKILLs every process of a test daemon, as a crash would. */
export async function crashDaemon(daemon: TestDaemon): Promise<void> {
  for (const pid of daemonPids(daemon)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await daemon.stop("SIGKILL");
}

/**
 * A dry-run mirror push of `batches` into module `module`, written with
 * backpressure and stopped as soon as the daemon ends the call; its
 * status and how many entries were sent. For memory-budget tests.
 */
export async function dryRunMirrorPush(
  client: BlitRpcClient,
  module: string,
  batches: Iterable<FileHeader[]>,
): Promise<{ status: grpc.StatusObject; sent: number }> {
  const call = client.push();
  const status = new Promise<grpc.StatusObject>((resolve) => {
    call.on("status", resolve);
    call.on("error", () => {});
    call.on("data", () => {});
  });
  let over = false;
  status.then(() => over = true);
  const write = (payload: ClientPushRequest["payload"]) =>
    Promise.race([
      status,
      new Promise<void>((resolve) => {
        if (call.write(create(ClientPushRequestSchema, { payload }))) resolve();
        else call.once("drain", resolve);
      }),
    ]);
  await write({
    case: "header",
    value: create(PushHeaderSchema, {
      module,
      destination: "",
      mirror: true,
      options: create(TransferOptionsSchema, { dryRun: true }),
    }),
  });
  let sent = 0;
  for (const entries of batches) {
    if (over) break;
    await write({
      case: "manifestBatch",
      value: create(ManifestBatchSchema, { entries }),
    });
    sent += entries.length;
  }
  if (!over) {
    await write({
      case: "manifestComplete",
      value: create(ManifestCompleteSchema, { entries: BigInt(sent) }),
    });
  }
  call.end();
  return { status: await status, sent };
}
