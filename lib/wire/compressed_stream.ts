// Compression of a data connection: the sender's frames, whatever files
// they hold, leave in blocks (one per write of up to a buffer, so small
// files compress together), each zstd-compressed or sent as is. In
// `auto` mode each block is compressed only while that makes the stream
// faster: the link is slower than the compressor and the data compresses.
// The receiver follows the marker byte; a stream without it is plain.
import { giveBuffer, takeBuffer } from "./buffer_pool.ts";
import { loadZstd } from "./zstd.ts";
import { ioTurn } from "../timer.ts";
import { FrameProtocolError } from "./frame_codec.ts";
import type { FrameWriter } from "./frame_io.ts";

/** First byte of a compressed stream (never a frame type). */
export const STREAM_BLOCKS = 0x5a;
/** Block type: the payload is the bytes as they are. */
const BLOCK_RAW = 0;
/** Block type: the payload is one zstd frame of `raw` bytes. */
const BLOCK_ZSTD = 1;
/** Block header: type, payload length, raw length. */
const BLOCK_HEADER = 1 + 4 + 4;
/** Most bytes one block holds (raw or decompressed): a bound before allocation. */
export const MAX_BLOCK_BYTES = 8 << 20;

/** How a sender compresses: always (`on`) or when it pays (`auto`). */
export interface CompressOptions {
  /** `on`: every block that shrinks; `auto`: only while it pays. */
  mode: "on" | "auto";
  /**
   * zstd level (1-19). Default: by the link's speed (1; 3 or 6 on links
   * slow enough that the compressor keeps up at those levels).
   */
  level?: number;
  /**
   * The link's rate in bytes/s when the route's history knows it (`auto`):
   * until the stream measures the link itself, a link faster than the
   * compressor starts with compression off.
   */
  linkBytesPerS?: number;
  /**
   * The clock writes are timed with, in ms (`performance.now` unless
   * given: a test's link keeps its own time).
   */
  now?: () => number;
}

/** Blocks smaller than this are never compressed. */
const MIN_COMPRESS_BYTES = 1024;
/**
 * Blocks up to this size are compressed on the writer's own thread
 * (~0.1-0.5 ms): a block compressed on another thread is ready only when
 * the event loop runs, and a sender matching small deltas runs it seldom
 * (blocks sat there up to ~20 ms while the receiver idled). Bigger ones,
 * a bulk stream's, compress on the runtime's threads, two at once.
 */
const SYNC_COMPRESS_MAX = 256 << 10;
/**
 * Blocks up to this size (raw) are unpacked on the reader's own thread
 * (~10-60 us): on the runtime's threads each costs a hand-off and an
 * event-loop turn, more than unpacking it. A receiving daemon took ~40 us
 * a block that way for a tree's small deltas (hundreds of blocks of a few
 * KiB each).
 */
const SYNC_DECOMPRESS_MAX = 64 << 10;
/** Blocks taken and not yet sent, at most (two compressing at once). */
const IN_WORKS = 2;
/**
 * zstd's throughput, raw bytes/ms, taken low: ~180-290 MB/s a core at
 * levels 3-1 on the slowest machines here, two blocks at once. Not
 * measured: timed from this thread, a block's compression includes the
 * wait until this thread, busy with the source, sees it done (that made
 * it ~80 MB/s under load at 1 Gbit/s, and turned compression off).
 */
const COMPRESSOR_SPEED = 200e3;
/**
 * The slower levels, the slowest first, each with its compressor's speed
 * taken low (raw bytes/ms, one core; level 3's well under what it does,
 * since the link's rate is measured low, by up to half). On Python's
 * library in 1 MiB blocks here level 3 took 1.14x level 1's time for 6%
 * fewer bytes, level 6 2.8x level 3's for 8% fewer again (10.8, 10.1 and
 * 9.3 MiB of 37.8); over 100 Mbit/s that tree went in 1.05, 0.99 and
 * 0.94 s. At 1 Gbit/s level 1 keeps it.
 */
