// @grpc/grpc-js, pinned here once: an npm: specifier resolves for every
// importer of mod.ts, not only inside this repository's import map.
export * from "npm:@grpc/grpc-js@1.14.7";
