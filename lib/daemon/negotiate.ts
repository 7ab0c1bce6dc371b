// How a transfer's bytes travel, decided before its manifest: the data
// plane's sessions (a token a stream) or gRPC.
import { create } from "../rpc/codec.ts";
import {
  type DataTransferNegotiation,
  DataTransferNegotiationSchema,
  type TransferOptions,
  Transport,
} from "../rpc/service.ts";
import type { DataPlaneServer, DataSession } from "../wire/data_plane.ts";
import type { TokenScope } from "../wire/token.ts";
import type { ServiceContext } from "./context.ts";
import { DataLink } from "../transfer/peer.ts";
import { closeQuietly } from "../wire/socket.ts";

export function advertised(
  ctx: ServiceContext,
  plane: DataPlaneServer,
): { host: string; port: number } {
  const advertise = ctx.config.advertiseData;
  if (!advertise) return { host: "", port: plane.port };
  const colon = advertise.lastIndexOf(":");
  return {
    host: advertise.slice(0, colon).replace(/^\[|\]$/g, ""),
    port: Number(advertise.slice(colon + 1)),
  };
}

/** Most parallel data streams a transfer may ask for. */
export const MAX_STREAMS = 16;

/**
 * Streams used when the client leaves the choice to the daemon. Measured
 * on the 2-core VMs this was built on (1 GiB over loopback, tmpfs, 3
 * interleaved runs): 1, 2 and 4 streams all pushed in 0.9-1.0 s and pulled
 * in 0.9-1.1 s, the receiver's single thread being the limit, so one
 * stream: the others only cost connections. `--streams` still asks for more
 * (a link with per-connection limits gains from them).
 */
export const DEFAULT_STREAMS = 1;

/** The number of data streams for a transfer (1 to MAX_STREAMS). */
export function streamsFor(requested: number): number {
  if (!(requested > 0)) return DEFAULT_STREAMS;
  return Math.min(MAX_STREAMS, Math.floor(requested));
}

/** The data-plane sessions of one transfer, one per stream. */
class DataSessions {
  readonly sessions: readonly DataSession[];
  #conns: Deno.Conn[] = [];
  #cancelled = false;

  constructor(sessions: readonly DataSession[]) {
    this.sessions = sessions;
  }

  /** Resolves with every stream's connection (in token order). */
  async connections(): Promise<Deno.Conn[]> {
    const conns = await Promise.all(this.sessions.map((s) => s.connection));
    this.#conns = conns;
    if (this.#cancelled) this.cancel();
    return conns;
  }

  /** Drops the sessions and closes every connection that did arrive. */
  cancel(): void {
    this.#cancelled = true;
    for (const session of this.sessions) {
      session.cancel();
      session.connection.then(closeQuietly, () => {});
    }
    for (const conn of this.#conns) closeQuietly(conn);
  }
}

/** How a transfer's bytes travel: its data sessions' link, and the offer. */
export interface Negotiated {
  /** The data connections to come (none: the bytes go in messages). */
  link?: DataLink;
  /** What the client is told. */
  negotiation: DataTransferNegotiation;
}

/**
 * Decides how file bytes travel, before the manifest (so they can flow
 * while it is compared): data-plane sessions (one single-use token per
 * stream) when the daemon offers TCP and the client didn't ask for gRPC,
 * else gRPC (one stream). The sessions come as the `link` the role runs
 * on: it settles when the client's connections arrive, or when its
 * messages say it fell back.
 */
export async function negotiate(
  ctx: ServiceContext,
  request: {
    module: string;
    scope: TokenScope;
    forceGrpc: boolean;
    streams: number;
  },
): Promise<Negotiated> {
  if (ctx.dataPlane === null || request.forceGrpc) {
    return {
      negotiation: create(DataTransferNegotiationSchema, {
        transport: Transport.GRPC,
        streams: 1,
      }),
    };
  }
  const plane = ctx.dataPlane;
  const count = streamsFor(request.streams);
  const sessions: DataSession[] = [];
  try {
    for (let i = 0; i < count; i++) {
      sessions.push(
        await plane.openSession({
          module: request.module,
          scope: request.scope,
        }),
      );
    }
  } catch (error) {
    for (const session of sessions) session.cancel();
    throw error;
  }
  const { host, port } = advertised(ctx, plane);
  const data = new DataSessions(sessions);
  return {
    link: new DataLink(data.connections(), () => data.cancel()),
    negotiation: create(DataTransferNegotiationSchema, {
      transport: Transport.TCP,
      host,
      port,
      token: sessions[0].token,
      tokens: sessions.map((s) => s.token),
      streams: count,
    }),
  };
}

/**
 * {@linkcode negotiate} for a call's header, started now so its tokens are
 * signed (async crypto) while the ack goes out; undefined for a dry run
 * (no data path). Await it where the offer is sent; on a failure before
 * then, {@linkcode dropNegotiation} cancels its sessions.
 */
export function negotiateAhead(
  ctx: ServiceContext,
  request: {
    module: string;
    scope: TokenScope;
    options: TransferOptions | undefined;
    dryRun: boolean;
  },
): Promise<Negotiated> | undefined {
  if (request.dryRun) return undefined;
  const negotiating = negotiate(ctx, {
    module: request.module,
    scope: request.scope,
    forceGrpc: request.options?.forceGrpcData ?? false,
    streams: request.options?.streams ?? 0,
  });
  negotiating.catch(() => {});
  return negotiating;
}

/** Cancels the sessions of a negotiation a failed call never used. */
export function dropNegotiation(
  negotiating: Promise<Negotiated> | undefined,
): void {
  negotiating?.then((offer) => offer.link?.cancel(), () => {});
}
