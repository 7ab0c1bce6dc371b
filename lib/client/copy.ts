// copy(): one call that copies like the CLI does, locally, up or down.
import { isRemote, parseRemote, UsageError } from "./address.ts";
import type { LocalCopyOptions } from "./local_copy.ts";
import type { RemoteTransferOptions } from "./transfer_call.ts";
import type { TransferResult } from "./summary.ts";

/** Options for {@linkcode copy}: every push/pull option, and local ones. */
export interface CopyOptions
  extends RemoteTransferOptions, Pick<LocalCopyOptions, "workers" | "onFile"> {}

/**
 * Copies `src` to `dst` the way `blit copy` does: a local copy when both
 * are local paths, a push when `dst` is a `blit://` address, a pull when
 * `src` is. Placement follows the contract (a directory's contents go
 * into `dst`; a file goes into `dst` when it is a directory or ends in
 * `/`). `options.mirror` makes it `blit mirror`.
 *
 * Permissions: read on the source, write on the destination, net to the
 * daemon.
 *
 * @example
 * ```ts
 * import { copy } from "@blit/cli/mod";
 * const src = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${src}/a.txt`, "hi");
 * const top = Deno.makeTempDirSync();
 * const dst = `${top}/out`;
 * const result = await copy(src, dst);
 * if (result.transport !== "local" || result.filesTransferred !== 1) throw new Error("example failed");
 * Deno.removeSync(src, { recursive: true });
 * Deno.removeSync(top, { recursive: true });
 * ```
 * @throws {UsageError} for two remote addresses, or a malformed one.
 * @throws {SourceNotFoundError} when a local source does not exist.
 */
export async function copy(
  src: string,
  dst: string,
  options: CopyOptions = {},
): Promise<TransferResult> {
  // The secret comes with the options, never in the address text.
  const withSecret = (arg: string) => ({
    ...parseRemote(arg),
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.tlsCa === undefined ? {} : { tlsCa: options.tlsCa }),
  });
  const srcRemote = isRemote(src);
  const dstRemote = isRemote(dst);
  if (srcRemote && dstRemote) {
    throw new UsageError(
      "copying from one daemon to another is not supported; pull then push",
    );
  }
  if (srcRemote || dstRemote) {
    // Loaded only when needed: the gRPC stack costs start-up time.
    return srcRemote
      ? await (await import("./pull.ts")).pullRemote(
        withSecret(src),
        dst,
        options,
      )
      : await (await import("./push.ts")).pushRemote(
        src,
        withSecret(dst),
        options,
      );
  }
  const started = performance.now();
  // Loaded only for a local copy, as the remote roles are only for theirs.
  const { localCopy } = await import("./local_copy.ts");
  const stats = await localCopy(src, dst, options);
  return {
    ...stats,
    transport: "local",
    streams: 1,
    fallback: false,
    handshakeMs: 0,
    manifestMs: 0,
    transferMs: performance.now() - started,
    retries: 0,
  };
}
