// Zero-copy file bodies on Linux: sendfile(2) file -> socket, through Deno
// FFI to libc. Everything else in blit is portable; this module is the
// only one that knows about descriptors.
//
// The receive side has no counterpart here on purpose: splice(2) socket ->
// pipe -> file measured no faster on these machines than big reads and
// writes (1 GiB over loopback into tmpfs: 0.6-0.9 GiB/s with nonblocking
// calls, 1.3-1.6 sync, against 1.2-1.5 for 4 MiB reads), so receivers use
// the portable path.
//
// Deno does not hand out the descriptor behind a Deno.Conn or a
// Deno.FsFile, so: a connection's socket is found by matching
// getsockname/getpeername against its addresses and dup'ed at once (our
// copy can't be closed or reused under us); files are opened again by
// libc in the same synchronous turn as the checked lstat, and compared
// with it by identity (dev, ino) before a byte moves.
//
// sendfile and poll are `nonblocking: true` (they run off the event loop),
// so errno is not ours to read afterwards: a failed call is followed by
// poll(2) on the socket, and a socket error is read with
// getsockopt(SO_ERROR).
import type { TreeRoot } from "../fs/tree.ts";
import { resolveInside } from "../fs/safe_path.ts";
import { ContainedRoot, ContainmentError } from "../fs/contained_root.ts";
import { descriptorOf } from "../fs/tree.ts";
import { cString, loadLibc, O } from "../fs/_libc.ts";
import { lazySymbols } from "../fs/_lazy_ffi.ts";
import { SourceChangedError } from "./file_reader.ts";

