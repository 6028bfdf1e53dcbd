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
 * At a breach (breach(): a stop decided, a termination sequence started, a kernel OOM kill seen),
 * every tick is written as it is taken, until the run ends, and the ticks held and not yet journaled
 * are written by flush(): the supervisor calls it at the first scan after the first signal, since
 * writing up to 600 lines takes some 20 ms on a loaded host, which the kill should not wait for. An
 * instant is journaled once: a periodic sample asks claim() first.
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
  /** The instants already journaled, of the ticks in the ring (as a periodic sample or as a tick). */
  private readonly journaled = new Set<Tick>();
  /** The oldest tick's instant at the breach: every scan from then on is journaled by the ring. Undefined before one. */
  private breachFromMs: number | undefined;

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

  /** Whether a breach was seen: every tick taken is journaled at once. */
  get breached(): boolean {
    return this.breachFromMs !== undefined;
  }

  /**
   * Takes one scan. A scan of the same instant as the newest tick is the same scan seen twice (the
   * supervisor observes a snapshot more than once) and is dropped. After a breach it is journaled at once.
   */
  add(tick: Tick): void {
    const newest = this.newest();
    if (newest && newest.atMs === tick.atMs) return;
    if (this.size === this.bounds.maxTicks) this.dropOldest();
    this.slots[(this.head + this.size) % this.bounds.maxTicks] = tick;
    this.size++;
    // Against the newest tick, not the clock: a wall clock set back would otherwise empty the ring.
    while (this.size > 1 && this.slots[this.head]!.atMs < tick.atMs - this.bounds.maxAgeMs) this.dropOldest();
    if (this.breached) this.journal(tick);
  }

  /** The tree PSS read at the scan of `atMs` (after the tick was taken: PSS is read only over the limit), bytes. */
  notePss(atMs: number, pssBytes: number): void {
    const newest = this.newest();
    if (newest?.atMs === atMs) newest.pssBytes = pssBytes;
  }

  /**
   * A breach: every tick taken from now on is journaled at once, and the ticks held are journaled
   * by flush(), or as they would leave the ring. Idempotent.
   */
  breach(): void {
    if (this.breached) return;
    this.breachFromMs = this.slots[this.head]?.atMs ?? -Infinity;
  }

  /** After a breach, journals the ticks held and not yet journaled; nothing before one. Idempotent. */
  flush(): void {
    if (!this.breached) return;
    for (const tick of this.ticks()) if (!this.journaled.has(tick)) this.journal(tick);
  }

  /**
   * Whether a periodic sample of the instant `atMs` may be journaled: not when the ring journaled
   * that instant already, or will (it holds it and the run has breached). When it may, the ring
   * will not journal that instant itself.
   */
  claim(atMs: number): boolean {
    if (this.breachFromMs !== undefined && atMs >= this.breachFromMs) return false;
    const tick = this.ticks().find((held) => held.atMs === atMs);
    if (tick) this.journaled.add(tick);
    return true;
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
    // Held at the breach and not flushed yet: journaled now, or never.
    if (this.breached && !this.journaled.has(oldest)) this.write(oldest);
    this.journaled.delete(oldest);
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.bounds.maxTicks;
    this.size--;
  }
}
