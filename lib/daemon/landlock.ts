// Kernel confinement of the sandboxed daemon with Landlock (Linux 5.13+):
// the daemon's parent restricts its own thread to the module directories,
// the state directory and what the runtime must read, then starts the
// sandboxed daemon, which inherits the domain on every thread. Deno's
// permission flags stay as defence in depth; this bounds what the FFI
// code paths (libc through --allow-ffi) could ever reach.

const SYS_CREATE_RULESET = 444n;
const SYS_ADD_RULE = 445n;
const SYS_RESTRICT_SELF = 446n;
const PR_SET_NO_NEW_PRIVS = 38;
const CREATE_RULESET_VERSION = 1;
const RULE_PATH_BENEATH = 1;

/** Filesystem access rights (LANDLOCK_ACCESS_FS_*). */
const FS = {
  WRITE_FILE: 1n << 1n,
  READ_FILE: 1n << 2n,
  READ_DIR: 1n << 3n,
  REMOVE_DIR: 1n << 4n,
  REMOVE_FILE: 1n << 5n,
  MAKE_CHAR: 1n << 6n,
  MAKE_DIR: 1n << 7n,
  MAKE_REG: 1n << 8n,
  MAKE_SOCK: 1n << 9n,
  MAKE_FIFO: 1n << 10n,
  MAKE_BLOCK: 1n << 11n,
  MAKE_SYM: 1n << 12n,
  REFER: 1n << 13n,
  TRUNCATE: 1n << 14n,
} as const;

const READ_FILE = FS.READ_FILE;
const READ_DIR = FS.READ_FILE | FS.READ_DIR;
const WRITE_FILE = FS.WRITE_FILE | FS.TRUNCATE;
const WRITE_DIR = FS.WRITE_FILE | FS.REMOVE_DIR | FS.REMOVE_FILE |
  FS.MAKE_DIR | FS.MAKE_REG | FS.MAKE_SYM | FS.REFER | FS.TRUNCATE;