const SLOW_LEVELS = [[6, 70e3], [3, 120e3]] as const;
/**
 * Raw bytes a transfer takes (all its connections: a tree's push spreads
 * 10,000 small files over four, ~2.6 MB each) before the route's history
 * alone (with no measure of its own) may choose a slower level: a
 * transfer that sends less is not held up by the link (the stdlib tree
 * with 10% of its files edited sends ~0.3 MB raw: 20 ms at 100 Mbit/s of
 * a 200 ms push), and a slower level's cost per block would be all it got
 * (level 6 took 5x level 1's time on a 64 KiB block here, for 11% fewer
 * bytes: that tree pushed in 0.26 s at level 6, 0.20 s at level 1).
 */
const HISTORY_LEVEL_MIN_RAW = 4 << 20;
/** A link this many times the compressor's speed turns compression off. */
const FASTER = 1.5;
/**
 * A raw stream slower than this share of a link known from the route's
 * history (and not seen held up by it) is not compressed: the link takes
 * it as it comes, so compressing it would only cost the sender's and the
 * receiver's CPU. Measured between two namespaces of a 2-core VM over
 * 1 Gbit/s (a link of ~110 MB/s): 10,000 ~1 KiB files make ~10-15 MB/s of
 * raw frames, and went 35-120 ms faster uncompressed (pushed and pulled,
 * 21 pairs each), as `rsync -a` beats `rsync -az` there; Python's library
 * makes ~95-155 MB/s, and compressed it went ~115 ms faster. Over 100
 * Mbit/s (~11 MB/s) both stay compressed.
 */
const OUTRUN = 0.5;
/** Raw bytes a transfer takes before its rate says anything (see OUTRUN). */
const PRODUCED_MIN_BYTES = 1 << 20;
/**
 * How much more than a link the history knows a compressed stream must
 * make before that link's rate sets the level (see `#historyRate`).
 */
const FILLS = 1.25;
/** A held write that took less than this found room: not a measure. */
const HELD_MIN_MS = 1;
/** Smaller writes are not timed for the level (see LinkMeter). */
const MEASURED_MIN_BYTES = 64 << 10;
/** A link's rate is forgotten after this long (ms) with no write held up. */
const LINK_STALE_MS = 500;
/**
 * Blocks move only when the event loop runs: a writer that goes on
 * without a real wait (a delta's matching and framing) gets a turn this
 * often (ms) while blocks wait to go (a tree's small deltas sat ~35 ms on
 * the client without it).
 */
const TURN_MS = 8;
/** The least a pooled buffer holds: a 1 MiB block and zstd's margin. */
const POOLED_MIN = (1 << 20) + (64 << 10);

/**
 * `buffer` when it holds `size` bytes, else one from the process's kept
 * buffers (POOLED_MIN at least; `buffer` given back for another).
 */
function pooledRoom(buffer: Uint8Array | undefined, size: number): Uint8Array {
  if (buffer && buffer.length >= size) return buffer;
  if (buffer) giveBuffer(buffer);
  return takeBuffer(Math.max(size, POOLED_MIN));
}

/**
 * Buffers a stream reuses block after block. A new buffer costs fresh
 * pages: ~3 ms a MiB in a young process on the VMs measured here (a
 * compressed push of 38 MB spent 174 ms of its main thread copying
 * blocks into new buffers, ~2% of that into reused ones).
 */
class BufferPool {
  readonly #free: Uint8Array[] = [];
  readonly #keep: number;

  /** A pool keeping at most `keep` free buffers. */
  constructor(keep: number) {
    this.#keep = keep;
  }

  /** A buffer of at least `size` bytes (contents undefined). */
  take(size: number): Uint8Array {
    const i = this.#free.findIndex((b) => b.length >= size);
    return i >= 0
      ? this.#free.splice(i, 1)[0]
      : takeBuffer(Math.max(size, POOLED_MIN));
  }

