/**
 * What the scans of one run add up to: the peaks and sums of its run row, the memory check, and the
 * periodic records of a tick (samples, heartbeats). Memory is checked every tick on the cheap RSS
 * sum; the dear PSS sum is read only when RSS is over the limit, and the kill decision is made on
 * PSS (forked workers share pages that RSS counts once per process).
 */
import type { RunConfig } from '../config/run-config.js';
import { CLOCK_TICKS_PER_SECOND } from '../proc/system.js';
import type { RunLog, RunProgress } from '../record/run-log.js';
import type { Member } from '../track/member.js';
import type { TreeSnapshot } from '../track/tracker.js';
import { Sampler, type DueSample } from './sampler.js';
import { TickRing, TOP_PROCESS_COUNT, type Tick } from './tick-ring.js';
import { largestMembers, treePssBytes } from './tree-memory.js';

/** The run-row fields that summarise the tree so far. */
export type TreeProgress = Pick<RunProgress, 'peak_rss_bytes' | 'peak_pss_bytes' | 'cpu_seconds' | 'peak_process_count' | 'process_count'>;

/** A tree over its memory limit: its sums when the PSS was read, bytes. */
export interface OverLimit {
  rssBytes: number;
  pssBytes: number;
}

export class RunFigures {
  /** The RSS sum of the last scan, bytes. */
  rssBytes = 0;
  peakRssBytes = 0;
  /** The highest PSS sum read, bytes; null while none was (PSS is read only over the limit). */
  peakPssBytes: number | null = null;
  /** The last PSS sum read, bytes. */
  lastPssBytes: number | null = null;
  private peakProcessCount = 0;
  /** When the PSS sum was last read (TreeSnapshot.atMs), so a sample carries it only from that tick. */
  private lastPssAtMs = -1;
  private readonly sampler: Sampler;
  private lastHeartbeatMs = Date.now();
  /** The members' CPU time at the last scan observed, seconds: summed once a scan, over every member the run had. */
  private cpuSecondsAtScan = 0;
  /** The last ticks, journaled at a breach (tick-ring.ts). */
  private readonly ticks = new TickRing((tick) => this.journalTick(tick));

  /** @param members the run's members so far (Tracker.members), for the CPU time and the process count */
  constructor(
    private readonly config: Pick<RunConfig, 'memoryLimitBytes' | 'sampleIntervalMs' | 'heartbeatIntervalMs'>,
    private readonly log: RunLog,
    private readonly members: () => readonly Member[],
  ) {
    this.sampler = new Sampler(config.sampleIntervalMs);
  }

  /** Takes in one scan's sums, and the scan as a tick of the ring (journaled at the next flush after a breach). */
  observe(snapshot: TreeSnapshot): void {
    this.rssBytes = snapshot.rssBytes;
    this.peakRssBytes = Math.max(this.peakRssBytes, snapshot.rssBytes);
    this.peakProcessCount = Math.max(this.peakProcessCount, snapshot.alive.length);
    this.cpuSecondsAtScan = this.progress().cpu_seconds;
    this.ticks.add({
      atMs: snapshot.atMs,
      rssBytes: snapshot.rssBytes,
      pssBytes: null,
      cpuSeconds: this.cpuSecondsAtScan,
      processCount: snapshot.alive.length,
      topProcesses: largestMembers(snapshot, TOP_PROCESS_COUNT),
      peak: false,
    }, snapshot);
  }

  /**
   * A breach: a limit crossed (exit-status.ts isBreach; a kernel OOM kill seen). The ticks held, and
   * every scan observed from now on, are journaled at flushTicks() or close() (tick-ring.ts).
   */
  breach(): void {
    this.ticks.breach();
  }

  /**
   * After a breach, journals the ticks held and not journaled yet; nothing before one. Called when
   * nothing waits on it (a grace sleep, the sequence's end): up to 600 lines, some 20 ms on a loaded
   * host. The sampler's pending peak goes first, so that a tick of it is journaled as a peak.
   */
  flushTicks(): void {
    if (!this.ticks.breached) return;
    const peak = this.sampler.flush();
    if (peak) this.journalSample(peak);
    this.ticks.flush();
  }

