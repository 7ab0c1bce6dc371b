// hash-wasm (xxh3-128), loaded on first use: only where libxxhash can't be
// (see lib/fs/native_hash.ts). Its module (./_hash_wasm.ts) is named by a
// URL made at run time, so a bundle does not take it in: the CLI's bundle
// was a quarter hash-wasm, deserialised on every run (a no-op push of
// Python's library 6.9 ms sooner without it, 31 pairs; ~650 fewer page
// faults). A bundle finds it beside itself (`_hash_wasm.js`, see
// tools/bundle.ts); from source it is the module next to this one.

import { workerUrl } from "../fs/worker_pool.ts";

type HashWasm = typeof import("./_hash_wasm.ts");

let loading: Promise<HashWasm> | undefined;

/**
 * Loads hash-wasm: the module beside this one (or beside the bundle);
 * where a bundle was copied without it, the npm package itself (resolved
 * by Deno at run time: its cache, else the registry).
 *
 * @throws {Error} saying what to install or keep together when neither
 * can be loaded.
 */
export function loadHashWasm(): Promise<HashWasm> {
  return loading ??= (async () => {
    // Beside a bundle as a Worker's script is (`_hash_wasm.js`), else
    // the module next to this one.
    const url = workerUrl("_hash_wasm", import.meta.url);
    try {
      return await import(url.href) as HashWasm;
    } catch (besideError) {
      try {
        // Made here, not written out: a bundler must not take it in.
        return await import(["npm:hash-wasm", "4.13.0"].join("@")) as HashWasm;
      } catch {
        loading = undefined;
        throw new Error(
          `no xxh3 hash: libxxhash can't be loaded here and neither can hash-wasm (${url.href}: ${
            besideError instanceof Error
              ? besideError.message.split("\n")[0]
              : String(besideError)
          }); install libxxhash (e.g. apt-get install libxxhash0) or keep the bundle's files together`,
        );
      }
    }
  })();
}