const SYMBOLS = {
  sendfile: {
    parameters: ["i32", "i32", "buffer", "usize"],
    result: "isize",
    nonblocking: true,
  },
  poll: {
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  statx: {
    parameters: ["i32", "buffer", "i32", "u32", "buffer"],
    result: "i32",
  },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const AT_EMPTY_PATH = 0x1000;
const STATX_BASIC = 0x7ff;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
/** Highest descriptor searched for a connection's socket. */
const MAX_FD_SCAN = 65_536;
/** Failed calls in a row, each after poll said ready, before giving up. */
const MAX_SPURIOUS = 16;
/** A poll's wait before checking the connection is still wanted. */
const POLL_MS = 250;

/** The socket of a connection, as our own descriptor (see {@linkcode ZeroCopy.attach}). */
export interface RawSocket {
  /** Our dup of the connection's socket. */
  readonly fd: number;
  /** Closes our descriptor (the connection itself stays as it is). */
  close(): void;
}

/** A file opened for zero-copy (see {@linkcode ZeroCopy.openRead}). */
export interface RawFile {
  /** The descriptor. */
  readonly fd: number;
  /** Closes it. */
  close(): void;
}

/** Options for the byte-moving calls. */
export interface MoveOptions {
  /** Called with byte counts as they move (progress). */
  onBytes?: (n: number) => void;
  /**
   * Gives up after this long without a byte moving (the peer stopped).
   * Default: 120000 ms.
   */
  idleMs?: number;
}

/** A zero-copy call failed; the message says which and why. */
export class ZeroCopyError extends Error {
  /** What failed. */
  constructor(message: string) {
    super(message);
    this.name = "ZeroCopyError";
  }
}

/**
 * sendfile through libc, or `undefined` from {@linkcode loadZeroCopy}
 * where they can't be had (not Linux, no FFI permission, no libc).
 *
 * Permissions: ffi.
 */
export class ZeroCopy {
  readonly #libc: Libc;

  private constructor(libc: Libc) {
    this.#libc = libc;
  }

  /** @internal Built by {@linkcode loadZeroCopy}. */
  static _load(): ZeroCopy | undefined {
    if (Deno.build.os !== "linux") return undefined;
    if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
      return undefined;
    }
    try {
      if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
        return undefined;
      }
      // Bound as used: a command that never sends a body this way pays
      // for none of the nine stubs (~3 ms together).
      return new ZeroCopy(
        lazySymbols("libc.so.6", SYMBOLS, loadLibc()?.path),
      );
    } catch {
      return undefined;
    }
  }

  /**
   * Our own descriptor for `conn`'s socket, or undefined when it can't be
   * found (then use the portable path). Found by matching both addresses,
   * in the same synchronous turn as the dup, so a closed-and-reused number
   * can't be picked up.
   */
  attach(conn: Deno.Conn): RawSocket | undefined {
    if (conn.localAddr.transport !== "tcp") return undefined;
    // Over TLS the bytes must be encrypted on the way: never sendfile.
    if ("handshake" in conn) return undefined;
    const local = conn.localAddr as Deno.NetAddr;
    const peer = conn.remoteAddr as Deno.NetAddr;
    const addr = new Uint8Array(128);
    const len = new Uint32Array(1);
    const libc = this.#libc;
    const matches = (
      call: typeof libc.getsockname,
      fd: number,
      want: Deno.NetAddr,
    ): boolean => {
      len[0] = addr.length;
      if (call(fd, addr, len) !== 0) return false;
      return sockaddrMatches(addr, want);
    };
    for (let fd = 0; fd < MAX_FD_SCAN; fd++) {
      if (!matches(libc.getsockname, fd, local)) continue;
      if (!matches(libc.getpeername, fd, peer)) continue;
      const own = libc.dup(fd);
      if (own < 0) return undefined;
      let open = true;
      return {
        fd: own,
        close: () => {
          if (open) libc.close(own);
          open = false;
        },
      };
    }
    return undefined;
  }

  /**
   * Opens the regular file `rel` under `root` for sendfile, refusing a
   * link or anything that is not the file lstat saw.
   *
   * @throws {ContainmentError} when it is not (or no longer) a regular file.
   */
  openRead(root: TreeRoot, rel: string, verified?: Set<string>): RawFile {
    if (typeof root !== "string" && !(root instanceof ContainedRoot)) {
      // A kernel tree's handle is already checked: a regular file, opened
      // beneath the module without following anything.
      const handle = root.openRead(rel);
      const fd = descriptorOf(handle);
      if (fd === undefined) {
        handle.close();
        throw new ContainmentError(rel, "has no descriptor to send from");
      }
      return { fd, close: () => handle.close() };
    }
    const name = typeof root === "string"
      ? resolveInside(root, rel, { verified })
      : root.at(rel);
    // Same synchronous turn as the walk: a contained root's directory is
    // still the one it pinned.
    const before = Deno.lstatSync(name);
    if (!before.isFile) {
      throw new ContainmentError(rel, "is no longer a regular file");
    }
    const fd = this.#libc.open(
      cString(name),
      O.CLOEXEC | O.NOFOLLOW,
      0,
    );
    if (fd < 0) {
      // Let Deno say why (its error names the cause).
      Deno.openSync(name, { read: true }).close();
      throw new ContainmentError(rel, "could not be opened");
    }
    const file = this.#rawFile(fd);
    if (!this.#sameFile(fd, before)) {
      file.close();
      throw new ContainmentError(rel, "was replaced while being opened");
    }
    return file;
  }

  #rawFile(fd: number): RawFile {
    let open = true;
    return {
      fd,
      close: () => {
        if (open) this.#libc.close(fd);
        open = false;
      },
    };
  }

  #sameFile(fd: number, info: Deno.FileInfo): boolean {
    const buf = new Uint8Array(256);
    if (this.#libc.statx(fd, cString(""), AT_EMPTY_PATH, STATX_BASIC, buf)) {
      return false;
    }
    const view = new DataView(buf.buffer);
    const mode = view.getUint16(28, true);
    const ino = view.getBigUint64(32, true);
    const major = BigInt(view.getUint32(136, true));
    const minor = BigInt(view.getUint32(140, true));
    const dev = ((major & 0xfffff000n) << 32n) | ((major & 0xfffn) << 8n) |
      ((minor & 0xffffff00n) << 12n) | (minor & 0xffn);
    return (mode & 0o170000) === 0o100000 && BigInt(info.ino ?? -1) === ino &&
      BigInt(info.dev) === dev;
  }

  /**
   * Sends `count` bytes of `file` from `offset` to `socket` by sendfile.
   *
   * @throws {SourceChangedError} when the file ends first.
   * @throws {ZeroCopyError} when the socket fails or stalls.
   */
  async sendFile(
    socket: RawSocket,
    file: RawFile,
    offset: number,
    count: number,
    path: string,
    options: MoveOptions = {},
  ): Promise<void> {
    const off = new BigInt64Array([BigInt(offset)]);
    const poller = new Poller(this.#libc, socket.fd, options);
    let left = count;
    while (left > 0) {
      const n = Number(
        await this.#libc.sendfile(
          socket.fd,
          file.fd,
          off,
          BigInt(Math.min(left, 1 << 30)),
        ),
      );
      if (n > 0) {
        left -= n;
        poller.progress();
        options.onBytes?.(n);
      } else if (n === 0) {
        throw new SourceChangedError(
          `File ${path} shrank during the transfer (declared ${
            offset + count
          } bytes); run the command again`,
        );
      } else await poller.wait("sendfile");
    }
  }
}

