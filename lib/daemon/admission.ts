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
  /**
   * Progress: `units` bytes of file data (a control message counts as
   * {@linkcode MESSAGE_UNITS}). A transfer that makes too little loses its
   * slot when another needs it.
   */
  progress(units: number): void;
  /** Frees the slot and everything charged. Idempotent. */
  release(): void;
}

/** What one control message (a manifest batch, a need list) counts as progress. */
export const MESSAGE_UNITS = 1024;

interface TicketState {
  client: string;
  charged: number;
  released: boolean;
  started: number;
  /** Units in the current window and the one before, and when it began. */
  window: number;
  previous: number;
  windowStart: number;
  /** Ends the transfer (it lost its slot to one that needed it). */
  evict?: (error: BusyError) => void;
}

/**
 * Admits transfers up to `maxSessions` at once (`maxSessionsPerClient` per
 * client address) and keeps each one's manifest state under
 * `sessionMemory` bytes, all of them under `totalMemory`. At a limit, the
 * transfer that brought the least in its last `progressWindow` seconds,
 * if under `minProgress`, is ended to make room (a trickle can't hold a
 * slot others wait for; a slow link's steady transfer keeps it).
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
  readonly #live = new Set<TicketState>();
  readonly #now: () => number;
  #sessions = 0;
  #memory = 0;

  /** `now` is the clock (tests pass their own). */
  constructor(limits: DaemonLimits, options: { now?: () => number } = {}) {
    this.#limits = limits;
    this.#now = options.now ?? Date.now;
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
  admit(client: string, evict?: (error: BusyError) => void): Ticket {
    const limits = this.#limits;
    // At a limit, a transfer that is making too little progress makes
    // way (its client's first, for the per-client limit).
    if ((this.#perClient.get(client) ?? 0) >= limits.maxSessionsPerClient) {
      this.#evictSlowest(client);
    }
    if (this.#sessions >= limits.maxSessions) this.#evictSlowest();
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
    const now = this.#now();
    const state: TicketState = {
      client,
      charged: 0,
      released: false,
      started: now,
      window: 0,
      previous: 0,
      windowStart: now,
      evict,
    };
    this.#live.add(state);
    return {
      get charged() {
        return state.charged;
      },
      charge: (bytes: number) => this.#charge(state, bytes),
      progress: (units: number) => {
        this.#roll(state, this.#now());
        state.window += units;
      },
      release: () => this.#release(state, client),
    };
  }

  /** Starts a new window when the current one is over. */
  #roll(state: TicketState, now: number): void {
    const windowMs = this.#limits.progressWindow * 1000;
    if (now - state.windowStart < windowMs) return;
    // A window with nothing in it at all leaves the previous one at 0.
    state.previous = now - state.windowStart < 2 * windowMs ? state.window : 0;
    state.window = 0;
    state.windowStart = now;
  }

  /**
   * Ends the transfer (of `client`, or anyone's) that made the least
   * progress in its last window, if it is slow; true when one made way.
   */
  #evictSlowest(client?: string): boolean {
    const now = this.#now();
    let slowest: TicketState | undefined;
    let least = Infinity;
    for (const state of this.#live) {
      if (client !== undefined && state.client !== client) continue;
      if (
        !state.evict ||
        now - state.started < this.#limits.progressWindow * 1000
      ) continue;
      this.#roll(state, now);
      // Units over the last full window (or what there is of this one).
      const recent = Math.max(state.previous, state.window);
      if (recent < this.#limits.minProgress && recent < least) {
        least = recent;
        slowest = state;
      }
    }
    if (!slowest) return false;
    const evict = slowest.evict!;
    this.#release(slowest, slowest.client);
    evict(
      new BusyError(
        "This transfer made too little progress while others waited for a slot, and gave its slot up; run it again",
      ),
    );
    return true;
  }

  #charge(state: TicketState, bytes: number): void {
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

  #release(state: TicketState, client: string): void {
    if (state.released) return;
    state.released = true;
    this.#live.delete(state);
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