const SYMBOLS = {
  landlock_query: {
    name: "syscall",
    parameters: ["i64", "pointer", "usize", "u32"],
    result: "i64",
  },
  landlock_create: {
    name: "syscall",
    parameters: ["i64", "buffer", "usize", "u32"],
    result: "i64",
  },
  landlock_add: {
    name: "syscall",
    parameters: ["i64", "i32", "u32", "buffer", "u32"],
    result: "i64",
  },
  landlock_restrict: {
    name: "syscall",
    parameters: ["i64", "i32", "u32"],
    result: "i64",
  },
  prctl: {
    parameters: ["i32", "u64", "u64", "u64", "u64"],
    result: "i32",
  },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;

/** One path the confined process may reach, and how. */
export interface LandlockRule {
  /** An absolute path (a directory covers everything beneath it). */
  path: string;
  /** "read", or "write" (read, create, change, remove, rename). */
  access: "read" | "write";
}

/** What {@linkcode confineSelf} did. */
export interface LandlockResult {
  /** The kernel's Landlock ABI version. */
  abi: number;
  /** Rules added (paths that exist). */
  rules: number;
}

/** Why the daemon could not be confined by the kernel. */
export class LandlockUnavailableError extends Error {
  /** Says what is missing. */
  constructor(reason: string) {
    super(`Landlock is not available: ${reason}`);
    this.name = "LandlockUnavailableError";
  }
}

/**
 * Restricts the calling thread (and every process it starts from now on,
 * across execve) to `rules`: other files can be neither read nor written,
 * whatever the permission bits say. Paths that don't exist are skipped.
 * Irreversible for this thread.
 *
 * Permissions: ffi on `libc`, read on the rules' paths.
 *
 * @throws {LandlockUnavailableError} on kernels without Landlock (before
 * 5.13, or disabled) or when FFI is not allowed.
 */
export function confineSelf(
  libcPath: string,
  rules: readonly LandlockRule[],
): LandlockResult {
  let lib: Deno.DynamicLibrary<typeof SYMBOLS>;
  try {
    lib = Deno.dlopen(libcPath, SYMBOLS);
  } catch (error) {
    throw new LandlockUnavailableError(
      error instanceof Error ? error.message : String(error),
    );
  }
  const fn = lib.symbols;
  const abi = Number(
    fn.landlock_query(SYS_CREATE_RULESET, null, 0n, CREATE_RULESET_VERSION),
  );
  if (abi < 1) throw new LandlockUnavailableError("the kernel has none");
  // REFER came with ABI 2, TRUNCATE with 3: ask only for what exists.
  let handled = FS.WRITE_FILE | FS.READ_FILE | FS.READ_DIR | FS.REMOVE_DIR |
    FS.REMOVE_FILE | FS.MAKE_CHAR | FS.MAKE_DIR | FS.MAKE_REG | FS.MAKE_SOCK |
    FS.MAKE_FIFO | FS.MAKE_BLOCK | FS.MAKE_SYM;
  if (abi >= 2) handled |= FS.REFER;
  if (abi >= 3) handled |= FS.TRUNCATE;
  const attr = new BigUint64Array([handled]);
  const ruleset = Number(
    fn.landlock_create(
      SYS_CREATE_RULESET,
      new Uint8Array(attr.buffer),
      8n,
      0,
    ),
  );
  if (ruleset < 0) throw new LandlockUnavailableError("no ruleset");
  let added = 0;
  try {
    for (const rule of rules) {
      let info: Deno.FileInfo;
      try {
        info = Deno.statSync(rule.path);
      } catch {
        continue; // not there: nothing to allow
      }
      const wanted = info.isDirectory
        ? (rule.access === "write" ? READ_DIR | WRITE_DIR : READ_DIR)
        : (rule.access === "write" ? READ_FILE | WRITE_FILE : READ_FILE);
      const fd = fn.open(
        new TextEncoder().encode(rule.path + "\0"),
        O_PATH | O_CLOEXEC,
        0,
      );
      if (fd < 0) continue;
      // struct landlock_path_beneath_attr is packed: u64 then i32.
      const beneath = new Uint8Array(12);
      const view = new DataView(beneath.buffer);
      view.setBigUint64(0, wanted & handled, true);
      view.setInt32(8, fd, true);
      const r = fn.landlock_add(
        SYS_ADD_RULE,
        ruleset,
        RULE_PATH_BENEATH,
        beneath,
        0,
      );
      fn.close(fd);
      if (r === 0n) added++;
    }
    if (fn.prctl(PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n) !== 0) {
      throw new LandlockUnavailableError("no_new_privs could not be set");
    }
    if (fn.landlock_restrict(SYS_RESTRICT_SELF, ruleset, 0) !== 0n) {
      throw new LandlockUnavailableError("restrict_self failed");
    }
  } finally {
    fn.close(ruleset);
  }
  return { abi, rules: added };
}

/** What the daemon's process needs beyond its modules and state. */
export interface RuntimeNeeds {
  /** The Deno executable. */
  execPath: string;
  /** Deno's cache (modules, npm packages), when known. */
  denoDir?: string;
  /** Directories holding the daemon's own code, when local files. */
  code: readonly string[];
  /** Files to read (config, secrets, TLS). */
  files: readonly string[];
  /** Files to write (the call log), which must exist already. */
  writeFiles?: readonly string[];
}

/**
 * The rules for a daemon: modules (write unless read-only), the state
 * directory (write), its config, secret and TLS files, its own code and
 * Deno's cache (read), the shared libraries and system files a process
 * reads to run (read), and /dev/null.
 *
 * @example
 * ```ts
 * import { daemonRules } from "./landlock.ts";
 * const rules = daemonRules([{ path: "/srv/m", readOnly: false }], "/var/lib/blit", { execPath: "/usr/bin/deno", code: [], files: [] });
 * if (!rules.some((r) => r.path === "/srv/m" && r.access === "write")) throw new Error("example failed");
 * if (rules.some((r) => r.path === "/" )) throw new Error("example failed");
 * ```
 */
export function daemonRules(
  modules: readonly { path: string; readOnly: boolean }[],
  stateDir: string,
  needs: RuntimeNeeds,
): LandlockRule[] {
  const rules: LandlockRule[] = [];
  for (const m of modules) {
    rules.push({ path: m.path, access: m.readOnly ? "read" : "write" });
  }
  rules.push({ path: stateDir, access: "write" });
  for (const file of needs.files) rules.push({ path: file, access: "read" });
  for (const file of needs.writeFiles ?? []) {
    rules.push({ path: file, access: "write" });
  }
  for (const dir of needs.code) rules.push({ path: dir, access: "read" });
  if (needs.denoDir) rules.push({ path: needs.denoDir, access: "read" });
  rules.push({ path: needs.execPath, access: "read" });
  // What any dynamically linked program reads to start and resolve names.
  for (
    const path of [
      "/lib",
      "/lib64",
      "/usr/lib",
      "/usr/lib64",
      "/usr/local/lib",
      "/etc/ld.so.cache",
      "/etc/hosts",
      "/etc/resolv.conf",
      "/etc/nsswitch.conf",
      "/etc/localtime",
      "/etc/ssl",
      "/usr/share/zoneinfo",
      "/proc/cpuinfo",
      "/proc/meminfo",
      "/proc/stat",
      "/proc/loadavg",
      "/sys/fs/cgroup",
      "/sys/devices/system/cpu",
      "/dev/urandom",
    ]
  ) rules.push({ path, access: "read" });
  rules.push({ path: "/dev/null", access: "write" });
  return rules;
}
