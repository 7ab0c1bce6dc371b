// jose (JWT), pinned here once (see grpc.ts).
export * from "npm:jose@6.2.18";