  /** `buffer` is free again (nothing holds a view of it). */
  give(buffer: Uint8Array): void {
    if (this.#free.length < this.#keep) this.#free.push(buffer);
  }

  /** Gives the free buffers to the process's kept ones (the stream is done). */
  release(): void {
    for (const buffer of this.#free.splice(0)) giveBuffer(buffer);
  }
}

/** What a compressing writer did (for the summary and the history). */
export interface CompressStats {
  /** Bytes given to it. */
  raw: number;
  /** Bytes it put on the connection. */
  wire: number;
  /** Blocks sent compressed. */
  compressed: number;
  /** The zstd level of the last block compressed (0: none yet). */
  level: number;
}

const decompress = async (
  bytes: Uint8Array,
  size: number,
  into: Uint8Array,
) => {
  const z = await loadZstd();
  return size <= SYNC_DECOMPRESS_MAX
    ? z.decompressSync(bytes, size, into)
    : await z.decompress(bytes, size, into);
};

/**
 * Smoothed rate, bytes per ms, known after `least` bytes; spans that
 * overlap (writes on several connections at once) count their common
 * time once.
 */
export class Rate {
  #bytes = 0;
  #ms = 0;
  #until = -Infinity;
  readonly #least: number;
  /** A rate known once `least` bytes were added. */
  constructor(least: number) {
    this.#least = least;
  }
  /** `bytes` moved from `t0` to `t1` (ms). */
  span(bytes: number, t0: number, t1: number): void {
    const ms = t1 - Math.max(t0, Math.min(this.#until, t1));
    this.#until = Math.max(this.#until, t1);
    // A window of the last ~16 MiB: old measurements fade.
    const keep = this.#bytes > 16 << 20 ? 0.5 : 1;
    this.#bytes = this.#bytes * keep + bytes;
    this.#ms = this.#ms * keep + ms;
  }
  /** When the last span ended (ms). */
  get until(): number {
    return this.#until;
  }
  get known(): boolean {
    return this.#bytes >= this.#least;
  }
  get perMs(): number {
    return this.#bytes / Math.max(this.#ms, 1e-3);
  }
}

/**
 * The rate of the link a transfer's connections share, wire bytes/ms,
 * from writes it held up: a write into a socket with room takes no time
 * whatever the link, so only writes that waited a millisecond or more
 * measure it, over the time some write of the transfer waited (a tree's
 * push has several connections, which take turns on the link). Two
 * measures:
 * - `all`: every such write of a block of 64 KiB or more (a few bytes
 *   that waited for the event loop say nothing). It sets the level,
 *   while writes keep waiting: a link that held none up for half a
 *   second may be faster now (a receiver that was busy) while the
 *   compressor, at the level chosen for a slow link, is what limits the
 *   stream, and then nothing would measure it again.
 * - `raw`: such writes of uncompressed blocks that were ready while the
 *   one ahead was on their connection (held): what the link takes when
 *   nothing is compressed, for whether to compress at all.
 *
 * @example
 * ```ts
 * import { LinkMeter } from "@blit/cli/internals";
 * const link = new LinkMeter();
 * link.wrote(1 << 20, false, true, 0, 100);
 * link.wrote(1 << 20, false, true, 50, 150); // on another connection
 * link.wrote(1 << 20, false, true, 150, 150); // found room: not a measure
 * if (link.rateAt(150) !== (2 << 20) / 150) throw new Error("example failed");
 * if (link.rateAt(700) !== undefined) throw new Error("example failed");
 * ```
 */
export class LinkMeter {
  /** Waiting writes of 64 KiB or more. */
  readonly all: Rate = new Rate(1 << 20);
  /** Waiting held writes of uncompressed blocks. */
  readonly raw: Rate = new Rate(4 << 20);

  /**
   * A write of `bytes` from `t0` to `t1` (ms); `raw`: an uncompressed
   * block; `held`: its block was ready while the one ahead was on its
   * connection.
   */
  wrote(bytes: number, raw: boolean, held: boolean, t0: number, t1: number) {
    if (t1 - t0 < HELD_MIN_MS) return;
    if (bytes >= MEASURED_MIN_BYTES) this.all.span(bytes, t0, t1);
    if (raw && held) this.raw.span(bytes, t0, t1);
  }

  /** Raw bytes the transfer's writers took, all connections together. */
  taken = 0;
  /** When the first of them were taken (ms), or undefined. */
  #firstAt: number | undefined;
  /**
   * Whether the transfer sent a delta: its stream is then made as fast as
   * the matching goes, and its literal bytes are what compressing saves
   * (see OUTRUN: not applied to it).
   */
  deltas = false;
  /**
   * Whether the transfer is paced to a bandwidth limit: it is made at the
   * limit's rate, and compressing it only saves bytes, never time (see
   * OUTRUN: not applied to it).
   */
  paced = false;

  /** The transfer's writers took `bytes` raw bytes at `now` (ms). */
  took(bytes: number, now: number): void {
    this.#firstAt ??= now;
    this.taken += bytes;
  }

  /**
   * Raw bytes a ms the transfer's writers have taken since their first
   * (what its source and receiver let it make, whatever the link), once
   * {@linkcode PRODUCED_MIN_BYTES} were taken; else undefined.
   */
  producedAt(now: number): number | undefined {
    if (this.#firstAt === undefined || this.taken < PRODUCED_MIN_BYTES) {
      return undefined;
    }
    return this.taken / Math.max(now - this.#firstAt, 1);
  }

  /** `all`'s rate at `now` (ms), while writes still wait (see above). */
  rateAt(now: number): number | undefined {
    return this.all.known && now - this.all.until <= LINK_STALE_MS
      ? this.all.perMs
      : undefined;
  }
}

/**
 * Writers made with one options object share one meter: a transfer makes
 * its options once for all its connections, which share its link.
 */
const meters = new WeakMap<CompressOptions, LinkMeter>();

function meterOf(options: CompressOptions): LinkMeter {
  let meter = meters.get(options);
  if (!meter) meters.set(options, meter = new LinkMeter());
  return meter;
}

/**
 * A {@linkcode FrameWriter} compressing what a `FrameSink` writes onto
 * `conn`: the marker, then blocks. Compression runs on the runtime's
 * worker threads (never this thread), two blocks at once while the one
 * before them is on its way.
 *
 * @example
 * ```ts
 * import { CompressingWriter, decompressingReader } from "@blit/cli/internals";
 * const parts: Uint8Array[] = [];
 * const sink = { write: async (b: Uint8Array) => { parts.push(b.slice()); return b.length; }, closeWrite: async () => {} };
 * const writer = new CompressingWriter(sink, { mode: "on" });
 * const text = new TextEncoder().encode("abc".repeat(10_000));
 * await writer.write(text);
 * await writer.closeWrite();
 * const wire = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
 * parts.reduce((at, p) => (wire.set(p, at), at + p.length), 0);
 * let given = false;
 * const reader = decompressingReader({ read: async (p) => given ? null : (given = true, p.set(wire), wire.length) });
 * const out = new Uint8Array(40_000);
 * let n = 0;
 * for (let r; (r = await reader.read(out.subarray(n))) !== null;) n += r;
 * if (n !== text.length || writer.stats.wire >= 1000) throw new Error("example failed");
 * ```
 */
export class CompressingWriter implements FrameWriter {
  readonly #conn: FrameWriter;
  readonly #options: CompressOptions;
  /** What it did so far. */
  readonly stats: CompressStats = {
    raw: 0,
    wire: 0,
    compressed: 0,
    level: 0,
  };
  #started = false;
  /** The last block's send (each waits for the one before it). */
  #sending: Promise<void> = Promise.resolve();
  /** Blocks taken and not yet sent, oldest first (at most `IN_WORKS`). */
  readonly #works: Promise<void>[] = [];
  /** Whether a block is being put on the connection now. */
  #onConnection = false;
  /** Blocks taken and not yet all on the connection. */
  #unsent = 0;
  /** When this writer last let the event loop run (see TURN_MS). */
  #turnedAt = performance.now();
  /** The link's rate, shared with the transfer's other connections. */
  readonly #link: LinkMeter;
  /** Compressed / raw, smoothed; unknown at first (assume it pays). */
  #ratio = 0.5;
  #blocks = 0;
  /**
   * Each block's buffers, reused (raw copies and compressed ones): a
   * block holds one once made (two while it compresses), and at most
   * `IN_WORKS` + 1 are in flight, so this many free ones are kept (~4 MiB
   * a connection).
   */
  readonly #pool = new BufferPool(IN_WORKS + 2);

  /** Writes onto `conn` (its own writes are whole: see `writeAll`). */
  constructor(conn: FrameWriter, options: CompressOptions) {
    const level = options.level;
    if (
      level !== undefined &&
      (!Number.isInteger(level) || level < 1 || level > 19)
    ) {
      throw new RangeError(`level must be an integer 1-19, got ${level}`);
    }
    this.#conn = conn;
    this.#options = options;
    this.#link = meterOf(options);
  }

  /**
   * Takes all of `bytes` (copied: the caller may reuse them at once);
   * resolves once at most two blocks are in the works behind the one on
   * the connection (two compress at once, on the runtime's threads).
   */
  async write(bytes: Uint8Array): Promise<number> {
    // The copy goes where its block's header will fit in front of it.
    const buffer = this.#pool.take(BLOCK_HEADER + bytes.length);
    buffer.set(bytes, BLOCK_HEADER);
    this.stats.raw += bytes.length;
    this.#link.took(bytes.length, this.#now());
    const block = this.#block(buffer, bytes.length);
    block.catch(() => {});
    const ahead = this.#sending;
    this.#unsent++;
    const sent = (async () => {
      try {
        const framed = await block;
        // Ready while the block ahead was on the connection: the link,
        // not the compressor, held it up.
        const held = this.#onConnection;
        await ahead;
        await this.#send(framed.block, held);
        this.#pool.give(framed.buffer);
      } finally {
        this.#unsent--;
      }
    })();
    sent.catch(() => {});
    this.#sending = sent;
    this.#works.push(sent);
    while (this.#works.length > IN_WORKS) await this.#works.shift();
    if (this.#unsent > 0 && performance.now() - this.#turnedAt >= TURN_MS) {
      await ioTurn();
      this.#turnedAt = performance.now();
    }
    return bytes.length;
  }

  /** The stream carries a delta (see `LinkMeter.deltas`). */
  sawDelta(): void {
    this.#link.deltas = true;
  }

  /** The stream is paced to a bandwidth limit (see `LinkMeter.paced`). */
  paced(): void {
    this.#link.paced = true;
  }

  /**
   * Blocks taken and not yet all on the connection (they move only when
   * the event loop runs: see TURN_MS).
   */
  get unsent(): number {
    return this.#unsent;
  }

  /** Sends what waits, then half-closes the connection. */
  async closeWrite(): Promise<void> {
    while (this.#works.length > 0) await this.#works.shift();
    if (!this.#started) await this.#put(Uint8Array.of(STREAM_BLOCKS));
    await this.#conn.closeWrite();
    // Every block is on the connection: its buffers serve the next stream.
    this.#pool.release();
  }

  /** Gives up. */
  abort(reason: unknown): void {
    this.#conn.abort?.(reason);
  }

  /**
   * Whether the next block should be compressed: `on`, always; `auto`,
   * while the data shrinks by a tenth or more, unless the link is 1.5
   * times the compressor's speed or more (taken as 200 MB/s). Only a link that holds up uncompressed writes
   * says how fast it is; one that never does is taken as slower, unless
   * the route's history says otherwise. A link that holds up compressed
   * writes limits even the compressed stream: an uncompressed one could
   * only be slower. (A stretch sent uncompressed to find out would cost
   * bytes, and prove nothing on a link whose buffers take it all at once.)
   */
  #worthIt(): boolean {
    if (this.#options.mode === "on") return true;
    if (this.#ratio >= 0.9) return false;
    const measured = this.#link.raw.known;
    const link = measured
      ? this.#link.raw.perMs
      : (this.#options.linkBytesPerS ?? 0) / 1000;
    // Only a clearly faster link: at about the compressor's speed the
    // compressed stream is as fast and a third or less of the bytes.
    if (link > FASTER * COMPRESSOR_SPEED) return false;
    // A link known from the history, not seen holding the stream up, that
    // takes the raw stream twice as fast as the transfer makes it or more:
    // nothing to gain (many small files, a receiver that writes slowly).
    // Should the link hold raw blocks up after all, it is measured, and
    // compression comes back.
    if (!measured && link > 0 && !this.#link.deltas && !this.#link.paced) {
      const made = this.#link.producedAt(this.#now());
      if (made !== undefined && made < OUTRUN * link) return false;
    }
    return true;
  }

  /** The clock writes are timed with (see CompressOptions.now). */
  #now(): number {
    return this.#options.now?.() ?? performance.now();
  }

  #level(): number {
    if (this.#options.level) return this.#options.level;
    // The link's rate, measured or known from the route's history; a link
    // that never holds the stream up is not known to be slow. The history
    // alone counts only once the transfer has taken enough to be held up
    // by the link at all (see HISTORY_LEVEL_MIN_RAW).
    const now = this.#now();
    const rate = this.#link.rateAt(now) ?? this.#historyRate(now);
    if (rate === undefined) return 1;
    // The raw bytes a ms the link takes at the data's ratio: a level
    // whose compressor keeps up with that on one core (two blocks
    // compress at once) costs the stream no time, and its better ratio
    // saves the link's.
    const needed = rate / Math.max(this.#ratio, 0.05);
    for (const [level, speed] of SLOW_LEVELS) {
      if (speed >= needed) return level;
    }
    return 1;
  }

  /**
   * The link's rate from the route's history (raw bytes a ms), for the
   * level, once the transfer took {@linkcode HISTORY_LEVEL_MIN_RAW}; and
   * only while what it makes, compressed as so far, would clearly more
   * than fill that link (by a quarter): a stream made more slowly is not
   * held up by the link at level 1, or only just, and a slower level
   * would only cost CPU. (10,000 ~1 KiB files pulled over 100 Mbit/s on a
   * 2-core VM: 8-12 MB/s compressed against ~11, and with level 6 chosen
   * so the pull took 24-47 ms longer, 15 pairs.) A stream the link does
   * hold up is measured (see `LinkMeter.rateAt`), and its level follows
   * that.
   */
  #historyRate(now: number): number | undefined {
    const known = this.#options.linkBytesPerS;
    if (known === undefined || this.#link.taken < HISTORY_LEVEL_MIN_RAW) {
      return undefined;
    }
    const rate = known / 1000;
    const made = this.#link.producedAt(now);
    return made === undefined || made * this.#ratio >= FILLS * rate
      ? rate
      : undefined;
  }

  /**
   * The block for the `length` raw bytes at `BLOCK_HEADER` in `buffer` (a
   * pooled one, given back here unless the block is made in it):
   * compressed when it pays and shrinks it; `framed` is the block with
   * its header and `buffer` the pooled buffer it lies in.
   */
  async #block(
    buffer: Uint8Array,
    length: number,
  ): Promise<{ block: Uint8Array; buffer: Uint8Array }> {
    this.#blocks++;
    const raw = buffer.subarray(BLOCK_HEADER, BLOCK_HEADER + length);
    let packed: Uint8Array | undefined;
    let packedIn: Uint8Array | undefined;
    // A small block (copy instructions, a small file's frame) goes as it
    // is: a zstd call costs ~ms of setup, and its few bytes gain nothing.
    if (raw.length < MIN_COMPRESS_BYTES) {
      // raw
    } else if (this.#worthIt()) {
      const z = await loadZstd();
      packedIn = this.#pool.take(BLOCK_HEADER + z.bound(raw.length));
      const into = packedIn.subarray(BLOCK_HEADER);
      const level = this.#level();
      packed = raw.length <= SYNC_COMPRESS_MAX
        ? z.compressSync(raw, level, into)
        : await z.compress(raw, level, into);
      this.stats.level = level;
      this.#ratio = 0.7 * this.#ratio + 0.3 * (packed.length / raw.length);
    } else if (this.#options.mode === "auto" && this.#blocks % 8 === 1) {
      // Now and then, a sample tells whether the data would shrink.
      const sample = raw.subarray(0, 64 << 10);
      const out = (await loadZstd()).compressSync(sample, 1);
      this.#ratio = 0.5 * this.#ratio + 0.5 * (out.length / sample.length);
    }
    const zipped = packed !== undefined && packed.length < raw.length * 0.97;
    let framed: Uint8Array;
    let home: Uint8Array;
    if (zipped) {
      // Compressed into the pooled buffer, after the header's room.
      home = packedIn!;
      framed = home.subarray(0, BLOCK_HEADER + packed!.length);
      this.#pool.give(buffer);
      this.stats.compressed++;
    } else {
      home = buffer;
      framed = buffer.subarray(0, BLOCK_HEADER + length);
      if (packedIn) this.#pool.give(packedIn);
    }
    const view = new DataView(framed.buffer, framed.byteOffset, BLOCK_HEADER);
    framed[0] = zipped ? BLOCK_ZSTD : BLOCK_RAW;
    view.setUint32(1, framed.length - BLOCK_HEADER);
    view.setUint32(5, length);
    return { block: framed, buffer: home };
  }

  async #send(block: Uint8Array, held: boolean): Promise<void> {
    if (!this.#started) {
      this.#started = true;
      await this.#put(Uint8Array.of(STREAM_BLOCKS));
    }
    const t0 = this.#now();
    this.#onConnection = true;
    try {
      await this.#put(block);
    } finally {
      this.#onConnection = false;
    }
    this.#link.wrote(
      block.length,
      block[0] === BLOCK_RAW,
      held,
      t0,
      this.#now(),
    );
  }

  async #put(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length;) {
      at += await this.#conn.write(bytes.subarray(at));
    }
    this.stats.wire += bytes.length;
  }
}

/** What a data connection reads from. */
export interface ByteReader {
  /** Reads into `p`; the count, or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * A reader of a data connection that undoes a {@linkcode CompressingWriter}
 * when the stream starts with its marker, and passes a plain stream
 * through untouched. Every block's lengths are checked before anything
 * is allocated; a block that does not decompress to its stated size, or
 * a stream cut inside a block, is a protocol error.
 *
 * @example
 * ```ts
 * import { decompressingReader } from "@blit/cli/internals";
 * let given = false;
 * const reader = decompressingReader({ read: async (p) => given ? null : (given = true, p.set([1, 2]), 2) });
 * const out = new Uint8Array(4);
 * if (await reader.read(out) !== 2 || out[1] !== 2) throw new Error("example failed");
 * ```
 */
export function decompressingReader(
  conn: ByteReader,
  options: { onWire?: (n: number) => void; onCompressed?: () => void } = {},
): ByteReader {
  let mode: "unknown" | "plain" | "blocks" = "unknown";
  // Wire bytes read past the last block, and decoded ones not yet handed out.
  let input: Uint8Array = new Uint8Array(0);
  let output: Uint8Array = new Uint8Array(0);
  let ended = false;
  // Kept from one stream to the next (see buffer_pool.ts): given back at
  // a clean end only (after a failure a decompression may still be
  // writing into one).
  let inputBuffer: Uint8Array | undefined;
  let payloadBuffer: Uint8Array | undefined;
  let outBuffer: Uint8Array | undefined;
  const giveBack = () => {
    for (const buffer of [inputBuffer, payloadBuffer, outBuffer]) {
      if (buffer) giveBuffer(buffer);
    }
    inputBuffer = payloadBuffer = outBuffer = undefined;
    input = output = new Uint8Array(0);
  };
  const header = new Uint8Array(BLOCK_HEADER);
  const cut = () =>
    new FrameProtocolError("Compressed stream cut inside a block");
  /** Fills `into` from what is left over, then from the connection. */
  const fill = async (
    into: Uint8Array,
    atEnd: (filled: number) => Error | undefined,
  ) => {
    let filled = Math.min(input.length, into.length);
    into.set(input.subarray(0, filled));
    input = input.subarray(filled);
    while (filled < into.length) {
      const n = await conn.read(into.subarray(filled));
      if (n === null) {
        const error = atEnd(filled);
        if (error) throw error;
        return false;
      }
      options.onWire?.(n);
      filled += n;
    }
    return true;
  };
  const nextBlock = async (): Promise<boolean> => {
    // The end of the stream is clean only between blocks.
    if (!await fill(header, (filled) => filled > 0 ? cut() : undefined)) {
      return false;
    }
    const view = new DataView(header.buffer);
    const type = header[0];
    const length = view.getUint32(1);
    const raw = view.getUint32(5);
    if (type !== BLOCK_RAW && type !== BLOCK_ZSTD) {
      throw new FrameProtocolError(`Unknown block type ${type}`);
    }
    if (
      raw > MAX_BLOCK_BYTES || length > MAX_BLOCK_BYTES ||
      (type === BLOCK_RAW && length !== raw)
    ) {
      throw new FrameProtocolError(
        `Block of ${length} bytes (${raw} raw) is out of range`,
      );
    }
    // The payload is read straight into a buffer of its own (checked
    // above), reused block after block: the block before it is all
    // handed out by now, and a new buffer costs fresh pages.
    payloadBuffer = pooledRoom(payloadBuffer, length);
    const payload = payloadBuffer.subarray(0, length);
    await fill(payload, cut);
    if (type === BLOCK_RAW) {
      output = payload;
      return true;
    }
    outBuffer = pooledRoom(outBuffer, raw);
    let out: Uint8Array;
    try {
      out = await decompress(payload, raw, outBuffer);
    } catch {
      throw new FrameProtocolError("A compressed block does not decompress");
    }
    if (out.length !== raw) {
      throw new FrameProtocolError(
        `A compressed block gave ${out.length} bytes, not ${raw}`,
      );
    }
    output = out;
    options.onCompressed?.();
    return true;
  };
  return {
    async read(p: Uint8Array): Promise<number | null> {
      if (mode === "unknown") {
        const n = await conn.read(p);
        if (n === null) return null;
        options.onWire?.(n);
        if (p[0] !== STREAM_BLOCKS) {
          mode = "plain";
          return n;
        }
        mode = "blocks";
        inputBuffer = takeBuffer(n - 1);
        inputBuffer.set(p.subarray(1, n));
        input = inputBuffer.subarray(0, n - 1);
      }
      if (mode === "plain") {
        const n = await conn.read(p);
        if (n !== null) options.onWire?.(n);
        return n;
      }
      while (output.length === 0) {
        if (ended) return null;
        if (!await nextBlock()) {
          ended = true;
          giveBack();
          return null;
        }
      }
      const n = Math.min(p.length, output.length);
      p.set(output.subarray(0, n));
      output = output.subarray(n);
      return n;
    },
  };
}
