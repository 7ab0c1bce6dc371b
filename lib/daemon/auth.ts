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
 * Wrong secrets a module takes from all addresses together before new
 * addresses must wait: a burst of 20, then one more every 6 s (600 an
 * hour at most, however many addresses a guesser rotates through).
 */
export const MODULE_FAILURE_BURST = 20;
const MODULE_REFILL_MS = 6_000;
/** How long an address that gave a module's right secret stays trusted. */
const PROVEN_MS = 24 * 3600_000;

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
 * clears its record. All addresses together have a budget of
 * {@linkcode MODULE_FAILURE_BURST} wrong secrets per module, refilled at
 * one per 6 s; while it is spent, only addresses that gave the module's
 * right secret in the last day are heard.
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
  /** Per module: the budget of wrong secrets left, and when last filled. */
  readonly #budgets = new Map<string, { tokens: number; at: number }>();
  /** "module\0address" -> until when that address is trusted there. */
  readonly #proven = new Map<string, number>();

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
    const provenKey = `${module.name}\0${client}`;
    const proven = (this.#proven.get(provenKey) ?? 0) > now;
    const budget = this.#budget(module.name, now);
    // Guessers rotating addresses spend one budget per module; while it is
    // spent, only addresses that gave the right secret lately are heard
    // (a client that has one is never locked out from elsewhere).
    if (!proven && budget.tokens < 1 && given) {
      throw new ServiceError(
        Status.RESOURCE_EXHAUSTED,
        `too many wrong secrets for module "${module.name}" from many addresses; a new address may try again in ${
          Math.ceil((MODULE_REFILL_MS - (now - budget.at)) / 1000)
        } s`,
      );
    }
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
      // A trusted address's slips are its own to pay for (above).
      if (!proven) budget.tokens = Math.max(0, budget.tokens - 1);
      throw new ServiceError(
        Status.PERMISSION_DENIED,
        `access denied to module "${module.name}"`,
      );
    }
    this.#failures.delete(client);
    this.#proven.delete(provenKey); // re-inserted as the newest
    this.#proven.set(provenKey, now + PROVEN_MS);
    if (this.#proven.size > MAX_TRACKED) {
      this.#proven.delete(this.#proven.keys().next().value!);
    }
  }

  /** The module's budget of wrong secrets, refilled for the time passed. */
  #budget(name: string, now: number): { tokens: number; at: number } {
    let budget = this.#budgets.get(name);
    if (!budget) {
      budget = { tokens: MODULE_FAILURE_BURST, at: now };
      this.#budgets.set(name, budget);
    }
    const refill = Math.floor((now - budget.at) / MODULE_REFILL_MS);
    if (refill > 0) {
      budget.tokens = Math.min(MODULE_FAILURE_BURST, budget.tokens + refill);
      budget.at += refill * MODULE_REFILL_MS;
    }
    if (budget.tokens >= MODULE_FAILURE_BURST) budget.at = now;
    return budget;
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
