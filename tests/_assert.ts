// Minimal assertions (jsr:@std/assert is unreachable from these machines).
import { deepStrictEqual, match } from "node:assert/strict";

/** Deep equality with a readable diff. */
export function assertEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  if (message === undefined) deepStrictEqual(actual, expected);
  else {
    try {
      deepStrictEqual(actual, expected);
    } catch (error) {
      if (error instanceof Error) {
        error.message = `${message}\n${error.message}`;
      }
      throw error;
    }
  }
}

/** A condition that must hold: throws when it does not (Deno's built-in assert only logs). */
export function assert(
  condition: unknown,
  message = "assertion failed",
): asserts condition {
  if (!condition) throw new Error(message);
}

/** String matches a pattern. */
export function assertMatch(
  actual: string,
  pattern: RegExp,
  message?: string,
): void {
  if (message === undefined) match(actual, pattern);
  else match(actual, pattern, message);
}

/** Awaits a promise that must reject with `ErrorClass` (and a message matching `pattern`). */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  ErrorClass: abstract new (...args: never[]) => E,
  pattern?: RegExp,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    if (!(error instanceof ErrorClass)) {
      throw new Error(
        `Expected ${ErrorClass.name}, got ${
          error instanceof Error ? `${error.name}: ${error.message}` : error
        }`,
      );
    }
    if (pattern) match(error.message, pattern);
    return error;
  }
  throw new Error(`Expected ${ErrorClass.name}, but nothing was thrown`);
}

/** A function that must throw `ErrorClass`. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  ErrorClass: abstract new (...args: never[]) => E,
  pattern?: RegExp,
): E {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ErrorClass)) {
      throw new Error(
        `Expected ${ErrorClass.name}, got ${
          error instanceof Error ? `${error.name}: ${error.message}` : error
        }`,
      );
    }
    if (pattern) match(error.message, pattern);
    return error;
  }
  throw new Error(`Expected ${ErrorClass.name}, but nothing was thrown`);
}