/** Waits for a socket to take bytes again, and turns failures into errors. */
class Poller {
  readonly #libc: Libc;
  readonly #fds = new Uint8Array(8);
  readonly #idleMs: number;
  #spurious = 0;
  #last = Date.now();

  constructor(libc: Libc, fd: number, options: MoveOptions) {
    this.#libc = libc;
    const view = new DataView(this.#fds.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLOUT, true);
    this.#idleMs = options.idleMs ?? 120_000;
  }

  progress(): void {
    this.#spurious = 0;
    this.#last = Date.now();
  }

  /** After a failed call: waits until the socket is ready, or throws. */
  async wait(what: string): Promise<void> {
    const fd = new DataView(this.#fds.buffer).getInt32(0, true);
    for (;;) {
      this.#fds[6] = 0;
      this.#fds[7] = 0;
      const ready = await this.#libc.poll(this.#fds, 1n, POLL_MS);
      const revents = new DataView(this.#fds.buffer).getInt16(6, true);
      if (revents & (POLLERR | POLLNVAL) || (ready < 0)) {
        throw new ZeroCopyError(
          `${what} failed: ${socketError(this.#libc, fd)}`,
        );
      }
      if (revents & POLLHUP) {
        throw new ZeroCopyError(
          `${what} failed: the peer closed the connection`,
        );
      }
      if (revents & POLLOUT) {
        // Ready, yet the call had failed: an error errno would have named.
        if (++this.#spurious > MAX_SPURIOUS) {
          throw new ZeroCopyError(`${what} keeps failing on a ready socket`);
        }
        return;
      }
      if (Date.now() - this.#last > this.#idleMs) {
        throw new ZeroCopyError(
          `No progress for ${Math.round(this.#idleMs / 1000)} s`,
        );
      }
    }
  }
}

function socketError(libc: Libc, fd: number): string {
  const value = new Int32Array(1);
  const len = new Uint32Array([4]);
  if (libc.getsockopt(fd, SOL_SOCKET, SO_ERROR, value, len) !== 0) {
    return "the connection is gone";
  }
  const names: Record<number, string> = {
    32: "broken pipe",
    104: "connection reset",
    110: "timed out",
    111: "connection refused",
  };
  return value[0] === 0
    ? "the connection is gone"
    : names[value[0]] ?? `socket error ${value[0]}`;
}

/** Whether the sockaddr in `addr` is `want` (family, port and address). */
function sockaddrMatches(addr: Uint8Array, want: Deno.NetAddr): boolean {
  const view = new DataView(addr.buffer);
  const family = view.getUint16(0, true);
  const port = view.getUint16(2, false);
  if (port !== want.port) return false;
  if (family === 2) {
    return `${addr[4]}.${addr[5]}.${addr[6]}.${addr[7]}` === want.hostname;
  }
  if (family === 10) {
    const bytes = addr.subarray(8, 24);
    const mapped = bytes.subarray(0, 10).every((b) => b === 0) &&
      bytes[10] === 0xff && bytes[11] === 0xff;
    if (mapped) {
      const v4 = `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
      if (v4 === want.hostname || `::ffff:${v4}` === want.hostname) return true;
    }
    return ipv6Text(bytes) === canonicalIpv6(want.hostname);
  }
  return false;
}

function ipv6Text(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  }
  return groups.join(":");
}

/** Expands `::` so two spellings of one address compare equal. */
function canonicalIpv6(host: string): string {
  const bare = host.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const [head, tail] = bare.includes("::")
    ? bare.split("::")
    : [bare, undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const fill = tail === undefined
    ? []
    : Array(8 - left.length - right.length).fill("0");
  return [...left, ...fill, ...right]
    .map((g) => parseInt(g || "0", 16).toString(16)).join(":");
}

let loaded: ZeroCopy | undefined | null = null;

/**
 * The zero-copy calls when this process can make them: Linux (x86_64 or
 * aarch64) with FFI permission and libc. Loaded once.
 *
 * Permissions: ffi (queried, never prompted).
 *
 * @example
 * ```ts
 * import { loadZeroCopy } from "@blit/cli/internals";
 * const zc = loadZeroCopy();
 * if (Deno.build.os !== "linux" && zc !== undefined) throw new Error("example failed");
 * ```
 */
export function loadZeroCopy(): ZeroCopy | undefined {
  if (loaded === null) loaded = ZeroCopy._load();
  return loaded;
}
