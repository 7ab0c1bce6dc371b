// hash-wasm (xxh3 in WebAssembly: blit's hash where libxxhash can't be
// loaded), pinned here once. A module of its own, imported only when it is
// needed (see hash_wasm.ts): a bundle has it beside it (`_hash_wasm.js`),
// not inside (a quarter of the CLI's bundle, parsed and deserialised from
// the code cache on every run though a machine with libxxhash never calls
// it).
export * from "npm:hash-wasm@4.13.0";
