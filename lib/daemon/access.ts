// Who may reach what: a module by name, its secret and allow list, the
// module's contained tree, connections over a cap, reserved names.
import * as grpc from "../deps/grpc.ts";
import { isTempName } from "../fs/temp_names.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { ContainedRoot } from "../fs/contained_root.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import type { Tree } from "../fs/tree.ts";
import type { ModuleConfig } from "./config.ts";
import { BusyError } from "./admission.ts";
import { ModuleNotFoundError, ServiceError } from "./errors.ts";
import { AuthGuard, SECRET_METADATA } from "./auth.ts";
import { allows } from "./allow.ts";
import type { ServiceContext } from "./context.ts";

export function findModule(ctx: ServiceContext, name: string): ModuleConfig {
  const module = ctx.config.modules.find((m) => m.name === name);
  if (!module) {
    throw new ModuleNotFoundError(
      name,
      ctx.config.modules.map((m) => m.name),
    );
  }
  return module;
}

/** A guard for contexts made without one (tests): same rules. */
const defaultAuth = new AuthGuard();

/**
 * Finds `name` and admits the caller to it: a module with a secret needs
 * the call to carry it (see auth.ts). Checked before any path.
 *
 * @throws {ServiceError} NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED or
 * RESOURCE_EXHAUSTED.
 */
export function openModule(
  ctx: ServiceContext,
  name: string,
  call: { getPeer(): string; metadata: grpc.Metadata },
): ModuleConfig {
  ctx.calls?.note(call, { module: name });
  const module = findModule(ctx, name);
  if (module.allow && !allows(module.allow, clientOf(call))) {
    const error = new ServiceError(
      grpc.status.PERMISSION_DENIED,
      `access denied to module "${module.name}"`,
    );
    ctx.calls?.fail(call, error, "address not allowed");
    throw error;
  }
  const value = call.metadata.get(SECRET_METADATA)[0];
  try {
    (ctx.auth ?? defaultAuth).check(
      module,
      clientOf(call),
      value === undefined ? undefined : String(value),
    );
  } catch (error) {
    // Which refusal it was, for the log (never the secret itself).
    const code = (error as { code?: number }).code;
    ctx.calls?.fail(
      call,
      { code: code ?? grpc.status.PERMISSION_DENIED },
      code === grpc.status.UNAUTHENTICATED
        ? "no secret"
        : code !== grpc.status.RESOURCE_EXHAUSTED
        ? "wrong secret"
        : /many addresses/.test((error as Error).message)
        ? "locked out (module-wide: wrong secrets from many addresses)"
        : "locked out (wrong secrets from this address)",
    );
    throw error;
  }
  return module;
}

/**
 * The module's tree: every filesystem call for this request goes through
 * it. On Linux with openat2 the kernel resolves every name beneath the
 * module's directory handle (kernel_tree.ts); elsewhere the weaker walk
 * (contained_root.ts). The caller closes it.
 */
export function moduleRoot(
  ctx: ServiceContext,
  module: ModuleConfig,
): Tree {
  try {
    const onTempDir = ctx.onTempDir;
    const options = {
      onTempDir: onTempDir && ((dir: string) => onTempDir(module, dir)),
    };
    if (ctx.containment !== "walk") {
      const kernel = KernelTree.open(module.path, options);
      if (kernel) return kernel;
    }
    return new ContainedRoot(module.path, "", {
      ...options,
      nativeStat: ctx.nativeStat,
    });
  } catch {
    throw new ServiceError(
      grpc.status.UNAVAILABLE,
      `Module "${module.name}" directory is missing on the daemon`,
    );
  }
}

/**
 * Refuses every call on a connection that arrived over a cap, so the
 * client hears why instead of a bare hang-up.
 *
 * @throws {BusyError} for such a connection.
 */
export function checkConnection(
  call: { getPeer(): string },
  ctx: ServiceContext,
): void {
  if (ctx.refusedPeers?.has(call.getPeer())) {
    throw new BusyError(
      "The daemon has too many connections open (limits.maxConnections, limits.maxConnectionsPerClient); try again later",
    );
  }
}

/** The client's address without its port, for per-client limits. */
export function clientOf(call: { getPeer(): string }): string {
  const peer = call.getPeer();
  const colon = peer.lastIndexOf(":");
  return (colon > 0 ? peer.slice(0, colon) : peer).replace(/^\[|\]$/g, "");
}

/** Refuses manifest paths that use our temp names (they'd dodge the sweep). */
export function refuseTempNames(path: string): void {
  // Every temp name has ".blit-" in it: most paths need no split.
  if (!path.includes(".blit-")) return;
  for (const part of path.split("/")) {
    if (isTempName(part)) {
      throw new PathEscapeError(path, "uses a name reserved for temp files");
    }
  }
}
