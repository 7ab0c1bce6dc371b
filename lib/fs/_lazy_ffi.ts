// A library's FFI symbols bound one at a time, on first use: Deno compiles
// a call stub for every symbol it binds (~0.2-0.4 ms each here), so
// binding all of libc's for a command that calls a few cost ~6 ms of its
// start-up, and the same again in every Worker that loads it.

/**
 * The symbols `symbols` of the library at `path`, each bound the first
 * time it is read (then kept as a plain property). The library itself is
 * opened at once, with no symbol, so a library that can't be loaded (not
 * there, FFI not allowed on it) throws here, as a full `Deno.dlopen`
 * would; a symbol the library lacks throws when it is first read.
 *
 * Permissions: ffi on `path`.
 *
 * @example
 * ```ts
 * import { lazySymbols } from "./_lazy_ffi.ts";
 * const libc = lazySymbols("libc.so.6", {
 *   getpid: { parameters: [], result: "i32" },
 *   getppid: { parameters: [], result: "i32" },
 * });
 * if (libc.getpid() !== Deno.pid) throw new Error("example failed");
 * ```
 * @throws {Error} when the library can't be loaded.
 */
export function lazySymbols<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  // Opens the library (and checks the permission) without binding.
  Deno.dlopen(path, {});
  const unbound: PropertyDescriptorMap = {};
  for (const name of Object.keys(symbols)) {
    unbound[name] = {
      get(this: Record<string, unknown>) {
        const bound = Deno.dlopen(path, { [name]: symbols[name] })
          .symbols[name];
        // An own property from now on: later reads find it directly.
        Object.defineProperty(this, name, { value: bound, enumerable: true });
        return bound;
      },
      configurable: true,
    };
  }
  return Object.create(Object.defineProperties({}, unbound));
}
