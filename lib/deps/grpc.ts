// @grpc/grpc-js, pinned here once: an npm: specifier resolves for every
// importer of mod.ts, not only inside this repository's import map. Its
// types are blit's own declarations (grpc_types.d.ts): grpc-js's pull in
// npm's @types/node, which `deno doc` can't resolve.
// @ts-types="./grpc_types.d.ts"
// deno-lint-ignore no-import-prefix -- the pin lives here, once
import { logVerbosity, setLogVerbosity } from "npm:@grpc/grpc-js@1.14.7";
// @ts-types="./grpc_types.d.ts"
export * from "npm:@grpc/grpc-js@1.14.7";

// grpc-js's own log lines (bind failures, dropped connections) would reach
// users' terminals next to blit's one-line errors: silent unless asked for
// with BLIT_DEBUG=grpc (GRPC_VERBOSITY then applies as usual).
let debug = false;
try {
  debug = Deno.env.get("BLIT_DEBUG") === "grpc";
} catch {
  // no env permission: stay quiet
}
if (!debug) setLogVerbosity(logVerbosity.NONE);
