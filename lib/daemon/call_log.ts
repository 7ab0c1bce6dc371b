// The daemon's log: one line per client call (who, which module, what,
// which path, how much, how long, and how it ended, refusals included),
// on stderr or appended to a file, as key=value text or JSON lines.
// Refusals of one cause from one address are summarised, not repeated.
// No secret ever reaches it: calls are logged from what the daemon
// decided, never from what a client sent in its metadata.
import { escapeControls } from "../ui/escape.ts";

/** How a call ended. */
export type CallOutcome = "ok" | "refused" | "error";

/** One client call, as the log tells it. */
export interface CallLine {
  /** The client's address and port. */
  client: string;
  /** push, pull, list, purge, modules, perf, upload, connect. */
  op: string;
  module?: string;
  /** Relative to the module ("" its root). */
  path?: string;
  files?: number;
  bytes?: number;
  /** What a mirror (or purge) deleted, directories included. */
  deleted?: number;
  durationMs?: number;
  outcome: CallOutcome;
  /**
   * Why, for a refusal or an error: `wrong secret`, `no secret`, `locked
   * out`, `not allowed`, `read-only`, `busy`, or the error's text.
   */
  reason?: string;
}

/** Where and how {@linkcode CallLog} writes. */
export interface CallLogOptions {
  /** Writes one finished line (default: stderr). */
  write?: (line: string) => void;
  /** `text` (default) or `json`. */
  format?: "text" | "json";
  /** The clock (tests pass their own). */
  now?: () => number;
  /** Refusals of one cause from one address within this many ms are summarised. Default: 60 s. */
  windowMs?: number;
}

/** Distinct repeat keys remembered at once (the oldest are summarised first). */
const MAX_KEYS = 10_000;

/**
 * The call log. `record` writes a line for each finished call, except
 * that a refusal or error repeating one already logged for the same
 * address, op and cause within the window is only counted; the count
 * comes out as one `repeated` line when the window ends (`flush`, called
 * by the daemon every few seconds and at stop).
 *
 * @example
 * ```ts
 * import { CallLog } from "./call_log.ts";
 * const lines: string[] = [];
 * let t = Date.parse("2026-12-03T10:00:00Z");
 * const log = new CallLog({ write: (l) => lines.push(l), now: () => t });
 * log.record({ client: "10.0.0.5:40000", op: "push", module: "m", path: "a b", files: 2, bytes: 10, durationMs: 7, outcome: "ok" });
 * if (lines[0] !== 'blit-daemon: 2026-12-03T10:00:00.000Z client=10.0.0.5:40000 op=push module=m path="a b" files=2 bytes=10 ms=7 outcome=ok') throw new Error(lines[0]);
 * for (let i = 0; i < 3; i++) log.record({ client: "10.0.0.6:1", op: "list", module: "m", outcome: "refused", reason: "wrong secret" });
 * t += 61_000;
 * log.flush();
 * if (lines.length !== 3 || !lines[2].includes("repeated=2")) throw new Error(lines.join("\n"));
 * ```
 */
export class CallLog {
  readonly #write: (line: string) => void;
  readonly #json: boolean;
  readonly #now: () => number;
  readonly #windowMs: number;
  /** Repeat key -> the window's first line and how many more came. */
  readonly #repeats = new Map<
    string,
    { first: number; line: CallLine; more: number }
  >();

  constructor(options: CallLogOptions = {}) {
    this.#write = options.write ??
      ((line) => {
        try {
          console.error(line);
        } catch {
          // stderr gone: nothing to log to
        }
      });
    this.#json = options.format === "json";
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? 60_000;
  }