  /** The tree's sums when its PSS is over the memory limit (0: none), else undefined. Reads PSS only when RSS is over. */
  overMemoryLimit(snapshot: TreeSnapshot): OverLimit | undefined {
    const limit = this.config.memoryLimitBytes;
    if (limit === 0 || snapshot.rssBytes <= limit) return undefined;
    const pss = treePssBytes(snapshot);
    this.lastPssBytes = pss;
    this.lastPssAtMs = snapshot.atMs;
    this.ticks.notePss(snapshot, pss);
    this.peakPssBytes = Math.max(this.peakPssBytes ?? 0, pss);
    return pss > limit ? { rssBytes: snapshot.rssBytes, pssBytes: pss } : undefined;
  }

  /**
   * The periodic records of a tick: a sample when one is due, a heartbeat (the run row `row()`
   * builds, shipped) when due. `snapshot` was observed first (observe(): its CPU time is taken there).
   */
  tick(snapshot: TreeSnapshot, row: () => RunProgress): void {
    // A tick that meets the tree on its way out (its processes gone, or exiting with their memory
    // already dropped) would sample nothing: the run's memory over time ends with its last real sample.
    const exiting = snapshot.alive.length === 0 || snapshot.rssBytes === 0;
    const due = exiting
      ? undefined
      : this.sampler.tick({
          atMs: snapshot.atMs,
          rssBytes: snapshot.rssBytes,
          pssBytes: this.lastPssAtMs === snapshot.atMs ? this.lastPssBytes : null,
          cpuSeconds: this.cpuSecondsAtScan,
          processCount: snapshot.alive.length,
        });
    if (due) this.journalSample(due);
    const heartbeat = this.config.heartbeatIntervalMs;
    if (heartbeat > 0 && snapshot.atMs - this.lastHeartbeatMs >= heartbeat) {
      this.lastHeartbeatMs = snapshot.atMs;
      this.log.run(row());
    }
  }

  /**
   * At the end of the run: the highest peak not yet journaled, or, for a run that ended before any
   * sample was due, one sample of its figures over the whole run. A run too short for any scan to
   * see its tree alive (`-- true`: its leader was already a zombie at the first scan) still had one
   * process at once; its memory was never measured: a zombie has none left, and getrusage(2)'s
   * ru_maxrss of waited-for children mixes in the pre-exec child's.
   */
  close(): void {
    if (this.members().length > 0) this.peakProcessCount = Math.max(this.peakProcessCount, 1);
    // The peak first: its tick, when the ring holds one not journaled yet, is journaled as a peak.
    const peak = this.sampler.flush();
    if (peak) this.journalSample(peak);
    else if (!this.sampler.anyTaken && this.config.sampleIntervalMs > 0) {
      this.journalSample({
        atMs: Date.now(),
        rssBytes: this.peakRssBytes,
        pssBytes: this.peakPssBytes,
        cpuSeconds: this.progress().cpu_seconds,
        processCount: this.peakProcessCount,
        peak: true,
      });
    }
    this.ticks.flush();
  }

  /** The run-row fields that summarise the tree so far; CPU time from the members' utime+stime (clock ticks). */
  progress(): TreeProgress {
    const members = this.members();
    const ticks = members.reduce((sum, member) => sum + member.cpuTicks, 0);
    return {
      peak_rss_bytes: this.peakRssBytes,
      peak_pss_bytes: this.peakPssBytes,
      cpu_seconds: ticks / CLOCK_TICKS_PER_SECOND,
      peak_process_count: this.peakProcessCount,
      process_count: members.length,
    };
  }

  /** Journals a periodic or peak sample, unless the ring journals that instant (tick-ring.ts claim). */
  private journalSample(due: DueSample): void {
    if (!this.ticks.claim(due.atMs, due.peak)) return;
    this.log.sample(due.atMs, {
      rss_bytes: due.rssBytes,
      pss_bytes: due.pssBytes,
      cpu_seconds: due.cpuSeconds,
      process_count: due.processCount,
      peak: due.peak,
    });
  }

  private journalTick(tick: Tick): void {
    this.log.sample(tick.atMs, {
      rss_bytes: tick.rssBytes,
      pss_bytes: tick.pssBytes,
      cpu_seconds: tick.cpuSeconds,
      process_count: tick.processCount,
      peak: tick.peak,
      tick: true,
      top_processes: tick.topProcesses,
    });
  }
}
