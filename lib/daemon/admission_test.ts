import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { Admission, BusyError } from "./admission.ts";
import { pathCost } from "../transfer/receiver.ts";
import { DEFAULT_LIMITS } from "./config.ts";

Deno.test("Admission: session slots per daemon and per client, freed on release", () => {
  const admission = new Admission({
    ...DEFAULT_LIMITS,
    maxSessions: 3,
    maxSessionsPerClient: 2,
  });
  const a1 = admission.admit("10.0.0.1");
  admission.admit("10.0.0.1");
  assertThrows(
    () => admission.admit("10.0.0.1"),
    BusyError,
    /^Too many transfers from your address at once \(2, the daemon's limit\); wait for one to finish$/,
  );
  const b = admission.admit("10.0.0.2");
  assertThrows(
    () => admission.admit("10.0.0.3"),
    BusyError,
    /^The daemon is busy \(3 transfers running, its limit\); try again later$/,
  );
  a1.release();
  a1.release(); // idempotent
  assertEquals(admission.sessions, 2);
  admission.admit("10.0.0.3");
  b.release();
  assertEquals(admission.sessions, 2);
});

Deno.test("Admission: memory budgets per transfer and in total", () => {
  const admission = new Admission({
    ...DEFAULT_LIMITS,
    sessionMemory: 1000,
    totalMemory: 1500,
  });
  const a = admission.admit("a");
  a.charge(900);
  assertThrows(
    () => a.charge(101),
    BusyError,
    /per-transfer memory budget \(0 MiB\); split it into smaller transfers or raise limits\.sessionMemory/,
  );
  const b = admission.admit("b");
  assertThrows(() => b.charge(601), BusyError, /memory budget for transfers/);
  b.charge(600);
  assertEquals([a.charged, b.charged, admission.memory], [900, 600, 1500]);
  a.release();
  assertEquals(admission.memory, 600);
  assertEquals(pathCost("abc"), 169);
});

Deno.test("Admission: at a limit, a transfer that brought too little in its last window gives its slot up; steady ones keep theirs", () => {
  let now = 0;
  const admission = new Admission({
    ...DEFAULT_LIMITS,
    maxSessions: 2,
    maxSessionsPerClient: 2,
    progressWindow: 30,
    minProgress: 64 * 1024,
  }, { now: () => now });
  const evicted: string[] = [];
  const trickle = admission.admit("10.0.0.1", () => evicted.push("trickle"));
  const steady = admission.admit("10.0.0.2", () => evicted.push("steady"));
  // Young transfers are never judged: the third waits its turn.
  now = 10_000;
  assertThrows(() => admission.admit("10.0.0.3", () => {}), BusyError);
  assertEquals(evicted, []);
  // A minute on: the trickle sent a message every 20 s (3 KiB), the
  // steady one 10 KiB/s (a slow link, limited).
  for (let t = 10_000; t <= 70_000; t += 1_000) {
    now = t;
    steady.progress(10 * 1024);
    if (t % 20_000 === 0) trickle.progress(1024);
  }
  const third = admission.admit("10.0.0.3", () => evicted.push("third"));
  assertEquals(evicted, ["trickle"]);
  assertEquals(admission.sessions, 2);
  // Releasing the evicted one again changes nothing.
  trickle.release();
  assertEquals(admission.sessions, 2);
  // Nobody slow left: the next is refused as before.
  assertThrows(() => admission.admit("10.0.0.4", () => {}), BusyError);
  third.release();
  steady.release();
  assertEquals(admission.sessions, 0);
});
