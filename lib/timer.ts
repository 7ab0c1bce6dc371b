// Timers that don't cost a command its start-up.
//
// Deno 2.9's global setTimeout is Node's, loaded on first use: the first
// call costs ~20 ms here (node:timers, async_hooks and the error classes
// are evaluated), ~10% of a one-file push. AbortSignal.timeout runs on
// the runtime's own timer and costs ~1 ms the first time. Deno keeps the
// process alive for it while the signal has an "abort" listener and lets
// it go once none is left, so a timer here is "armed" by its listener and
// cancelled by removing it.

/** A pending one-shot timer. */
export interface Timer {
  /** Stops it: its callback will not run. Safe to call more than once. */
  cancel(): void;
}

/**
 * Runs `fn` once after `ms` milliseconds (0 or more), keeping the process
 * alive until then unless cancelled.
 *
 * @example
 * ```ts
 * import { after } from "./timer.ts";
 * const t = after(1000, () => console.log("late"));
 * t.cancel();
 * ```
 */
export function after(ms: number, fn: () => void): Timer {
  const delay = Number.isFinite(ms) && ms > 0 ? Math.ceil(ms) : 0;
  const signal = AbortSignal.timeout(delay);
  let pending = true;
  const fire = () => {
    if (!pending) return;
    pending = false;
    fn();
  };
  signal.addEventListener("abort", fire, { once: true });
  return {
    cancel() {
      if (!pending) return;
      pending = false;
      signal.removeEventListener("abort", fire);
    },
  };
}

/** A promise that resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => after(ms, resolve));
}

/**
 * Rejects with `error()` after `ms` unless `work` settles first; the timer
 * is cancelled either way.
 */
export async function within<T>(
  work: Promise<T>,
  ms: number,
  error: () => Error,
): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = after(ms, () => reject(error()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    timer?.cancel();
  }
}

/** A repeating timer: `fn` every `ms` milliseconds until cancelled. */
export function every(ms: number, fn: () => void): Timer {
  let current: Timer | undefined;
  let stopped = false;
  const arm = () => {
    current = after(ms, () => {
      if (stopped) return;
      arm();
      fn();
    });
  };
  arm();
  return {
    cancel() {
      stopped = true;
      current?.cancel();
    },
  };
}

const NOTHING = new Uint8Array(0);
/** Every this many turns, one waits on a real timer (see ioTurn). */
const TIMER_TURN_EVERY = 16;
let turns = 0;

/**
 * Returns to the runtime's event loop, then resumes: for a loop that
 * never waits on I/O itself (a walk of cached entries) but has writes
 * pending. A microtask or a MessageChannel message never returns to the
 * event loop. Most turns wait for an async runtime op that completes at
 * once (a SHA-1 of no bytes: ~40 us, no permission needed): the loop polls
 * the pending ops then, and usually the kernel's readiness too, but not
 * always (on some machines the op completes before the loop would wait,
 * and the runtime then skips the readiness poll). So every 16th turn waits
 * on a 1 ms timer, which cannot fire without the runtime parking on the
 * kernel: pending I/O is guaranteed to progress at least that often. A
 * timer turn costs ~2 ms here (timers are coarse), so not every turn.
 */
export async function ioTurn(): Promise<void> {
  if (++turns % TIMER_TURN_EVERY === 0) return await sleep(1);
  await crypto.subtle.digest("SHA-1", NOTHING);
}
