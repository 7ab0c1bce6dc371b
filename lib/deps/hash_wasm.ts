// hash-wasm (xxh3-128), pinned here once (see grpc.ts); loaded on first use
// so the CLI and copy workers start sooner.

/** Loads hash-wasm. */
export function loadHashWasm(): Promise<typeof import("npm:hash-wasm@4.13.0")> {
  // deno-lint-ignore no-import-prefix -- pinned here, once, on purpose
  return import("npm:hash-wasm@4.13.0");
}