  /** Logs a finished call (or counts it as a repeat). */
  record(line: CallLine): void {
    const now = this.#now();
    if (line.outcome !== "ok") {
      const key = `${hostOf(line.client)}\0${line.op}\0${line.module ?? ""}\0${
        line.reason ?? ""
      }`;
      const seen = this.#repeats.get(key);
      if (seen && now - seen.first < this.#windowMs) {
        seen.more++;
        return;
      }
      if (seen) this.#summarise(key, seen);
      this.#repeats.set(key, { first: now, line, more: 0 });
      if (this.#repeats.size > MAX_KEYS) {
        const [oldKey, oldest] = this.#repeats.entries().next().value!;
        this.#summarise(oldKey, oldest);
      }
    }
    this.#write(this.#format(line, now));
  }

  /** Writes the summaries of windows that have ended (all of them: `all`). */
  flush(all = false): void {
    const now = this.#now();
    for (const [key, seen] of this.#repeats) {
      if (all || now - seen.first >= this.#windowMs) this.#summarise(key, seen);
    }
  }

  #summarise(
    key: string,
    seen: { first: number; line: CallLine; more: number },
  ): void {
    this.#repeats.delete(key);
    if (seen.more === 0) return;
    const { line } = seen;
    const base = {
      client: hostOf(line.client),
      op: line.op,
      module: line.module,
      outcome: line.outcome,
      reason: line.reason,
    };
    const seconds = Math.max(1, Math.round((this.#now() - seen.first) / 1000));
    this.#write(
      this.#format(base, this.#now(), { repeated: seen.more, seconds }),
    );
  }

  #format(
    line: CallLine,
    now: number,
    repeat?: { repeated: number; seconds: number },
  ): string {
    const time = new Date(now).toISOString();
    if (this.#json) {
      return JSON.stringify({
        time,
        client: line.client,
        op: line.op,
        module: line.module ?? null,
        path: line.path ?? null,
        files: line.files ?? null,
        bytes: line.bytes ?? null,
        ...(line.deleted ? { deleted: line.deleted } : {}),
        duration_ms: line.durationMs === undefined
          ? null
          : Math.round(line.durationMs),
        outcome: line.outcome,
        ...(line.reason !== undefined ? { reason: line.reason } : {}),
        ...(repeat
          ? { repeated: repeat.repeated, within_s: repeat.seconds }
          : {}),
      });
    }
    const parts = [
      `blit-daemon: ${time}`,
      `client=${line.client}`,
      `op=${line.op}`,
    ];
    if (line.module !== undefined) parts.push(`module=${value(line.module)}`);
    if (line.path !== undefined) parts.push(`path=${value(line.path)}`);
    if (line.files !== undefined) parts.push(`files=${line.files}`);
    if (line.bytes !== undefined) parts.push(`bytes=${line.bytes}`);
    if (line.deleted) parts.push(`deleted=${line.deleted}`);
    if (line.durationMs !== undefined) {
      parts.push(`ms=${Math.round(line.durationMs)}`);
    }
    parts.push(`outcome=${line.outcome}`);
    if (line.reason !== undefined) parts.push(`reason=${value(line.reason)}`);
    if (repeat) {
      parts.push(`repeated=${repeat.repeated}`, `within=${repeat.seconds}s`);
    }
    return parts.join(" ");
  }
}

/** A value as it goes in a text line: quoted when it has spaces or quotes. */
function value(text: string): string {
  const safe = escapeControls(text);
  return /^[^\s"=]+$/.test(safe) ? safe : `"${safe.replaceAll('"', '\\"')}"`;
}

/** The address of `client` without its port (`[v6]:p` and `v4:p`). */
function hostOf(client: string): string {
  const bracket = client.match(/^\[([^\]]+)\]:\d+$/);
  if (bracket) return bracket[1];
  const colon = client.lastIndexOf(":");
  return colon > 0 && client.indexOf(":") === colon
    ? client.slice(0, colon)
    : client;
}

/**
 * A log that appends to `path` (made if missing, mode 0640), one write
 * per line; undefined `path`: stderr.
 *
 * Permissions: write on `path`.
 */
export function openCallLog(
  path: string | null | undefined,
  format: "text" | "json" = "text",
): CallLog {
  if (!path) return new CallLog({ format });
  const file = Deno.openSync(path, {
    append: true,
    create: true,
    mode: 0o640,
  });
  const encoder = new TextEncoder();
  return new CallLog({
    format,
    write: (line) => {
      try {
        file.writeSync(encoder.encode(line + "\n"));
      } catch {
        // a full disk never stops the daemon serving
      }
    },
  });
}

interface OpenCall {
  op: string;
  client: string;
  start: number;
  module?: string;
  path?: string;
  files?: number;
  bytes?: number;
  deleted?: number;
  outcome?: CallOutcome;
  reason?: string;
}

/**
 * The calls in progress, each logged once when it ends: handlers `note`
 * what they learn (module, path, counts), a failure says how it ended
 * (`fail`), and `end` writes the line.
 */
export class CallTracker {
  readonly log: CallLog;
  readonly #open = new WeakMap<object, OpenCall>();

