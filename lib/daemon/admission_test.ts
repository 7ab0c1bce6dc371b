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
