// A progress bar on stderr: the transfer bumps counters, a timer redraws.
import { formatBytes } from "./format.ts";
import { every, type Timer } from "../timer.ts";

/** What transfers report progress to. */
export interface ProgressSink {
  /** The totals named so far (they grow while the need list does). */
  total(files: number, bytes: number): void;
  /** One more file done (on this side). */
  file(): void;
  /** `n` more content bytes moved. */
  bytes(n: number): void;
  /** Entries walked (push) or received (pull) so far, while scanning. */
  scan?(entries: number): void;
  /** The need list is complete: the totals are final. */
  planned?(): void;
  /** How the bytes go. */
  route?(transport: string, streams: number): void;
  /** One more symlink made (links count as files, as in the summary). */
  link?(): void;
  /**
   * What the receiving peer reports having committed: regular files and
   * links (a push's daemon, on the control stream).
   */
  peer?(files: number, links: number): void;
}

/** Options for {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Where the bar goes. Default: stderr. */
  write?: (text: string) => void;
  /** Redraw period, at least 100 ms (10 a second). Default: 200 ms. */
  intervalMs?: number;
  /** Clock in ms. Default: performance.now. */
  now?: () => number;
  /** Bar width in characters. Default: 24. */
  width?: number;
  /** Seconds without any progress before `onStall`. Default: 10. */
  stallSeconds?: number;
  /** Told once per stall (no bytes, files or entries for `stallSeconds`). */
  onStall?: (seconds: number) => void;
}

function stderrWriter(): (text: string) => void {
  const encoder = new TextEncoder();
  return (text) => {
    try {
      Deno.stderr.writeSync(encoder.encode(text));
    } catch {
      // stderr went away; progress is best effort
    }
  };
}

/** Seconds as `m:ss` or `h:mm:ss`. */
function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The rate is measured over about this long. */
const RATE_WINDOW_MS = 5000;

/**
 * A one-line progress bar: a phase label while the trees are compared
 * (`scanning 12,345 entries...`), then done/total files (links counted,
 * as in the summary) and bytes, the rate over the last seconds, the time
 * left, and how the bytes go. Counters are bumped by the transfer;
 * drawing happens on a timer, at most 10 times a second (and in
 * {@linkcode ProgressBar.render} for tests). `stop()` clears the line,
 * so what follows starts on a clean one.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * let t = 0;
 * const bar = new ProgressBar({ write: () => {}, now: () => t });
 * bar.total(2, 2048);
 * bar.planned();
 * t = 1000;
 * bar.file();
 * bar.bytes(1024);
 * const line = bar.render();
 * if (!(line.includes("1/2 files") && line.includes("ETA 0:01"))) throw new Error(line);
 * ```
 */
export class ProgressBar implements ProgressSink {
  #files = 0;
  #peerFiles = 0;
  #links = 0;
  #bytes = 0;
  #totalFiles = 0;
  #totalBytes = 0;
  #scanned = 0;
  #planned = false;
  #route = "";
  readonly #write: (text: string) => void;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #width: number;
  readonly #stallMs: number;
  readonly #onStall: ((seconds: number) => void) | undefined;
  /** (time, bytes) samples for the rate, oldest first. */
  readonly #samples: [number, number][] = [];
  #lastChange: number;
  #lastKey = "";
  #stalled = false;
  #timer: Timer | undefined;
  #drawn = false;

