// What holds a streaming transfer call: its reader, its slot, an idle
// watch, and the cleanups that stop it.
import * as grpc from "../deps/grpc.ts";
import { type MessageReadable, MessageReader } from "../rpc/call_io.ts";
import { MESSAGE_UNITS, type Ticket } from "./admission.ts";
import { ServiceError } from "./errors.ts";
import { checkConnection, clientOf } from "./access.ts";
import type { PullCall, PushCall, ServiceContext } from "./context.ts";

/**
 * Fails a transfer that sat idle for `ms`: the peer sent nothing and took
 * nothing. `touch()` on every sign of life.
 */
export class IdleWatch {
  readonly #ms: number;
  readonly #onIdle: (error: ServiceError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #last = Date.now();
  constructor(ms: number, onIdle: (error: ServiceError) => void) {
    this.#ms = ms;
    this.#onIdle = onIdle;
    this.#arm(ms);
  }
  touch(): void {
    this.#last = Date.now();
  }
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      const idle = Date.now() - this.#last;
      if (idle < this.#ms) return this.#arm(this.#ms - idle);
      this.#timer = undefined;
      this.#onIdle(
        new ServiceError(
          grpc.status.DEADLINE_EXCEEDED,
          `Transfer idle for ${
            Math.round(this.#ms / 1000)
          } s; the daemon gave up on it`,
        ),
      );
    }, delay);
  }
}

/**
 * What every streaming transfer call holds: its reader, its slot, an idle
 * watch, and the cleanups that stop it (on cancel, idle or failure).
 */
export class CallGuard<Req> {
  readonly reader: MessageReader<Req>;
  readonly #call: PushCall | PullCall;
  readonly #idle: IdleWatch;
  readonly #stops: ((error: Error) => void)[] = [];
  readonly #onCancel = () => this.stop(new Error("client went away"));
  // A control message is progress too (a manifest batch, a need list).
  readonly #onData = () => this.alive(MESSAGE_UNITS);
  #ticket: Ticket | undefined;

  constructor(
    call: PushCall | PullCall,
    ctx: ServiceContext,
    options: { highWaterMark?: number } = {},
  ) {
    this.#call = call;
    this.reader = new MessageReader<Req>(
      call as unknown as MessageReadable<Req>,
      options,
    );
    this.#idle = new IdleWatch(
      ctx.config.limits.idleTimeout * 1000,
      (error) => this.stop(error),
    );
    call.on("cancelled", this.#onCancel);
    call.on("data", this.#onData);
  }

  /** Refuses over-cap connections and takes a transfer slot. */
  admit(ctx: ServiceContext): Ticket {
    checkConnection(this.#call, ctx);
    // A slow transfer gives its slot up when another needs it.
    this.#ticket = ctx.admission.admit(
      clientOf(this.#call),
      (error) => this.stop(error),
    );
    return this.#ticket;
  }

  /** A sign of life: data moved (`units` of it: see `Ticket.progress`). */
  alive(units = 0): void {
    this.#idle.touch();
    if (units > 0) this.#ticket?.progress(units);
  }

  /** Registers what to stop when the call is given up. */
  onStop(stop: (error: Error) => void): void {
    this.#stops.push(stop);
  }

  /** Gives the call up: the reader fails and every registered stop runs. */
  stop(error: Error): void {
    this.reader.fail(error);
    for (const stop of this.#stops) stop(error);
  }

  /** Releases the slot and the listeners (always, at the end). */
  close(): void {
    this.#idle.stop();
    this.#ticket?.release();
    this.#call.off("cancelled", this.#onCancel);
    this.#call.off("data", this.#onData);
  }
}
