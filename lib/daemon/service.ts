// The daemon's gRPC handlers: Push and Pull (in their own files), List,
// Purge, ListModules.
import * as grpc from "../deps/grpc.ts";
import { create } from "../rpc/codec.ts";
import type { FileEntry } from "../fs/entry.ts";
import { entryOf } from "../fs/enumerate.ts";
import { isTempName } from "../fs/temp_names.ts";
import { normalizeRelative } from "../fs/safe_path.ts";
import type { Tree } from "../fs/tree.ts";
import { type RemovedCounts, removeTree } from "../fs/remove_tree.ts";
import { ContainmentError, fileIdentity } from "../fs/tree.ts";
import {
  EntryKind,
  type FileHeader,
  FileHeaderSchema,
  type ListModulesResponse,
  ListModulesResponseSchema,
  type ListRequest,
  type ListResponse,
  ListResponseSchema,
  ModuleInfoSchema,
  type PurgeRequest,
  type PurgeResponse,
  PurgeResponseSchema,
} from "../rpc/service.ts";
import { entryToHeader } from "../rpc/convert.ts";
import { writeMessage } from "../rpc/call_io.ts";
import { ReadOnlyModuleError, ServiceError } from "./errors.ts";
import { baseName, BATCH, type ServiceContext } from "./context.ts";
import { checkConnection, moduleRoot, openModule } from "./access.ts";
import { failCall, safeStatus } from "./call_end.ts";
import { unmungeEntry } from "./pull_handler.ts";

/** List: a directory's entries (or one file), in batches. */
export async function handleList(
  call: grpc.ServerWritableStream<ListRequest, ListResponse>,
  ctx: ServiceContext,
): Promise<void> {
  let root: Tree | undefined;
  try {
    checkConnection(call, ctx);
    const module = openModule(ctx, call.request.module, call);
    const path = normalizeRelative(call.request.path);
    ctx.calls?.note(call, { path });
    root = moduleRoot(ctx, module);
    const info = root.lstat(path);
    if (!info || path.split("/").some(isTempName)) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    if (!info.isDirectory) {
      const entry = listEntry(
        root,
        path,
        baseName(path),
        module.mungeSymlinks,
      );
      await writeMessage(
        call,
        create(ListResponseSchema, {
          entries: entry ? [entryToHeader(entry)] : [],
          pathIsDir: false,
        }),
      );
      call.end();
      return;
    }
    // Depth first, each directory's names sorted: a directory's entry,
    // then what is beneath it (with -r), as `find | sort` would.
    const stack: { dir: string; names: string[]; at: number }[] = [
      { dir: path, names: sortedNames(root, path, true), at: 0 },
    ];
    let batch: FileHeader[] = [];
    let listed = 0;
    let sent = false;
    const flush = async () => {
      await writeMessage(
        call,
        create(ListResponseSchema, { entries: batch, pathIsDir: true }),
      );
      batch = [];
      sent = true;
    };
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      if (top.at === top.names.length) {
        stack.pop();
        continue;
      }
      const name = top.names[top.at++];
      const rel = top.dir === "" ? name : `${top.dir}/${name}`;
      // Named from the listed directory; resolved afresh beneath the
      // module's handle (a directory swapped for a link lists as a link).
      const shown = path === "" ? rel : rel.slice(path.length + 1);
      const entry = listEntry(root, rel, shown, module.mungeSymlinks);
      if (!entry) continue;
      batch.push(create(FileHeaderSchema, entryToHeader(entry)));
      listed++;
      if (batch.length >= BATCH) await flush();
      if (call.request.recursive && entry.kind === "dir") {
        stack.push({ dir: rel, names: sortedNames(root, rel), at: 0 });
      }
    }
    if (batch.length > 0 || !sent) await flush();
    ctx.calls?.note(call, { files: listed });
    call.end();
  } catch (error) {
    failCall(call, error, ctx);
  } finally {
    root?.close();
  }
}

/** A directory's names, sorted, temporary files left out ([] if gone). */
function sortedNames(root: Tree, dir: string, listed = false): string[] {
  try {
    return root.readDir(dir).filter((name) => !isTempName(name)).sort();
  } catch (error) {
    // The listed directory itself must be readable; one beneath it that
    // vanished or was swapped mid-listing is skipped.
    if (listed || error instanceof ContainmentError) throw error;
    return [];
  }
}

