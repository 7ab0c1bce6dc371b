// The daemon's admin calls: list a path, purge one, list the modules.
import { create } from "../rpc/codec.ts";
import {
  EntryKind,
  ListModulesRequestSchema,
  ListRequestSchema,
  PurgeRequestSchema,
} from "../rpc/service.ts";
import type { RemoteAddress } from "./address.ts";
import { connect, remoteFailure } from "./connect.ts";

/** One listed entry. */
export interface ListEntry {
  /** The entry's name in the listed directory. */
  name: string;
  /** A directory. */
  isDir: boolean;
  /** A symlink (listed as itself, never followed). */
  isSymlink: boolean;
  /** Bytes (for a link, its target's length). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
  /** A symlink's target text. */
  linkTarget?: string;
}

/** A listing and whether the listed path is a directory. */
export interface Listing {
  /** Whether the listed path is a directory (else one entry for the file). */
  pathIsDir: boolean;
  /** The entries, sorted by name. */
  entries: ListEntry[];
}

/**
 * Lists a remote directory (or one file).
 *
 * @example
 * ```ts ignore
 * import { listRemote } from "@blit/cli/mod";
 * import { parseRemote } from "@blit/cli/mod";
 * console.log((await listRemote(parseRemote("blit://127.0.0.1/default"))).entries);
 * ```
 */
export async function listRemote(
  address: RemoteAddress,
  options: { recursive?: boolean } = {},
): Promise<Listing> {
  const client = await connect(address);
  try {
    const call = client.list(
      create(ListRequestSchema, {
        module: address.module,
        path: address.path,
        recursive: options.recursive ?? false,
      }),
    );
    const listing: Listing = { pathIsDir: false, entries: [] };
    for await (const response of call) {
      listing.pathIsDir = response.pathIsDir;
      for (const h of response.entries) {
        listing.entries.push({
          name: h.path,
          isDir: h.kind === EntryKind.DIR,
          isSymlink: h.kind === EntryKind.SYMLINK,
          size: Number(h.size),
          mtimeMs: Number(h.mtimeMs),
          linkTarget: h.kind === EntryKind.SYMLINK ? h.linkTarget : undefined,
        });
      }
    }
    return listing;
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

/**
 * Deletes a remote file or tree; the module root needs `allowRoot`.
 *
 * @example
 * ```ts ignore
 * import { purgeRemote } from "@blit/cli/mod";
 * import { parseRemote } from "@blit/cli/mod";
 * await purgeRemote(parseRemote("blit://127.0.0.1/default/old"));
 * ```
 */
export async function purgeRemote(
  address: RemoteAddress,
  options: { dryRun?: boolean; allowRoot?: boolean } = {},
): Promise<{ filesDeleted: number; dirsDeleted: number }> {
  const client = await connect(address);
  try {
    const response = await client.unary(
      "purge",
      create(PurgeRequestSchema, {
        module: address.module,
        path: address.path,
        allowRoot: options.allowRoot ?? false,
        dryRun: options.dryRun ?? false,
      }),
    );
    return {
      filesDeleted: Number(response.filesDeleted),
      dirsDeleted: Number(response.dirsDeleted),
    };
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}

/**
 * Lists the daemon's modules.
 *
 * @example
 * ```ts ignore
 * import { listModules } from "@blit/cli/mod";
 * import { parseRemote } from "@blit/cli/mod";
 * console.log(await listModules(parseRemote("blit://127.0.0.1", { moduleRequired: false })));
 * ```
 */
export async function listModules(
  address: RemoteAddress,
): Promise<
  { name: string; comment: string; readOnly: boolean; auth: boolean }[]
> {
  const client = await connect(address);
  try {
    const response = await client.unary(
      "listModules",
      create(ListModulesRequestSchema, {}),
    );
    return response.modules.map((m) => ({
      name: m.name,
      comment: m.comment,
      readOnly: m.readOnly,
      auth: m.auth,
    }));
  } catch (error) {
    throw await remoteFailure(error, address);
  } finally {
    client.close();
  }
}
