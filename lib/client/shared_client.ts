// One connection to a daemon for all the calls of an operation: the
// performance snapshot before a transfer, the transfer, and the upload
// after it ride one HTTP/2 connection while the operation holds it.
import type { RemoteAddress } from "./address.ts";
import { type BlitRpc, connect } from "./connect.ts";

type Client = BlitRpc;

/** A client shared by the calls of one operation on one daemon. */
interface Shared {
  client: Promise<Client>;
  users: number;
  broken: boolean;
}
const shared = new Map<string, Shared>();
const holds = new Map<string, number>();

function sharedKey(address: RemoteAddress): string {
  return JSON.stringify([
    address.tls ?? false,
    address.host,
    address.port,
    address.secret ?? null,
    address.tls ? address.tlsCa ?? null : null,
  ]);
}

function closeIfUnused(key: string, entry: Shared): void {
  if (entry.users > 0) return;
  if (!entry.broken && (holds.get(key) ?? 0) > 0) return;
  if (shared.get(key) === entry) shared.delete(key);
  entry.client.then((client) => client.close(), () => {});
}

/**
 * Keeps the connection to `address` open across calls until the returned
 * function is called: the performance snapshot before a transfer, the
 * transfer and the upload after it then ride one HTTP/2 connection
 * instead of three. Nothing connects until a call does, unless `dial`:
 * then it connects at once, while the caller goes on (loading the code
 * the call needs, say); a failure is the first call's to report.
 *
 * @example
 * ```ts
 * import { holdConnection } from "./shared_client.ts";
 * const release = holdConnection({ host: "127.0.0.1", port: 1, module: "m", path: "", trailingSlash: false });
 * release();
 * ```
 */
export function holdConnection(
  address: RemoteAddress,
  options: { dial?: boolean } = {},
): () => void {
  const key = sharedKey(address);
  holds.set(key, (holds.get(key) ?? 0) + 1);
  if (options.dial && !shared.has(key)) {
    const entry: Shared = { client: connect(address), users: 0, broken: false };
    shared.set(key, entry);
    // Not reported here: the first call dials again and says why.
    entry.client.catch(() => {
      if (shared.get(key) === entry) shared.delete(key);
    });
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (holds.get(key) ?? 1) - 1;
    if (left > 0) holds.set(key, left);
    else holds.delete(key);
    const entry = shared.get(key);
    if (entry) closeIfUnused(key, entry);
  };
}

/**
 * A client for `address`: the one held open for it (see
 * {@linkcode holdConnection}) or a new one, and `release` for when the
 * call is done (`release(true)` after a failure: that client is dropped
 * and the next call connects afresh).
 *
 * @throws {DaemonUnreachableError} when nothing answers within `timeoutMs`.
 */
export async function sharedClient(
  address: RemoteAddress,
  options: { timeoutMs?: number } = {},
): Promise<{ client: Client; release(broken?: boolean): void }> {
  const key = sharedKey(address);
  let entry = shared.get(key);
  if (!entry) {
    entry = { client: connect(address, options), users: 0, broken: false };
    shared.set(key, entry);
    entry.client.catch(() => {
      if (shared.get(key) === entry) shared.delete(key);
    });
  }
  const mine = entry;
  mine.users++;
  let client: Client;
  try {
    client = await mine.client;
  } catch (error) {
    mine.users--;
    throw error;
  }
  let released = false;
  return {
    client,
    release(broken = false) {
      if (released) return;
      released = true;
      mine.users--;
      if (broken) {
        mine.broken = true;
        if (shared.get(key) === mine) shared.delete(key);
      }
      closeIfUnused(key, mine);
    },
  };
}
