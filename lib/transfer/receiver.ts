// The receiving role, once for push (the daemon) and pull (the client):
// manifest -> need list -> directories and links applied -> file bytes
// into atomic files -> directory times -> mirror deletions.
import { ioTurn } from "../timer.ts";
import { appendsMostly, GROWN_SEEN, type GrownFiles } from "./grown_files.ts";
export { type GrownFiles } from "./grown_files.ts";
import { closeQuietly } from "../wire/socket.ts";
import type { FileEntry } from "../fs/entry.ts";
import {
  applyDir,
  applyFileMode,
  applySymlink,
  setDirTimes,
  setRootTime,
} from "../fs/apply_tree.ts";
import { openedStatus, type TreeRoot } from "../fs/tree.ts";
import { openIfThere } from "../fs/contained_root.ts";
import { KernelFile } from "../fs/kernel_file.ts";
import { hashSteady } from "../delta/describe.ts";
import {
  applyDeletions,
  countDeletions,
  planDeletions,
} from "../fs/mirror_plan.ts";
import { NeedList } from "../fs/need_list.ts";
import { FileTable, PathSet } from "../fs/path_table.ts";
import { receiveInto } from "../wire/frame_io.ts";
import type { Bandwidth } from "../wire/bandwidth.ts";
import type { ReceiveSinkOptions } from "../wire/file_assembly.ts";
import { type FrameEvent, FrameProtocolError } from "../wire/frame_codec.ts";
import { FrameReceiver } from "../wire/frame_receiver.ts";
import { RESUME_MIN_BYTES } from "../fs/partial_copies.ts";
import { type ContentHasher, contentHasher, sameHash } from "../fs/hash.ts";
import {
  deltaOverResume,
  findResume,
  type PartialCopy,
  type ResumeOffer,
} from "../fs/resume.ts";
import type { WireStats } from "./peer.ts";
import type { DirTime } from "../fs/apply_tree.ts";
import {
  BasisBatcher,
  type BasisCopy,
  type BasisOffer,
  DELTA_MIN_BYTES,
  HASH_FIRST_MAX_BYTES,
  offeredByHash,
  worthDescribing,
} from "../delta/basis.ts";

/** What the receiver tells the sender about a needed file it holds. */
export interface NeedOffers {
  /** A partial copy an interrupted transfer left (see resume.ts). */
  resume?: ResumeOffer;
  /** An older copy to rebuild the file from (see lib/delta). */
  basis?: BasisOffer;
}

/** Options for {@linkcode Receiver}. */
export interface ReceiverOptions {
  /** Delete what the destination has and the manifest lacks. Default: false. */
  mirror?: boolean;
  /** Decide and count, change nothing. Default: false. */
  dryRun?: boolean;
  /** Compare content hashes, not size and mtime. Default: false. */
  checksum?: boolean;
  /** Globs never deleted by a mirror. Default: none. */
  exclude?: readonly string[];
  /**
   * A single file written under this name instead of the one offered (the
   * need list still names the offered one). Default: none.
   */
  rename?: string;
  /** Sees (and may check or rewrite) each manifest entry first. */
  onEntry?: (entry: FileEntry) => void;
  /** Told the bytes each kept path costs (for memory budgets). */
  charge?: (bytes: number) => void;
  /** Told after each symlink is made (progress). */
  onLink?: () => void;
  /**
   * Told each item as the receiver decides it (a dry run too): `+` and the
   * path of each file it needs, each link it makes and each file it
   * settles by its hash hint (`same`: never named to the sender), `-` and
   * the path of each file, link or directory (`dir/`) a mirror deletes
   * (`-v`, dry-run listings).
   */
  onItem?: (
    sign: "+" | "-",
    path: string,
    kind: "file" | "link" | "dir" | "same",
  ) => void;
  /** Makes a symlink entry (default: `applySymlink` on the root). */
  makeSymlink?: (root: TreeRoot, entry: FileEntry) => Promise<void> | void;
  /**
   * Describe the old copy of each needed file that has one (of at least
   * `DELTA_MIN_BYTES`) for the sender to send a delta. Default: false.
   */
  delta?: boolean;
  /**
   * Take the sender's hash hints (a pull's daemon lists regular files with
   * their content hash, see lib/delta/hash_hints.ts): a file whose old
   * copy has its size and that content only takes its new mode and mtime,
   * through the handle it was read by, and is not named. Default: false.
   */
  hashHints?: boolean;
  /**
   * Hints taken only for files under this size (an old copy compared is
   * read on this thread; bigger ones go the usual way, offered by hash).
   * Default: any size hinted.
   */
  hintMaxBytes?: number;
  /**
   * What the files that grew past their old copies were in the last
   * transfers to this destination (see {@linkcode GrownFiles}), read for
   * this one's first choice and updated as its own files land. Default:
   * none (nothing known before this transfer's own files).
   */
  grown?: GrownFiles;
}

