// jsonc-parser (the daemon's config), pinned here once (see grpc.ts).
export * from "npm:jsonc-parser@3.3.1";
