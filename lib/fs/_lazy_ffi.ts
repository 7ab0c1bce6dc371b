// A library's FFI symbols bound one at a time, on first use: Deno compiles
// a call stub for every symbol it binds (~0.2-0.4 ms each here), so
// binding all of libc's for a command that calls a few cost ~6 ms of its
// start-up, and the same again in every Worker that loads it.
import { ioTurn } from "../timer.ts";

/** libc's own dlopen and dlsym (glibc 2.34 on: in libc itself). */
const LOOKUP = {
  dlopen: {
    parameters: ["buffer", "i32"],
    result: "pointer",
    optional: true,
  },
  dlsym: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
    optional: true,
  },
} as const;

type Found = Deno.DynamicLibrary<typeof LOOKUP>["symbols"];
type Lookup = {
  dlopen: NonNullable<Found["dlopen"]>;
  dlsym: NonNullable<Found["dlsym"]>;
};

/** The lookup functions by libc path (null: that libc has none). */
const lookups = new Map<string, Lookup | null>();

const RTLD_LAZY = 1;
const RTLD_NOLOAD = 4;

const encoder = new TextEncoder();

function cName(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text + "\0");
}

/**
 * Whether the library at `path` (loaded already) has every symbol in
 * `names`, asked through libc's dlsym (libc at `libcPath`); false when it
 * can't be told (a libc without dlsym, FFI not allowed on it).
 */
function hasAll(path: string, names: string[], libcPath: string): boolean {
  let lookup = lookups.get(libcPath);
  if (lookup === undefined) {
    try {
      const found = Deno.dlopen(libcPath, LOOKUP).symbols;
      lookup = found.dlopen && found.dlsym
        ? { dlopen: found.dlopen, dlsym: found.dlsym }
        : null;
    } catch {
      lookup = null;
    }
    lookups.set(libcPath, lookup);
  }
  if (!lookup) return false;
  // The handle of the copy already loaded (none is loaded anew).
  const { dlopen, dlsym } = lookup;
  const handle = dlopen(cName(path), RTLD_LAZY | RTLD_NOLOAD);
  if (handle === null) return false;
  return names.every((name) => dlsym(handle, cName(name)) !== null);
}

/**
 * The symbols `symbols` of the library at `path`, each bound the first
 * time it is read (then kept as a plain property). The library is opened
 * at once and every symbol looked up (through the dlsym of the libc at
 * `libcPath`), so a library that can't be loaded, or lacks a symbol,
 * throws here, as a full `Deno.dlopen` would. Where the lookup can't be
 * made (no `libcPath`, a libc without dlsym), every symbol is bound at
 * once instead.
 *
 * Permissions: ffi on `path` and `libcPath`.
 *
 * @example
 * ```ts
 * import { lazySymbols } from "./_lazy_ffi.ts";
 * import { findLibc } from "./_libc.ts";
 * const libc = findLibc();
 * if (libc) {
 *   const fns = lazySymbols(libc, { getpid: { parameters: [], result: "i32" } }, libc);
 *   if (fns.getpid() !== Deno.pid) throw new Error("example failed");
 * }
 * ```
 * @throws {Error} when the library can't be loaded or lacks a symbol.
 */
export function lazySymbols<S extends Deno.ForeignLibraryInterface>(
  path: string,
  symbols: S,
  libcPath: string | undefined,
): Deno.DynamicLibrary<S>["symbols"] {
  // Opens the library (and checks the permission) without binding.
  Deno.dlopen(path, {});
  const names = Object.keys(symbols);
  // A symbol may be bound under another key (`name`: the same function
  // twice, once nonblocking): the library is asked for its real name.
  const real = names.map((key) => {
    const name = (symbols[key] as { name?: unknown }).name;
    return typeof name === "string" ? name : key;
  });
  if (libcPath === undefined || !hasAll(path, real, libcPath)) {
    // Bound now: what is missing throws here, as it always did.
    return Deno.dlopen(path, symbols).symbols;
  }
  const unbound: PropertyDescriptorMap = {};
  for (const name of names) {
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

/**
 * Binds the symbols `names` of a {@linkcode lazySymbols} object now, for
 * a thread that is waiting anyway (each costs ~0.2-0.5 ms the first time
 * it is called); returns how many it bound (0 once all are). A bound
 * symbol is a plain property of its own; symbols bound all at once (no
 * lookup was possible) are already.
 *
 * @example
 * ```ts
 * import { bindNow, lazySymbols } from "./_lazy_ffi.ts";
 * import { findLibc } from "./_libc.ts";
 * const libc = findLibc();
 * if (libc) {
 *   const fns = lazySymbols(libc, { getpid: { parameters: [], result: "i32" } }, libc);
 *   bindNow(fns, ["getpid"]);
 *   if (bindNow(fns, ["getpid"]) !== 0) throw new Error("example failed");
 * }
 * ```
 */
export function bindNow<T extends object>(
  symbols: T,
  names: readonly (keyof T & string)[],
): number {
  let bound = 0;
  for (const name of names) {
    if (Object.hasOwn(symbols, name)) continue;
    // Reading an unbound symbol binds it.
    void symbols[name];
    bound++;
  }
  return bound;
}

/** Symbols of a {@linkcode lazySymbols} object to bind, by name. */
export type Bindings = readonly [symbols: object, names: readonly string[]];

/**
 * Binds `lists`' symbols one at a time, each in an event-loop turn of its
 * own, until `stop` is called or all are bound: for a thread that waits
 * anyway (a reply on its way), whose later calls then find them bound
 * (each costs ~0.3-1 ms the first time, in a client that binds ~17 of
 * them). What arrives meanwhile waits for one symbol's binding at most.
 * Returns the stop function; what it has bound is bound.
 *
 * @example
 * ```ts
 * import { bindIdle, lazySymbols } from "./_lazy_ffi.ts";
 * import { findLibc } from "./_libc.ts";
 * const libc = findLibc();
 * if (libc) {
 *   const fns = lazySymbols(libc, { getpid: { parameters: [], result: "i32" } }, libc);
 *   const stop = bindIdle([[fns, ["getpid"]]]);
 *   await new Promise((resolve) => setTimeout(resolve, 50));
 *   stop();
 *   if (!Object.hasOwn(fns, "getpid")) throw new Error("example failed");
 * }
 * ```
 */
export function bindIdle(lists: readonly Bindings[]): () => void {
  let stopped = false;
  (async () => {
    for (const [symbols, names] of lists) {
      for (const name of names) {
        // First a turn: what this thread has just written goes out.
        await ioTurn();
        if (stopped) return;
        if (Object.hasOwn(symbols, name)) continue;
        try {
          void (symbols as Record<string, unknown>)[name];
        } catch {
          // Bound when called, as it would have been.
        }
      }
    }
  })();
  return () => {
    stopped = true;
  };
}