/** What a receiver did. */
export interface ReceiverResult {
  /** Files and links received (in a dry run: that would be). */
  files: number;
  /** Body bytes received (in a dry run: that would be). */
  bytes: number;
  /** Files and links deleted by a mirror (in a dry run: that would be). */
  deleted: number;
  /** Files and links already up to date. */
  skipped: number;
  /** Bytes of `bytes` kept from partial copies of interrupted transfers. */
  resumed: number;
  /** Bytes of `bytes` copied from old copies (delta) instead of sent. */
  matched: number;
  /**
   * Of `files`, those whose old copy held the same content (settled by a
   * hash hint: only a new mode and mtime).
   */
  same: number;
}

/**
 * Rough bytes the receiver holds for one path kept in a transfer's lists:
 * the string (two bytes a character at worst), the copies checking and
 * normalising it leaves for the collector, the entry object and its slot.
 */
export function pathCost(path: string): number {
  return path.length * 3 + 160;
}

/**
 * Old copies a plan offers by hash before the sender's first answers (see
 * `Receiver.hashFirst`); it waits for {@linkcode HASH_ANSWERS} of them
 * then, and offers by hash after that only while at most half the answers
 * asked for a full description.
 */
const HASH_PROBE = 32;
/** Answers to offers by hash a plan waits for, and judges by. */
const HASH_ANSWERS = 8;

/** Entries between the plan's progress calls (see `Receiver.decided`). */
const PROGRESS_EVERY = 2048;

/**
 * Needed files the plan holds back, in manifest order, while their old
 * copies are described (on the workers): past this many it waits for the
 * first (each holds its old copy open until described).
 */
const DESCRIBING_MAX = 128;

/** Charges a held description's arrays to the transfer's budget. */
function chargeFor(copy: BasisCopy, options: ReceiverOptions): void {
  options.charge?.(copy.offer.lengths.byteLength + copy.offer.digests.length);
}

/** A needed file held back until its old copy is described. */
interface Held {
  key: string;
  /** Where its old copy is, when described (see `Receiver.#afterProbe`). */
  path?: string;
  /** Its old copy, smaller than the file, is offered by its hash. */
  grown?: boolean;
  resume?: ResumeOffer;
  /** Settles with the description; `basis` holds it then. */
  pending?: Promise<void>;
  basis?: BasisCopy;
  /** Why it can't be named (its description went over the budget). */
  error?: unknown;
  /** `NeedList.decided` once this and all before it are named. */
  decidedAt?: number;
}

/**
 * How many needed files a paced plan may name ahead of those committed
 * (see {@linkcode Receiver.pace}): enough to keep parallel streams of
 * small files busy, few enough that memory stays flat in the tree size.
 */
export const PLAN_AHEAD_FILES = 8192;

/**
 * Old copies read on this thread to be compared with hash hints, in bytes,
 * between two returns to the event loop: a manifest of hinted files (each
 * read whole here) never holds a daemon's other sessions back for long.
 */
const HINT_TURN_BYTES = 4 << 20;

/** Bytes a mirror keep-set slot costs, amortized. */
const KEEP_COST = 24;
/** Bytes a need-table row costs, amortized. */
const FILE_COST = 64;
/** What a new file comes with: nothing (one object for them all). */
const NO_OFFERS: NeedOffers = Object.freeze({});

