/**
 * The seconds before a kill (docs/records.md, "Tick samples"): the wrapper keeps its last scans of
 * the tree in memory, and journals them when the run breaches a limit, so that a post-mortem shows
 * the tree's memory at tick resolution up to the kill, not only at the sample interval (10 s).
 *
 * Bounded both ways, since the monitor's tick adapts between 100 ms and 1 s (--poll-interval, as
 * fast as 10 ms) and the settle window and the grace period scan faster still: the ticks of the last
 * TICK_RING_MAX_AGE_MS, and at most TICK_RING_MAX_TICKS of them. A tick holds six numbers and its
 * TOP_PROCESS_COUNT largest processes (their comm strings are the members' own, shared): a full
 * ring takes about 0.45 MiB of heap, at most 0.7 MiB (`npm run bench -- --only ticks`; BENCHMARKS.md).
 *
 * A breach (breach(): a limit crossed, RunFigures.breach) makes the ring journal every tick it holds
 * or takes from then on, until the run ends; but only at flush(), which the supervisor calls when
 * nothing waits on it: during a grace sleep of the termination sequence, after the sequence, at the
 * end. Writing up to 600 lines takes some 20 ms on a loaded host, which a kill must not wait for:
 * never between two signals of one sequence (with --grace 0, the SIGTERM and the SIGKILL). A tick
 * held at the breach that leaves the ring before the flush waits for it outside the ring (`evicted`).
 * An instant is journaled once: a periodic sample asks claim() first.
 */
import type { TopProcess } from '../record/types.js';

/** How far back the ring reaches from its newest tick, milliseconds. */
export const TICK_RING_MAX_AGE_MS = 60_000;
/** How many ticks the ring holds at most: 60 s at the monitor's fastest default tick (100 ms). */
export const TICK_RING_MAX_TICKS = 600;
/** How many of a tick's processes are kept, the largest by RSS. */
export const TOP_PROCESS_COUNT = 5;

/** The tree at one scan. */
export interface Tick {
  /** Wall-clock time of the scan (TreeSnapshot.atMs), milliseconds since the epoch. */
  atMs: number;
  /** Tree RSS: the sum over the live members (proc(5) stat field 24, rss, times the page size), bytes. */
  rssBytes: number;
  /** Tree PSS (smaps_rollup), bytes, when it was read at this scan (only over the limit), else null. */
  pssBytes: number | null;
  /** CPU time of every member so far, user + system, seconds. */
  cpuSeconds: number;
  /** Live members. */
  processCount: number;
  /** The TOP_PROCESS_COUNT largest live members by RSS, largest first. */
  topProcesses: TopProcess[];
  /** A new peak of tree RSS the sampler would have journaled as a peak sample: the tick is journaled as one (claim()). */
  peak: boolean;
}

/** The bounds of a ring (the defaults above; a test gives smaller ones). */
export interface TickRingBounds {
  maxTicks: number;
  maxAgeMs: number;
}

export class TickRing {
  /** A circular buffer: `size` ticks from `head`, oldest first. */
  private readonly slots: (Tick | undefined)[];
  private head = 0;
  private size = 0;
  /** The ticks in the ring already journaled (as a periodic sample or as a tick): the ring does not journal them (again). */
  private readonly journaled = new Set<Tick>();
  /**
   * Ticks that left the ring after the breach and before a flush() journaled them, oldest first:
   * the scans between two flushes beyond the ring's bound, none while the ring has room. With no
   * grace period that is the whole sequence: a few scans, a few thousand (about 0.8 KB each) only
   * when its SIGKILLs are futile for their 30 s (sequence.ts UNKILLABLE_AFTER_MS).
   */
  private evicted: Tick[] = [];
  /** The scan of the newest tick (a TreeSnapshot), by identity: held until the next add, one scan, not 600. */
  private newestScan: object | undefined;
  /** The oldest tick's instant at the breach, milliseconds: every tick from then on is journaled by the ring. Undefined before one. */
  private breachFromMs: number | undefined;
  /** The newest instant of the ticks that left the ring since the breach (journaled, or in `evicted`), milliseconds. */
  private leftUpToMs = -Infinity;

