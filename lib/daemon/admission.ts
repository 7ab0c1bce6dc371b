// Who may start a transfer, and how much a transfer may make us hold.
import { status as Status } from "../deps/grpc.ts";
import type { DaemonLimits } from "./config.ts";
import { ServiceError } from "./errors.ts";

/** The daemon is at a limit; the client should try again later. */
export class BusyError extends ServiceError {
  constructor(message: string) {
    super(Status.RESOURCE_EXHAUSTED, message);
    this.name = "BusyError";
  }
}

/** One admitted transfer: its memory account and its slot. */
export interface Ticket {
  /** Bytes charged so far. */
  readonly charged: number;
  /**
   * Adds `bytes` to this transfer's account.
   *
   * @throws {BusyError} when the transfer or the daemon would pass its budget.
   */
  charge(bytes: number): void;
  /** Frees the slot and everything charged. Idempotent. */
  release(): void;
}

/**
 * Admits transfers up to `maxSessions` at once (`maxSessionsPerClient` per
 * client address) and keeps each one's manifest state under
 * `sessionMemory` bytes, all of them under `totalMemory`.
 *
 * @example
 * ```ts
 * import { Admission } from "./admission.ts";
 * import { DEFAULT_LIMITS } from "./config.ts";
 * const admission = new Admission({ ...DEFAULT_LIMITS, maxSessionsPerClient: 1 });
 * const ticket = admission.admit("127.0.0.1");
 * let refused = false;
 * try { admission.admit("127.0.0.1"); } catch { refused = true; }
 * ticket.release();
 * if (!refused) throw new Error("second transfer admitted");
 * ```
 */
export class Admission {
  readonly #limits: DaemonLimits;
  readonly #perClient = new Map<string, number>();
  #sessions = 0;
  #memory = 0;

  constructor(limits: DaemonLimits) {
    this.#limits = limits;
  }

  /** Transfers running now. */
  get sessions(): number {
    return this.#sessions;
  }

  /** Bytes charged by all running transfers. */
  get memory(): number {
    return this.#memory;
  }

  /**
   * Admits one transfer from `client`.
   *
   * @throws {BusyError} when the daemon or that client is at its limit.
   */
  admit(client: string): Ticket {
    const limits = this.#limits;
    const mine = this.#perClient.get(client) ?? 0;
    if (this.#sessions >= limits.maxSessions) {
      throw new BusyError(
        `The daemon is busy (${this.#sessions} transfers running, its limit); try again later`,
      );
    }
    if (mine >= limits.maxSessionsPerClient) {
      throw new BusyError(
        `Too many transfers from your address at once (${mine}, the daemon's limit); wait for one to finish`,
      );
    }
    this.#sessions++;
    this.#perClient.set(client, mine + 1);
    const state = { charged: 0, released: false };
    return {
      get charged() {
        return state.charged;
      },
      charge: (bytes: number) => this.#charge(state, bytes),
      release: () => this.#release(state, client),
    };
  }

  #charge(state: { charged: number; released: boolean }, bytes: number): void {
    if (state.released) return;
    const limits = this.#limits;
    if (state.charged + bytes > limits.sessionMemory) {
      throw new BusyError(
        `The transfer's file list needs more than the daemon's per-transfer memory budget (${
          mib(limits.sessionMemory)
        }); split it into smaller transfers or raise limits.sessionMemory`,
      );
    }
    if (this.#memory + bytes > limits.totalMemory) {
      throw new BusyError(
        `The daemon's memory budget for transfers (${
          mib(limits.totalMemory)
        }) is in use; try again later`,
      );
    }
    state.charged += bytes;
    this.#memory += bytes;
  }

  #release(
    state: { charged: number; released: boolean },
    client: string,
  ): void {
    if (state.released) return;
    state.released = true;
    this.#memory -= state.charged;
    this.#sessions--;
    const left = (this.#perClient.get(client) ?? 1) - 1;
    if (left <= 0) this.#perClient.delete(client);
    else this.#perClient.set(client, left);
  }
}

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}