/**
 * The receive side of a transfer. `plan()` reads the sender's manifest,
 * applies directories and links, and names each file it still needs;
 * `sink()` writes the files that then arrive (from `receiveTcp()` or
 * `grpcReceiver()`); `finish()` applies directory times and, for a
 * mirror, deletes what the sender did not list.
 *
 * Permissions: read and write on `root`.
 *
 * @example
 * ```ts
 * import { Receiver } from "@blit/cli/mod";
 * const root = Deno.realPathSync(Deno.makeTempDirSync());
 * const receiver = new Receiver(root);
 * const needed: string[] = [];
 * await receiver.plan(
 *   ReadableStream.from([{ path: "a", kind: "file" as const, size: 1, mtimeMs: 0, mode: 0o644 }]),
 *   (path) => { needed.push(path); },
 * );
 * if (needed.join() !== "a") throw new Error("example failed");
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export class Receiver {
  readonly #root: TreeRoot;
  readonly #options: ReceiverOptions;
  readonly #keep = new PathSet();
  readonly #dirs: FileEntry[] = [];
  readonly #expected: FileTable | Map<string, FileEntry>;
  #links = 0;
  /** Files settled by their hash hints (see `hashHints`), and their bytes. */
  #settled = 0;
  #settledBytes = 0;
  /** Directories checked on the way to old copies settled by hint. */
  readonly #verified = new Set<string>();
  /** Files the plan named (the table forgets them as they land). */
  #needed = 0;
  #bytes = 0;
  #skipped = 0;
  #sink: FrameReceiver | undefined;
  #ahead = Infinity;
  #wake: (() => void) | undefined;
  #needList: NeedList | undefined;
  /** Entries the last stage has handled (named if needed). */
  #handled = 0;
  #decided = 0;
  /** Hinted old copies' bytes read since the last return to the event loop. */
  #hintRead = 0;
  /** Describes old copies (on the workers where it can), a batch at a time. */
  #batcher: BasisBatcher | undefined;
  /** Needed files waiting on their descriptions, in manifest order. */
  #held: Held[] = [];
  /** Partial copies offered to the sender, by offered path. */
  readonly #resumes = new Map<string, PartialCopy>();
  /** Old copies described to the sender, by offered path. */
  readonly #bases = new Map<string, BasisCopy>();
  readonly #wire: WireStats = { dataBytes: 0, compressedBlocks: 0, deltas: 0 };
  #hasher: ContentHasher | undefined;
  /** Whether old copies may be offered by their hash alone (see `hashFirst`). */
  #hashFirst = false;
  /**
   * Files named with an old copy offered by its hash alone and not yet
   * arriving (offered path -> path): the need list ends only once each
   * has begun to arrive or been named again.
   */
  readonly #byHash = new Map<string, string>();
  /** Names files again (after describe-again frames), a burst at a time. */
  #again: Promise<void> = Promise.resolve();
  #againError: { error: unknown } | undefined;
  /** Files to describe in full and name again: offered path, path. */
  #againQueue: [string, string][] = [];
  /** Offers by hash asked for, taken as they were, asked for again. */
  #hashAsked = 0;
  /** Settles once the probe's answers are in (see `#probeHashFirst`). */
  #probe: Promise<void> | undefined;
  /** The probe's answers are in (its promise settled). */
  #probeDone = false;
  #hashHits = 0;
  #hashMisses = 0;
  /** This transfer's grown files so far (see {@linkcode GrownFiles}). */
  readonly #grown = { appended: 0, other: 0 };
  /** What the last transfers to this destination said (read at the start). */
  readonly #grownBefore: boolean;
  /** Grown old copies offered by hash and not yet answered (offered paths). */
  readonly #grownKeys = new Set<string>();
  /** Grown old copies asked for again: counted then, not when they land. */
  readonly #grownMissed = new Set<string>();
  /** Grown old copies offered by hash. */
  #grownAsked = 0;
  /** The probe for the sender's first answers was made (see `#probeHashFirst`). */
  #probed = false;

  /** The plan's way of naming files, for naming them again. */
  #need:
    | ((path: string, offers: NeedOffers) => Promise<void> | void)
    | undefined;
  #flush: (() => Promise<void> | void) | undefined;
  /** The data connections ended (or failed): nothing more will arrive. */
  #dataEnded = false;
  /**
   * Wakes whoever waits on the answers to offers by hash (the plan's
   * probe, then `settled`: never both at once); each checks what it waits
   * for.
   */
  #answered: (() => void) | undefined;

  /** A receiver writing under `root`. */
  constructor(root: TreeRoot, options: ReceiverOptions = {}) {
    this.#root = root;
    this.#options = options;
    // Compact (no path strings) except for a renamed single file.
    this.#expected = options.rename === undefined
      ? new FileTable()
      : new Map<string, FileEntry>();
    // The last transfer's files make a streak of appends or end it; this
    // one's files take their place as they land.
    const kept = options.grown;
    if (kept) {
      kept.streak = appendsMostly(kept) ? kept.streak + 1 : 0;
      kept.appended = kept.other = 0;
    }
    this.#grownBefore = (kept?.streak ?? 0) >= 2;
  }

  /**
   * What came on the wire: data connection bytes (after compression),
   * compressed blocks, and files described for deltas.
   */
  get wire(): WireStats {
    return this.#wire;
  }

  /**
   * This transfer's grown files so far: those that landed as deltas
   * beginning with all of their old copy, and those that did not (see
   * {@linkcode GrownFiles}); for the history of a receiver that keeps
   * none between transfers (a pulling client).
   */
  get grownSeen(): { appended: number; other: number } {
    return { ...this.#grown };
  }

  /** Symlinks made so far. */
  get links(): number {
    return this.#links;
  }

  /** Files the plan asked for. */
  get needed(): number {
    return this.#needed;
  }

  /** Body bytes the plan asked for. */
  get neededBytes(): number {
    return this.#bytes;
  }

  /**
   * Keeps `plan()` at most `files` needed files ahead of the files the
   * sinks have committed, for a data path running alongside the plan:
   * neither side then holds a whole tree's need list (the manifest waits
   * in flow control). `Infinity` lifts it; call that when the data path
   * ends or is abandoned, or a waiting plan never resumes.
   */
  pace(files: number): void {
    this.#ahead = files;
    this.#room();
  }

  /**
   * How many manifest entries (every kind, in manifest order) are decided
   * and, if needed, already named: the sender may forget the files among
   * them it was not asked for. Never ahead of a need still to be named.
   */
  get decided(): number {
    const needList = this.#needList;
    // Only when every entry the need list passed on has been handled is
    // its count safe; else the last safe one stands.
    if (needList && this.#handled === needList.passed) {
      this.#decided = needList.decided;
    }
    return this.#decided;
  }

  /** Needed files not yet committed. */
  #outstanding(): number {
    return this.#needed - (this.#sink?.stats.files ?? 0);
  }

  /**
   * Lets the plan offer small old copies of the size the file now has by
   * their content hash alone (see `HASH_FIRST_MAX_BYTES`): only for bytes
   * coming on data connections alongside the need list, where the sender
   * can ask for a full description (a describe-again frame) and the
   * answer still goes in the need list. Call it once they are up.
   */
  hashFirst(): void {
    this.#hashFirst = true;
  }

  /**
   * Whether old copies were offered by hash: files may still be named
   * again (see {@linkcode Receiver.settled}).
   */
  get unsettled(): boolean {
    return this.#hashAsked + this.#grownAsked > 0;
  }

  /**
   * Waits until every file named with an old copy offered by its hash
   * alone has begun to arrive or been named again with a full
   * description (or the data connections ended): after that the need
   * list may end.
   *
   * @throws what naming a file again failed with.
   */
  async settled(): Promise<void> {
    while (this.#byHash.size > 0 && !this.#dataEnded && !this.#againError) {
      await new Promise<void>((resolve) => this.#answered = resolve);
    }
    // (Files asked for again left the map as they were asked for.)
    await this.#again;
    if (this.#againError) throw this.#againError.error;
  }

  /** An answer came (or the data ended, or naming again failed). */
  #wakeAnswered(): void {
    const answered = this.#answered;
    this.#answered = undefined;
    answered?.();
  }

  /** A file named with an old copy offered by hash began to arrive. */
  #taken(key: string): void {
    if (!this.#byHash.delete(key)) return;
    // A grown copy's answer is counted as it lands (see `#countGrown`).
    if (!this.#grownKeys.delete(key)) this.#hashHits++;
    this.#wakeAnswered();
  }

  /** Offers by hash the sender has answered. */
  get #answers(): number {
    return this.#hashHits + this.#hashMisses;
  }

  /**
   * Whether old copies are still offered by hash: not once more than half
   * of those the sender answered (at least 8) it asked to have described
   * again (files edited in place: each would cost a round trip and a read
   * more on each side for nothing).
   */
  #hashFirstPays(): boolean {
    const misses = this.#hashMisses;
    return misses < HASH_ANSWERS || misses <= this.#hashHits;
  }

  /**
   * Whether an old copy smaller than its file is offered by hash: while
   * appends are at least half of this transfer's grown files, once it has
   * {@linkcode GROWN_SEEN}; before that, as the last transfers to this
   * destination said (see {@linkcode GrownFiles}).
   */
  #grownPays(): boolean {
    const grown = this.#grown;
    return grown.appended + grown.other >= GROWN_SEEN
      ? appendsMostly(grown)
      : this.#grownBefore;
  }

  /**
   * A grown file landed (`appended`: it began with all of its old copy),
   * or its old copy offered by hash was asked for again: counted, and
   * kept for the next transfer to this destination.
   */
  #countGrown(appended: boolean): void {
    const grown = this.#grown;
    if (appended) grown.appended++;
    else grown.other++;
    const kept = this.#options.grown;
    if (kept) {
      kept.appended = grown.appended;
      kept.other = grown.other;
    }
  }

  /**
   * Before the plan offers more than {@linkcode HASH_PROBE} old copies by
   * hash, it names what it holds and names no more until the sender's
   * first {@linkcode HASH_ANSWERS} answers (a round trip, once a
   * transfer): a tree edited in place then pays for the probe only, not
   * for every offer made while the answers were on their way. The plan
   * goes on deciding and describing meanwhile (by hash, as if the probe
   * passed); see {@linkcode Receiver.#afterProbe}.
   */
  async #probeHashFirst(
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    flush: (() => Promise<void> | void) | undefined,
  ): Promise<void> {
    if (
      this.#probed || this.#hashAsked < HASH_PROBE ||
      this.#answers >= HASH_ANSWERS
    ) return;
    // Once: whatever the answers, the plan never again stops to name all
    // it holds for them (a stop a file would serialize the plan).
    this.#probed = true;
    await this.#name(need, true);
    await flush?.();
    this.#probe = (async () => {
      while (
        this.#answers < HASH_ANSWERS && this.#byHash.size > 0 &&
        !this.#dataEnded && !this.#againError
      ) {
        await new Promise<void>((resolve) => this.#answered = resolve);
      }
      this.#probeDone = true;
    })();
  }

  /**
   * The probe's answers are in: when they say offers by hash do not pay
   * (files edited in place), the old copies described by hash meanwhile
   * and not yet named are described in full instead.
   */
  async #afterProbe(): Promise<void> {
    const probe = this.#probe;
    if (!probe) return;
    await probe;
    this.#probe = undefined;
    const batcher = this.#batcher;
    if (this.#hashFirstPays() || !batcher) return;
    for (const held of this.#held) {
      if (held.pending) await held.pending;
      const basis = held.basis;
      if (
        !basis || !offeredByHash(basis.offer) || held.path === undefined ||
        held.grown
      ) continue;
      held.basis = undefined;
      this.#describeHeld(held, batcher.describe(held.path));
    }
    batcher.flush();
  }

  /**
   * `held` waits for the description `described`; charged as it comes (a
   * held description is memory too): over the budget, the transfer fails
   * when the file would be named.
   */
  #describeHeld(
    held: Held,
    described: Promise<BasisCopy | undefined>,
  ): void {
    const settle = (basis?: BasisCopy) => {
      held.pending = undefined;
      if (!basis) return;
      try {
        chargeFor(basis, this.#options);
        held.basis = basis;
      } catch (error) {
        held.error = error;
      }
    };
    held.pending = described.then(settle, () => settle());
  }

  /**
   * The sender asks for the full description of an old copy offered by
   * its hash alone (its file is another content): described (a burst of
   * them together) and the files named again.
   */
  #describeAgain(key: string): void {
    const path = this.#byHash.get(key);
    if (path === undefined) {
      throw new FrameProtocolError(
        `File ${key} was to be described again, but its old copy was not offered by its hash`,
      );
    }
    // Out of the map at once: its frames, when they come, are no answer.
    this.#byHash.delete(key);
    if (this.#grownKeys.delete(key)) {
      this.#grownMissed.add(key);
      this.#countGrown(false);
    } else this.#hashMisses++;
    this.#againQueue.push([key, path]);
    if (this.#againQueue.length === 1) {
      this.#again = this.#again.then(() => this.#nameAgain());
    }
    this.#wakeAnswered();
  }

  /** Describes the files asked for again and names them, then flushes. */
  async #nameAgain(): Promise<void> {
    while (this.#againQueue.length > 0 && !this.#againError) {
      const asked = this.#againQueue.splice(0);
      try {
        // (Only a plan with a batcher offers by hash.)
        const batcher = this.#batcher!;
        const copies = asked.map(([, path]) => batcher.describe(path));
        batcher.flush();
        for (let i = 0; i < asked.length; i++) {
          const copy = await copies[i];
          let basis: BasisOffer | undefined;
          if (copy && !offeredByHash(copy.offer)) {
            chargeFor(copy, this.#options);
            this.#bases.set(asked[i][0], copy);
            basis = copy.offer;
          }
          await this.#need!(asked[i][0], { basis });
        }
        await this.#flush?.();
      } catch (error) {
        this.#againError = { error };
        this.#wakeAnswered();
      }
    }
  }

  /** Resumes a waiting plan once the sinks are half-way through. */
  #room(): void {
    if (this.#wake && this.#outstanding() <= this.#ahead / 2) {
      const wake = this.#wake;
      this.#wake = undefined;
      wake();
    }
  }

  /**
   * Reads `manifest` through the need list: directories and links are
   * applied at once (not in a dry run), and `need` is called with the
   * offered path of each file still to come, in manifest order, and for a
   * big file an interrupted transfer left a partial copy of, the offer
   * that lets the sender keep its matching blocks (see resume.ts). Paced
   * (see {@linkcode Receiver.pace}), it calls `flush` before waiting, so
   * the sender has every path named so far; it also calls it every
   * 4,096 entries, for the sender to hear {@linkcode Receiver.decided}
   * even when nothing is needed.
   *
   * @throws {RangeError} when the manifest lists a file twice.
   */
  async plan(
    manifest: ReadableStream<FileEntry>,
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    flush?: () => Promise<void> | void,
  ): Promise<void> {
    await this.planBatches(
      (async function* () {
        for await (const entry of manifest) yield [entry];
      })(),
      need,
      flush,
    );
  }

  /**
   * {@linkcode Receiver.plan} over the manifest as it comes, in batches
   * (as the sender's messages carry it): each entry is decided in a
   * plain loop, with no stream hop, no promise and no object of its own
   * unless it is needed.
   *
   * @throws {RangeError} when the manifest lists a file twice.
   */
  async planBatches(
    manifest: AsyncIterable<readonly FileEntry[]>,
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    flush?: () => Promise<void> | void,
  ): Promise<void> {
    const options = this.#options;
    const root = this.#root;
    const mirror = options.mirror ?? false;
    this.#need = need;
    this.#flush = flush;
    let offered: string | undefined;
    let count = 0;
    let seen = 0;
    const nameEntry = (entry: FileEntry) => {
      if (options.rename !== undefined) {
        if (++count > 1) {
          throw new RangeError("A single-file transfer lists one entry");
        }
        offered = entry.path;
        entry.path = options.rename;
      }
      options.onEntry?.(entry);
      if (mirror) {
        options.charge?.(KEEP_COST);
        this.#keep.add(entry.path);
      }
    };
    // Each entry is named (and every PROGRESS_EVERY, the sender told how
    // far this got) as the need list takes it: no stage of its own.
    const needList = new NeedList(root, {
      checksum: options.checksum ?? false,
      oldCopyMinBytes: options.delta ? DELTA_MIN_BYTES : undefined,
      onEntry: (entry) => {
        if (++seen % PROGRESS_EVERY === 0 && flush) {
          const flushed = flush();
          if (flushed) return flushed.then(() => nameEntry(entry));
        }
        nameEntry(entry);
      },
      // Up to date but for its mode: the mode is set in place (a dry run
      // changes nothing and sends nothing for it either).
      onModeOnly: (entry, info) =>
        (options.dryRun ?? false) || applyFileMode(root, entry, info),
    });
    this.#needList = needList;
    if (options.delta && !(options.dryRun ?? false)) {
      this.#batcher = new BasisBatcher(root);
    }
    const passed: FileEntry[] = [];
    const keep = (entry: FileEntry) => passed.push(entry);
    const held = this.#held;
    try {
      for await (const batch of manifest) {
        for (const entry of batch) {
          const taking = needList.take(entry, keep);
          if (taking) await taking;
          if (passed.length === 0) continue;
          for (const kept of passed) {
            // A new small file with nothing to compare or describe is
            // named here and now: no promise unless naming or pacing
            // waits (the rest take #decide's way).
            const fast = this.#decideNew(kept, offered, need);
            if (fast === undefined) {
              await this.#decide(kept, offered, need, flush);
              continue;
            }
            if (fast !== true) await fast;
            if (this.#outstanding() > this.#ahead) {
              await this.#paced(need, flush);
            }
          }
          passed.length = 0;
          // Every entry decided so far is named once the last held is.
          if (held.length > 0) {
            held[held.length - 1].decidedAt = needList.decided;
            await this.#name(need, false);
          }
        }
        // The message's old copies go to be described while the next comes.
        this.#batcher?.flush();
        await this.#name(need, false);
      }
      await this.#name(need, true);
    } finally {
      this.#batcher?.abandon();
    }
    this.#skipped = needList.skipped;
  }

  /**
   * {@linkcode Receiver.#decide} for a file its way would name at once
   * (no hash hint to compare, no partial copy to look for, no old copy to
   * describe, nothing held before it), done without a promise: true, or
   * the promise of naming it (the need list's flush); undefined for any
   * other entry (left to #decide). Pacing is the caller's.
   */
  #decideNew(
    entry: FileEntry,
    offered: string | undefined,
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
  ): Promise<void> | true | undefined {
    const dryRun = this.#options.dryRun ?? false;
    if (
      entry.kind !== "file" || this.#held.length > 0 || this.#probe ||
      (!dryRun && entry.size >= RESUME_MIN_BYTES) ||
      this.#describable(entry) || this.#hinted(entry, dryRun)
    ) return undefined;
    const key = offered ?? entry.path;
    if (this.#expected.has(key)) {
      throw new RangeError(`Manifest lists ${key} twice`);
    }
    this.#expect(key, entry, dryRun);
    const named = need(key, NO_OFFERS);
    // Named: now counted in `decided`.
    if (named) return named.then(() => void this.#handled++);
    this.#handled++;
    return true;
  }

  /** Whether `entry` has a hash hint to compare with an old copy of its size. */
  #hinted(entry: FileEntry, dryRun: boolean): boolean {
    const options = this.#options;
    return !dryRun && (options.hashHints ?? false) && !options.checksum &&
      entry.hash?.length === 16 &&
      entry.size < (options.hintMaxBytes ?? Infinity) &&
      this.#needList?.oldCopySize(entry) === entry.size;
  }

  /**
   * Whether `entry` has an old copy the batcher may describe, and one
   * worth it for the size the file has now (see `worthDescribing`).
   */
  #describable(entry: FileEntry): boolean {
    if (this.#batcher === undefined) return false;
    const old = this.#needList?.oldCopySize(entry);
    return old !== undefined && worthDescribing(old, entry.size);
  }

  /** A needed file, counted and (but in a dry run) expected under `key`. */
  #expect(key: string, entry: FileEntry, dryRun: boolean): void {
    // A dry run receives nothing: it only counts.
    if (!dryRun) {
      this.#options.charge?.(FILE_COST);
      this.#expected.set(key, entry);
    }
    this.#needed++;
    this.#bytes += entry.size;
    this.#options.onItem?.("+", entry.path, "file");
  }

  /**
   * One entry the need list kept: a directory or link is applied, a file
   * named to the sender (`offered`: its offered name, for a renamed single
   * file); paced, it waits here for the sinks to catch up.
   */
  async #decide(
    entry: FileEntry,
    offered: string | undefined,
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    flush: (() => Promise<void> | void) | undefined,
  ): Promise<void> {
    const options = this.#options;
    const root = this.#root;
    const dryRun = options.dryRun ?? false;
    if (entry.kind === "dir") {
      options.charge?.(pathCost(entry.path));
      this.#dirs.push(entry);
      if (!dryRun) applyDir(root, entry);
    } else if (entry.kind === "symlink") {
      if (!dryRun) {
        if (options.makeSymlink) await options.makeSymlink(root, entry);
        else applySymlink(root, entry);
        options.onLink?.();
      }
      options.onItem?.("+", entry.path, "link");
      this.#links++;
    } else {
      // Keyed by the offered name; written under entry.path.
      const key = offered ?? entry.path;
      if (this.#expected.has(key)) {
        throw new RangeError(`Manifest lists ${key} twice`);
      }
      // A hint of its content: an old copy of its size is compared here.
      let differs = false;
      if (this.#hinted(entry, dryRun)) {
        this.#hasher ??= await contentHasher();
        const settled = settleByHash(
          root,
          entry,
          entry.hash!, // (16 bytes: see #hinted)
          this.#hasher,
          this.#verified,
        );
        if ((this.#hintRead += entry.size) >= HINT_TURN_BYTES) {
          this.#hintRead = 0;
          await ioTurn();
        }
        if (settled) {
          this.#settled++;
          this.#settledBytes += entry.size;
          options.onItem?.("+", entry.path, "same");
          this.#handled++;
          return;
        }
        differs = settled === false;
      }
      this.#expect(key, entry, dryRun);
      let copy: PartialCopy | undefined;
      const oldCopy = this.#describable(entry);
      if (!dryRun && entry.size >= RESUME_MIN_BYTES) {
        this.#hasher ??= await contentHasher();
        copy = await findResume(root, entry, this.#hasher, {
          compareOld: oldCopy,
        });
        // An interrupted delta of an append or an edit in place: its old
        // copy holds what the partial copy lacks, and a delta sends less
        // than resuming would (the partial copy makes way for the new one).
        if (copy?.sameAsOld !== undefined && deltaOverResume(copy.sameAsOld)) {
          copy = undefined;
        }
        if (copy) {
          // The offer's hashes are held until the file arrives.
          options.charge?.(copy.offer.hashes.length);
          this.#resumes.set(key, copy);
        }
      }
      const held: Held = { key, resume: copy?.offer };
      const batcher = this.#batcher;
      if (batcher && !copy && oldCopy) {
        // The size it now has: an old copy of that size may be offered
        // by its hash alone (not when compared by content already: it
        // differs); a smaller one too while files that grew were mostly
        // appended to (see GrownFiles: the sender compares the start of
        // its file). (Not a bigger one: it is described in full anyway.)
        const oldSize = this.#needList?.oldCopySize(entry);
        const hashable = this.#hashFirst && !options.checksum &&
          entry.size < HASH_FIRST_MAX_BYTES && oldSize !== undefined;
        const byHash = hashable && !differs && oldSize === entry.size;
        if (byHash) await this.#probeHashFirst(need, flush);
        const grown = hashable && oldSize < entry.size && this.#grownPays();
        const sized = (byHash && this.#hashFirstPays()) || grown
          ? entry.size
          : undefined;
        if (grown) this.#grownAsked++;
        else if (sized !== undefined) this.#hashAsked++;
        held.path = entry.path;
        held.grown = grown;
        this.#describeHeld(held, batcher.describe(entry.path, sized, grown));
      }
      // Named in manifest order: after those still being described (and
      // while the probe waits for its answers).
      if (held.pending || this.#held.length > 0 || this.#probe) {
        this.#held.push(held);
      } else await this.#named(held, need);
      await this.#paced(need, flush);
      return;
    }
    // Handled (a directory or link): now counted in `decided`.
    this.#handled++;
  }

  /**
   * Names the held files whose old copies are described, in order; with
   * `all` (or too many held), waits for them.
   */
  async #name(
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    all: boolean,
  ): Promise<void> {
    const held = this.#held;
    if (this.#probe && held.length > 0) {
      if (!this.#probeDone && !all && held.length < DESCRIBING_MAX) return;
      await this.#afterProbe();
    }
    while (held.length > 0) {
      const first = held[0];
      if (first.pending) {
        if (!all && held.length < DESCRIBING_MAX) return;
        this.#batcher?.flush();
        await first.pending;
      }
      held.shift();
      await this.#named(first, need);
      if (first.decidedAt !== undefined) {
        this.#decided = Math.max(this.#decided, first.decidedAt);
      }
    }
  }

  /** Names one needed file to the sender, with what it holds of it. */
  async #named(
    held: Held,
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
  ): Promise<void> {
    const { key, basis } = held;
    if (held.error !== undefined) throw held.error;
    if (basis) {
      this.#wire.deltas++;
      this.#bases.set(key, basis);
      if (offeredByHash(basis.offer)) {
        this.#byHash.set(key, this.#expected.get(key)?.path ?? key);
        if (held.grown) this.#grownKeys.add(key);
      }
    }
    await need(key, { resume: held.resume, basis: basis?.offer });
    // Named: now counted in `decided`.
    this.#handled++;
  }

  /** A paced plan waits here for the sinks to catch up. */
  async #paced(
    need: (path: string, offers: NeedOffers) => Promise<void> | void,
    flush: (() => Promise<void> | void) | undefined,
  ): Promise<void> {
    if (this.#outstanding() > this.#ahead) {
      // What is held is named first: the sender can't send it otherwise.
      await this.#name(need, true);
      await flush?.();
      while (this.#outstanding() > this.#ahead / 2) {
        await new Promise<void>((resolve) => this.#wake = resolve);
      }
    }
  }

  /**
   * The sink the needed files' frames go to, for one connection or the
   * gRPC call (one set of sinks per receiver): a {@linkcode FrameReceiver}
   * as a stream.
   *
   * @throws {Error} when sinks were already made.
   */
  sink(
    options: ReceiveSinkOptions = {},
  ): WritableStream<FrameEvent | FrameEvent[]> {
    return new WritableStream(this.receivers(1, options)[0]);
  }

  /**
   * One sink per data connection of a transfer on `count` parallel
   * streams, sharing the need list (see `ReceiveSink.group`).
   *
   * @throws {Error} when sinks were already made.
   */
  sinks(
    count: number,
    options: ReceiveSinkOptions = {},
  ): WritableStream<FrameEvent | FrameEvent[]>[] {
    return this.receivers(count, options).map((one) => new WritableStream(one));
  }

  /**
   * What {@linkcode Receiver.sinks} are streams of: one receiving end per
   * data connection, sharing the need list (see `FrameReceiver.group`);
   * {@linkcode Receiver.receiveTcp} drives them without a stream.
   *
   * @throws {Error} when sinks were already made.
   */
  receivers(count: number, options: ReceiveSinkOptions = {}): FrameReceiver[] {
    if (this.#sink) throw new Error("Receiver sinks were already made");
    const receivers = FrameReceiver.group(
      this.#root,
      this.#options.dryRun ? new Map() : this.#expected,
      count,
      {
        ...options,
        resumes: this.#resumes,
        bases: this.#bases,
        onTaken: (key) => this.#taken(key),
        onGrown: (key, appended) => {
          if (!this.#grownMissed.delete(key)) this.#countGrown(appended);
        },
        onDescribeAgain: (key) => this.#describeAgain(key),
        onFile: (entry) => {
          options.onFile?.(entry);
          this.#room();
        },
      },
    );
    this.#sink = receivers[0];
    return receivers;
  }

  /**
   * Receives the files' frames from the data-plane connections (one
   * receiving end each, from {@linkcode Receiver.receivers}), then closes
   * them.
   */
  async receiveTcp(
    conns: Deno.Conn | readonly Deno.Conn[],
    receivers: FrameReceiver | readonly FrameReceiver[],
    options: { bandwidth?: Bandwidth } = {},
  ): Promise<void> {
    const all = Array.isArray(conns) ? conns : [conns as Deno.Conn];
    const to = Array.isArray(receivers)
      ? receivers
      : [receivers as FrameReceiver];
    if (all.length !== to.length) {
      throw new RangeError(
        `${all.length} connections need as many receivers, got ${to.length}`,
      );
    }
    const wire = this.#wire;
    try {
      await Promise.all(
        all.map((conn, i) =>
          receiveInto(conn, to[i], {
            ...options,
            onWire: (n) => wire.dataBytes += n,
            onCompressed: () => wire.compressedBlocks++,
          })
        ),
      );
    } finally {
      for (const conn of all) closeQuietly(conn);
      this.#dataEnded = true;
      this.#wakeAnswered();
    }
  }

  /**
   * Applies directory modes and times and, for a mirror, deletes what the
   * manifest did not list (only now: every needed file has arrived).
   */
  async finish(
    options: {
      mirror?: boolean;
      /**
       * The sender's root directory's mtime (its manifest's end): the
       * directory this fills takes it last (never a single file's parent,
       * nor in a dry run).
       */
      root?: DirTime;
    } = {},
  ): Promise<ReceiverResult> {
    const dryRun = this.#options.dryRun ?? false;
    const root = this.#root;
    if (!dryRun) setDirTimes(root, this.#dirs);
    let deleted = 0;
    if (options.mirror ?? this.#options.mirror) {
      const plan = await planDeletions(root, this.#keep, {
        exclude: this.#options.exclude,
      }).catch((error) => {
        // A dry run into a destination that does not exist yet.
        if (dryRun && error instanceof Deno.errors.NotFound) return [];
        throw error;
      });
      // Directories are told (with a trailing "/") and counted too, as
      // rsync's "deleting dir/" lines and deleted-file count do.
      const onItem = this.#options.onItem;
      const told = onItem && ((path: string) => onItem("-", path, "file"));
      const toldDir = onItem &&
        ((path: string) => onItem("-", `${path}/`, "dir"));
      const counts = dryRun
        ? countDeletions(root, plan, told, toldDir)
        : applyDeletions(root, plan, told, toldDir);
      deleted = counts.files + counts.dirs;
    }
    // Last: every write and deletion inside it has moved its mtime.
    if (!dryRun && options.root && this.#options.rename === undefined) {
      setRootTime(root, options.root);
    }
    const stats = this.#sink?.stats;
    return {
      files: (dryRun ? this.#needed : stats?.files ?? 0) + this.#links +
        this.#settled,
      bytes: (dryRun ? this.#bytes : stats?.bytes ?? 0) + this.#settledBytes,
      deleted,
      skipped: this.#skipped,
      resumed: stats?.resumed ?? 0,
      matched: (stats?.matched ?? 0) + this.#settledBytes,
      same: this.#settled,
    };
  }
}

/**
 * Settles `entry` by its hash hint `hint`: its old copy under `root`
 * (opened through the contained layer, never a link; a regular file of
 * `entry.size` bytes with no other name) is read and hashed, and when it
 * is that content and did not change while read, it takes the entry's
 * mode and mtime through that very handle: true. False: its content is
 * another (it is described in full, not offered by its hash). Undefined:
 * it could not be compared (missing, changed, another kind, a handle that
 * can't set attributes): it goes the usual way.
 */
function settleByHash(
  root: TreeRoot,
  entry: FileEntry,
  hint: Uint8Array,
  hasher: ContentHasher,
  verified: Set<string>,
): boolean | undefined {
  const file = openIfThere(root, entry.path, { verified });
  if (!file) return undefined;
  try {
    if (!(file instanceof KernelFile)) return undefined;
    const before = openedStatus(file);
    if (
      !before.isFile || before.size !== entry.size || before.nlink !== 1
    ) return undefined;
    // Not written to while read: the content hashed is the content kept.
    const digest = hashSteady(file, entry.size, hasher);
    if (!digest) return undefined;
    if (!sameHash(digest, hint)) return false;
    const mode = entry.mode & 0o7777;
    if (before.mode === null || (before.mode & 0o7777) !== mode) {
      file.chmodSync(mode);
    }
    file.utimeSync(entry.mtimeMs, entry.mtimeNs);
    return true;
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}