  /**
   * @param write journals one tick (RunFigures: a watchdog_samples record with `tick: true`)
   */
  constructor(
    private readonly write: (tick: Tick) => void,
    private readonly bounds: TickRingBounds = { maxTicks: TICK_RING_MAX_TICKS, maxAgeMs: TICK_RING_MAX_AGE_MS },
  ) {
    this.slots = new Array<Tick | undefined>(bounds.maxTicks);
  }

  /** The ticks held, oldest first. */
  ticks(): Tick[] {
    const held: Tick[] = [];
    for (let index = 0; index < this.size; index++) held.push(this.slots[(this.head + index) % this.bounds.maxTicks]!);
    return held;
  }

  /** Whether a breach was seen: every tick held or taken is journaled at the next flush(). */
  get breached(): boolean {
    return this.breachFromMs !== undefined;
  }

  /**
   * Takes one scan. `scan` is the scan itself (the TreeSnapshot): the supervisor observes a scan
   * more than once, and it is one tick; two scans are two ticks, even of the same millisecond (a
   * freeze's scans come back to back).
   */
  add(tick: Tick, scan: object): void {
    if (scan === this.newestScan) return;
    this.newestScan = scan;
    if (this.size === this.bounds.maxTicks) this.dropOldest();
    this.slots[(this.head + this.size) % this.bounds.maxTicks] = tick;
    this.size++;
    // Against the newest tick, not the clock: a wall clock set back would otherwise empty the ring.
    while (this.size > 1 && this.slots[this.head]!.atMs < tick.atMs - this.bounds.maxAgeMs) this.dropOldest();
  }

  /** The tree PSS read at `scan`, the newest tick's (PSS is read only over the limit, after the tick was taken), bytes. */
  notePss(scan: object, pssBytes: number): void {
    if (scan === this.newestScan) this.newest()!.pssBytes = pssBytes;
  }

  /** A breach: every tick held, and every tick taken from now on, is journaled at the next flush(). Idempotent. */
  breach(): void {
    if (this.breached) return;
    this.breachFromMs = this.slots[this.head]?.atMs ?? -Infinity;
  }

  /** After a breach, journals the ticks held or evicted and not yet journaled, oldest first; nothing before one. Idempotent. */
  flush(): void {
    if (!this.breached) return;
    const evicted = this.evicted;
    this.evicted = [];
    for (const tick of evicted) this.write(tick);
    for (const tick of this.ticks()) if (!this.journaled.has(tick)) this.journal(tick);
  }

  /**
   * Whether a periodic or peak sample of the instant `atMs` may be journaled: not when the ring
   * journaled that instant already, or will (after a breach: it holds it, or held it). A peak's
   * tick not journaled yet is journaled as a peak instead. When the sample may be journaled, the
   * ring will not journal that instant itself. Any other instant may: one the ring never held (the
   * whole-run sample at the end), or one older than the breach that has left it.
   */
  claim(atMs: number, peak: boolean): boolean {
    const tick = this.ticks().filter((held) => held.atMs === atMs).at(-1);
    if (!this.breached) {
      if (tick) this.journaled.add(tick);
      return true;
    }
    if (tick) {
      if (!this.journaled.has(tick)) tick.peak ||= peak;
      return false;
    }
    return !(atMs >= this.breachFromMs! && atMs <= this.leftUpToMs);
  }

  private newest(): Tick | undefined {
    return this.size === 0 ? undefined : this.slots[(this.head + this.size - 1) % this.bounds.maxTicks];
  }

  private journal(tick: Tick): void {
    this.journaled.add(tick);
    this.write(tick);
  }

  private dropOldest(): void {
    const oldest = this.slots[this.head]!;
    if (this.breached) {
      this.leftUpToMs = Math.max(this.leftUpToMs, oldest.atMs);
      // Held since the breach and not journaled yet: journaled by the next flush, which the kill does not wait for.
      if (!this.journaled.has(oldest)) this.evicted.push(oldest);
    }
    this.journaled.delete(oldest);
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.bounds.maxTicks;
    this.size--;
  }
}
