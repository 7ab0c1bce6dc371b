// Raw-protocol push helpers for the security tests: headers, manifests,
// and a whole push over gRPC data.
import { create } from "../lib/rpc/codec.ts";
import {
  EntryKind,
  FileDataSchema,
  type FileHeader,
  FileHeaderSchema,
  ManifestBatchSchema,
  ManifestCompleteSchema,
  PushHeaderSchema,
  type ServerPushResponse,
  TransferOptionsSchema,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";
import { type BlitRpcClient, openPush } from "./_daemon.ts";

/** A file header as a client sends it (mtime fixed, mode by kind). */
export function header(
  _module: string,
  path: string,
  kind: EntryKind,
  extra: { size?: number; linkTarget?: string } = {},
): FileHeader {
  return create(FileHeaderSchema, {
    path,
    kind,
    size: BigInt(extra.size ?? 0),
    mtimeMs: 1_700_000_000_000n,
    mode: kind === EntryKind.DIR ? 0o755 : 0o644,
    linkTarget: extra.linkTarget ?? "",
  });
}

/** A push header over gRPC data (`forceGrpcData`). */
export function pushHeader(
  module: string,
  destination: string,
  options: { mirror?: boolean; dryRun?: boolean } = {},
) {
  return {
    case: "header" as const,
    value: create(PushHeaderSchema, {
      module,
      destination,
      mirror: options.mirror ?? false,
      options: create(TransferOptionsSchema, {
        forceGrpcData: true,
        dryRun: options.dryRun ?? false,
      }),
    }),
  };
}

/** A manifest batch and its end. */
export function manifest(entries: FileHeader[]) {
  return [
    {
      case: "manifestBatch" as const,
      value: create(ManifestBatchSchema, { entries }),
    },
    {
      case: "manifestComplete" as const,
      value: create(ManifestCompleteSchema, {
        entries: BigInt(entries.length),
      }),
    },
  ];
}

/** Reads push responses until `wanted` (or the end of the call). */
export async function until(
  call: ReturnType<typeof openPush>,
  wanted: ServerPushResponse["payload"]["case"],
): Promise<ServerPushResponse | undefined> {
  for (let i = 0; i < 10_000; i++) {
    const message = await call.next();
    if (!message || message.payload.case === wanted) return message;
  }
  return undefined;
}

/**
 * A whole push over gRPC data: `files` holds the bodies of the regular
 * files in `entries`. Resolves with the call's status.
 */
export async function pushAll(
  client: BlitRpcClient,
  module: string,
  destination: string,
  entries: FileHeader[],
  files: Record<string, Uint8Array> = {},
): Promise<{ code: number; details: string }> {
  const call = openPush(client);
  call.send(pushHeader(module, destination));
  for (const payload of manifest(entries)) call.send(payload);
  const negotiation = await until(call, "negotiation");
  if (negotiation) {
    for (const [path, data] of Object.entries(files)) {
      call.send({
        case: "fileData",
        value: create(FileDataSchema, {
          path,
          data,
          last: true,
          header: header(module, path, EntryKind.FILE, { size: data.length }),
        }),
      });
    }
    call.send({ case: "uploadComplete", value: create(UploadCompleteSchema) });
  }
  call.end();
  while (await call.next());
  return await call.status;
}