  constructor(options: ProgressBarOptions = {}) {
    this.#write = options.write ?? stderrWriter();
    this.#interval = Math.max(100, options.intervalMs ?? 200);
    this.#now = options.now ?? (() => performance.now());
    this.#width = options.width ?? 24;
    if (!Number.isInteger(this.#width) || this.#width < 4) {
      throw new RangeError(`width must be an integer >= 4, got ${this.#width}`);
    }
    this.#stallMs = (options.stallSeconds ?? 10) * 1000;
    this.#onStall = options.onStall;
    this.#lastChange = this.#now();
    this.#samples.push([this.#lastChange, 0]);
  }

  total(files: number, bytes: number): void {
    this.#totalFiles = files;
    this.#totalBytes = bytes;
  }

  file(): void {
    this.#files++;
  }

  bytes(n: number): void {
    this.#bytes += n;
  }

  scan(entries: number): void {
    this.#scanned = entries;
  }

  planned(): void {
    this.#planned = true;
  }

  route(transport: string, streams: number): void {
    this.#route = `${transport}${streams > 1 ? ` x${streams}` : ""}`;
  }

  link(): void {
    this.#links++;
  }

  peer(files: number, links: number): void {
    this.#peerFiles = files;
    this.#links = links;
  }

  /** The bytes per second over the last few seconds. */
  #rate(now: number): number {
    const samples = this.#samples;
    if (samples.at(-1)![0] < now) samples.push([now, this.#bytes]);
    while (samples.length > 2 && now - samples[1][0] >= RATE_WINDOW_MS) {
      samples.shift();
    }
    const [t0, b0] = samples[0];
    return now > t0 ? ((this.#bytes - b0) / (now - t0)) * 1000 : 0;
  }

  /** The current line (without the leading carriage return). */
  render(): string {
    const now = this.#now();
    const rate = this.#rate(now);
    const files = Math.max(this.#files, this.#peerFiles) + this.#links;
    const totalFiles = this.#totalFiles + this.#links;
    if (totalFiles === 0 && this.#totalBytes === 0 && !this.#planned) {
      if (files === 0 && this.#bytes === 0 && this.#route !== "local") {
        return `scanning ${this.#scanned.toLocaleString("en")} entries...`;
      }
      // Totals unknown (a local copy): what has moved, and how fast.
      return [
        `${files.toLocaleString("en")} files`,
        formatBytes(this.#bytes),
        `${formatBytes(rate)}/s`,
        ...(this.#route ? [this.#route] : []),
      ].join(" ");
    }
    const fraction = this.#totalBytes > 0
      ? Math.min(1, this.#bytes / this.#totalBytes)
      : totalFiles > 0
      ? Math.min(1, files / totalFiles)
      : 1;
    const filled = Math.round(fraction * this.#width);
    const left = this.#totalBytes - this.#bytes;
    const eta = !this.#planned
      ? "ETA --"
      : left <= 0
      ? "ETA 0:00"
      : rate > 0
      ? `ETA ${clock(left / rate)}`
      : "ETA --";
    const parts = [
      `[${"#".repeat(filled)}${"-".repeat(this.#width - filled)}]`,
      `${Math.floor(fraction * 100).toString().padStart(3)}%`,
      `${files.toLocaleString("en")}/${totalFiles.toLocaleString("en")} files`,
      `${formatBytes(this.#bytes)}/${formatBytes(this.#totalBytes)}`,
      `${formatBytes(rate)}/s`,
      eta,
    ];
    if (this.#route) parts.push(this.#route);
    if (!this.#planned) {
      parts.push(`(scanning ${this.#scanned.toLocaleString("en")}...)`);
    }
    return parts.join(" ");
  }

  /**
   * Draws the first frame and redraws on the timer (a transfer that ends
   * before the first tick still showed its bar).
   */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = every(this.#interval, () => this.#tick());
    this.#tick();
  }

  #tick(): void {
    const now = this.#now();
    const key =
      `${this.#bytes}:${this.#files}:${this.#peerFiles}:${this.#links}:${this.#scanned}`;
    if (key !== this.#lastKey) {
      this.#lastKey = key;
      this.#lastChange = now;
      this.#stalled = false;
    } else if (!this.#stalled && now - this.#lastChange >= this.#stallMs) {
      this.#stalled = true;
      this.#onStall?.(Math.round((now - this.#lastChange) / 1000));
    }
    this.#write(`\r${this.render()}\x1b[K`);
    this.#drawn = true;
  }

  /** Stops the timer and clears the line. */
  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#drawn) this.#write("\r\x1b[K");
    this.#drawn = false;
  }
}
