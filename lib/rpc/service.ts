// The blit control-plane service's messages and limits, shared by the
// client and the daemon. Loads no gRPC library: the daemon's grpc-js
// adapter is grpc_service.ts, the client's own is grpc_client.ts.
export * from "./gen/blit.ts";

/** Largest control-plane message either side accepts (8 MiB). */
export const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** The call metadata key a client presents a module's secret in. */
export const SECRET_METADATA = "blit-secret";