function listEntry(
  root: Tree,
  rel: string,
  name: string,
  munged: boolean,
): FileEntry | undefined {
  try {
    const info = root.lstat(rel);
    if (!info) return undefined; // vanished
    const entry = entryOf(() => root.readLink(rel), name, info);
    if (!entry) return undefined; // a socket, FIFO or device
    return munged ? unmungeEntry(entry) : entry;
  } catch {
    return undefined;
  }
}

/** Purge: delete a file or tree; a module root is emptied, never removed. */
export function handlePurge(
  call: grpc.ServerUnaryCall<PurgeRequest, PurgeResponse>,
  callback: grpc.sendUnaryData<PurgeResponse>,
  ctx: ServiceContext,
): void {
  try {
    checkConnection(call, ctx);
    const request = call.request;
    const module = openModule(ctx, request.module, call);
    if (module.readOnly) throw new ReadOnlyModuleError(module.name);
    const path = normalizeRelative(request.path);
    ctx.calls?.note(call, { path });
    if (path === "" && !request.allowRoot) {
      throw new ServiceError(
        grpc.status.FAILED_PRECONDITION,
        `Purging the root of module "${module.name}" needs --yes`,
      );
    }
    const root = moduleRoot(ctx, module);
    const info = root.lstat(path);
    if (!info) {
      throw new ServiceError(
        grpc.status.NOT_FOUND,
        `Path "${path}" not found in module "${module.name}"`,
      );
    }
    // Never follows a link; a module root is emptied and kept.
    let counts;
    try {
      counts = purgeTree(root, path, info, request.dryRun);
    } finally {
      root.close();
    }
    ctx.calls?.note(call, { deleted: counts.files + counts.dirs });
    callback(
      null,
      create(PurgeResponseSchema, {
        filesDeleted: BigInt(counts.files),
        dirsDeleted: BigInt(counts.dirs),
      }),
    );
  } catch (error) {
    const status = safeStatus(error, ctx);
    ctx.calls?.fail(call, status);
    if (status.code === grpc.status.INTERNAL && !ctx.calls) {
      ctx.log(`blit-daemon: ${status.details}`);
    }
    callback(status);
  }
}

/**
 * Removes `path` (its status `info`) from the module's tree. A directory
 * is pinned first and emptied beneath that very directory (a local user
 * who keeps swapping it with another fails the purge instead of steering
 * it), then removed only if it is still the one that was emptied.
 */
function purgeTree(
  root: Tree,
  path: string,
  info: Deno.FileInfo,
  dryRun: boolean,
): RemovedCounts {
  if (path === "" || !info.isDirectory) {
    return removeTree(root, path, { dryRun });
  }
  const target = root.sub(path);
  try {
    const pinned = target.pin();
    const counts = removeTree(target, "", { dryRun });
    if (dryRun) return { files: counts.files, dirs: counts.dirs + 1 };
    target.verify();
    const now = root.lstat(path);
    if (!now || fileIdentity(now) !== fileIdentity(pinned)) {
      throw new ContainmentError(path, "was replaced during the purge");
    }
    root.remove(path);
    return { files: counts.files, dirs: counts.dirs + 1 };
  } finally {
    target.close();
  }
}

/** ListModules: names, comments and read-only flags. */
export function handleListModules(ctx: ServiceContext): ListModulesResponse {
  return create(ListModulesResponseSchema, {
    modules: ctx.config.modules.map((m) =>
      // A protected module: its name, and that it needs a secret.
      m.secretFile !== undefined
        ? create(ModuleInfoSchema, { name: m.name, auth: true })
        : create(ModuleInfoSchema, {
          name: m.name,
          comment: m.comment,
          readOnly: m.readOnly,
        })
    ),
  });
}

/** The kind enum of an entry (re-exported for tests). */
export { EntryKind };

export { handlePush } from "./push_handler.ts";
export { handlePull } from "./pull_handler.ts";
export { checkConnection } from "./access.ts";
export { MAX_MANIFEST_ENTRIES, type ServiceContext } from "./context.ts";
