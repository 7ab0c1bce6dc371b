// Module secrets: who may touch a protected module, and a brake on
// guessing. The secret arrives in call metadata, never in a path or a log.
import { status as Status } from "../deps/grpc.ts";
import { type ModuleConfig, moduleSecret } from "./config.ts";
import { ServiceError } from "./errors.ts";
export { SECRET_METADATA } from "../rpc/service.ts";

/** Failed attempts from one address before it must wait. */
const FREE_FAILURES = 5;
/** The longest wait imposed after failures. */
const MAX_WAIT_MS = 5 * 60_000;
/** Addresses remembered at once (the oldest are forgotten first). */
const MAX_TRACKED = 10_000;

/**
 * Compares in time that depends only on `expected`'s length, never on
 * where `given` first differs.
 */
export function sameSecret(expected: Uint8Array, given: Uint8Array): boolean {
  let diff = expected.length ^ given.length;
  for (let i = 0; i < expected.length; i++) {
    diff |= expected[i] ^ (given[i] ?? 0);
  }
  return diff === 0;
}

/**
 * Checks module secrets and slows down guessing: after 5 wrong secrets
 * from one address, that address waits 10 s, then 20, 40, ... up to 5
 * minutes, before any secret from it is looked at again; a right secret
 * clears its record.
 *
 * @example
 * ```ts
 * import { AuthGuard } from "./auth.ts";
 * const guard = new AuthGuard();
 * guard.check({ name: "open", path: "/srv", readOnly: false, comment: "", mungeSymlinks: true }, "127.0.0.1", undefined);
 * ```
 */
export class AuthGuard {
  readonly #now: () => number;
  readonly #failures = new Map<string, { count: number; until: number }>();

  /** `now` is the clock (tests pass their own). */
  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  /**
   * Admits `client` to `module` with the secret it presented (or none).
   *
   * @throws {ServiceError} UNAUTHENTICATED without a secret,
   * PERMISSION_DENIED with a wrong one, RESOURCE_EXHAUSTED while the
   * address must wait.
   */
  check(module: ModuleConfig, client: string, given: string | undefined): void {
    if (module.secretFile === undefined) return;
    const record = this.#failures.get(client);
    const now = this.#now();
    if (record && record.until > now) {
      throw new ServiceError(
        Status.RESOURCE_EXHAUSTED,
        `too many wrong secrets from your address; try again in ${
          Math.ceil((record.until - now) / 1000)
        } s`,
      );
    }
    if (given === undefined || given === "") {
      throw new ServiceError(
        Status.UNAUTHENTICATED,
        `module "${module.name}" requires a secret (set BLIT_SECRET or --secret-file)`,
      );
    }
    // Fails closed: a protected module whose secret is missing admits no one.
    const secret = moduleSecret(module);
    if (!secret || !sameSecret(secret, new TextEncoder().encode(given))) {
      this.#fail(client, record, now);
      throw new ServiceError(
        Status.PERMISSION_DENIED,
        `access denied to module "${module.name}"`,
      );
    }
    this.#failures.delete(client);
  }

  #fail(
    client: string,
    record: { count: number; until: number } | undefined,
    now: number,
  ): void {
    const count = (record?.count ?? 0) + 1;
    const until = count < FREE_FAILURES
      ? 0
      : now + Math.min(MAX_WAIT_MS, 10_000 * 2 ** (count - FREE_FAILURES));
    this.#failures.delete(client); // re-inserted as the newest
    this.#failures.set(client, { count, until });
    if (this.#failures.size > MAX_TRACKED) {
      this.#failures.delete(this.#failures.keys().next().value!);
    }
  }
}
