// A progress bar on stderr: the data loop bumps counters, a timer redraws.
import { formatBytes } from "./format.ts";

/** What transfers report progress to. */
export interface ProgressSink {
  /** The totals, once known. */
  total(files: number, bytes: number): void;
  /** One more file (or link) done. */
  file(): void;
  /** `n` more content bytes moved. */
  bytes(n: number): void;
}

/** Options for {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Where the bar goes. Default: stderr. */
  write?: (text: string) => void;
  /** Redraw period. Default: 200 ms. */
  intervalMs?: number;
  /** Clock in ms. Default: performance.now. */
  now?: () => number;
  /** Bar width in characters. Default: 24. */
  width?: number;
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

/**
 * A one-line progress bar. Counters are bumped by the transfer; drawing
 * happens on a timer (and in {@linkcode ProgressBar.render} for tests).
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * let out = "";
 * const bar = new ProgressBar({ write: (t) => out += t, now: () => 1000 });
 * bar.total(2, 2048);
 * bar.file();
 * bar.bytes(1024);
 * if (!(bar.render().includes("1/2 files"))) throw new Error("example failed");
 * ```
 */
export class ProgressBar implements ProgressSink {
  #files = 0;
  #bytes = 0;
  #totalFiles = 0;
  #totalBytes = 0;
  readonly #write: (text: string) => void;
  readonly #interval: number;
  readonly #now: () => number;
  readonly #width: number;
  readonly #started: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #drawn = false;

  constructor(options: ProgressBarOptions = {}) {
    this.#write = options.write ?? stderrWriter();
    this.#interval = options.intervalMs ?? 200;
    this.#now = options.now ?? (() => performance.now());
    this.#width = options.width ?? 24;
    if (!Number.isInteger(this.#width) || this.#width < 4) {
      throw new RangeError(`width must be an integer >= 4, got ${this.#width}`);
    }
    this.#started = this.#now();
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

  /** The current line (without the leading carriage return). */
  render(): string {
    const fraction = this.#totalBytes > 0
      ? Math.min(1, this.#bytes / this.#totalBytes)
      : this.#totalFiles > 0
      ? Math.min(1, this.#files / this.#totalFiles)
      : 0;
    const filled = Math.round(fraction * this.#width);
    const seconds = Math.max(0.001, (this.#now() - this.#started) / 1000);
    const files = this.#totalFiles > 0
      ? `${this.#files}/${this.#totalFiles} files`
      : `${this.#files} files`;
    const bytes = this.#totalBytes > 0
      ? `${formatBytes(this.#bytes)}/${formatBytes(this.#totalBytes)}`
      : formatBytes(this.#bytes);
    return `[${"#".repeat(filled)}${"-".repeat(this.#width - filled)}] ${
      Math.floor(fraction * 100).toString().padStart(3)
    }% ${files} ${bytes} ${formatBytes(this.#bytes / seconds)}/s`;
  }

  /** Starts redrawing on the timer. */
  start(): void {
    this.#timer ??= setInterval(() => this.#draw(), this.#interval);
  }

  #draw(): void {
    this.#write(`\r${this.render()}\x1b[K`);
    this.#drawn = true;
  }

  /** Stops the timer and clears the line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#drawn) this.#write("\r\x1b[K");
  }
}