  constructor(log: CallLog) {
    this.log = log;
  }

  /** A call began. */
  begin(call: object, op: string, client: string): void {
    this.#open.set(call, { op, client, start: performance.now() });
  }

  /** What the call is about, as the handler learns it. */
  note(
    call: object,
    fields: {
      module?: string;
      path?: string;
      files?: number;
      bytes?: number;
      deleted?: number;
    },
  ): void {
    const open = this.#open.get(call);
    if (open) Object.assign(open, fields);
  }

  /**
   * The call failed with `status`; `cause` names a refusal the status
   * alone does not tell (a wrong secret and an address not allowed both
   * answer "access denied").
   */
  fail(
    call: object,
    status: { code: number; details?: string },
    cause?: string,
  ) {
    const open = this.#open.get(call);
    if (!open || open.outcome !== undefined) return;
    const told = outcomeOf(status.code, status.details ?? "", cause);
    open.outcome = told.outcome;
    open.reason = told.reason;
  }

  /** The call ended: its line is written (once). */
  end(call: object): void {
    const open = this.#open.get(call);
    if (!open) return;
    this.#open.delete(call);
    this.log.record({
      client: open.client,
      op: open.op,
      module: open.module,
      path: open.path,
      files: open.files,
      bytes: open.bytes,
      deleted: open.deleted,
      durationMs: performance.now() - open.start,
      outcome: open.outcome ?? "ok",
      reason: open.reason,
    });
  }
}

// gRPC status codes (as numbers: this module needs no gRPC import).
const CANCELLED = 1;
const NOT_FOUND = 5;
const PERMISSION_DENIED = 7;
const RESOURCE_EXHAUSTED = 8;
const UNAUTHENTICATED = 16;

/**
 * How a call that ended with gRPC `code` reads in the log.
 *
 * @example
 * ```ts
 * import { outcomeOf } from "./call_log.ts";
 * const o = outcomeOf(7, 'Module "m" is read-only');
 * if (o.outcome !== "refused" || o.reason !== "read-only") throw new Error("example failed");
 * ```
 */
export function outcomeOf(
  code: number,
  details: string,
  cause?: string,
): { outcome: CallOutcome; reason?: string } {
  if (code === 0) return { outcome: "ok" };
  if (cause) return { outcome: "refused", reason: cause };
  switch (code) {
    case UNAUTHENTICATED:
      return { outcome: "refused", reason: "no secret" };
    case PERMISSION_DENIED:
      return {
        outcome: "refused",
        reason: /read-only/.test(details) ? "read-only" : "not allowed",
      };
    case RESOURCE_EXHAUSTED:
      return {
        outcome: "refused",
        reason: /wrong secrets/.test(details)
          ? "locked out (wrong secrets)"
          : `busy: ${details}`,
      };
    case CANCELLED:
      return { outcome: "error", reason: "cancelled by the client" };
    case NOT_FOUND:
      return { outcome: "error", reason: details || "not found" };
    default:
      return { outcome: "error", reason: details || `status ${code}` };
  }
}
