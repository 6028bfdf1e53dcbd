/**
 * When the tree is sampled for watchdog_samples: every interval, and at each new peak of tree RSS
 * (at most one peak sample per second, so that memory growing steadily does not write a sample on
 * every tick; the highest one not yet written is flushed at the end). Pure: the supervisor gives
 * it each tick's figures and journals what it returns.
 */

/** The tree at one tick. */
export interface TreeFigures {
  /** Wall-clock time of the scan, milliseconds since the epoch. */
  atMs: number;
  rssBytes: number;
  /** Tree PSS when it was read at this tick (only over the limit), else null. */
  pssBytes: number | null;
  cpuSeconds: number;
  processCount: number;
}

/** A sample to journal: the figures and whether a new peak is why. */
export type DueSample = TreeFigures & { peak: boolean };

/** The shortest gap between a peak sample and the sample before it, milliseconds. */
const MIN_PEAK_GAP_MS = 1000;

export class Sampler {
  private lastAtMs = -Infinity;
  private highestRssBytes = -1;
  private pendingPeak: TreeFigures | undefined;

  /** @param intervalMs the regular interval, milliseconds; 0 disables sampling */
  constructor(private readonly intervalMs: number) {}

  /** The sample due at this tick, if one is. */
  tick(figures: TreeFigures): DueSample | undefined {
    if (this.intervalMs === 0) return undefined;
    // The first sample is the baseline, not a peak.
    const peak = this.highestRssBytes >= 0 && figures.rssBytes > this.highestRssBytes;
    const gap = figures.atMs - this.lastAtMs;
    if (gap >= this.intervalMs || (peak && gap >= MIN_PEAK_GAP_MS)) return this.take(figures, peak);
    if (peak && figures.rssBytes > (this.pendingPeak?.rssBytes ?? -1)) this.pendingPeak = figures;
    return undefined;
  }

  /** Whether any sample was due so far. */
  get anyTaken(): boolean {
    return this.lastAtMs > -Infinity;
  }

  /** At the end of the run: the highest peak not yet written, if there is one. */
  flush(): DueSample | undefined {
    const pending = this.pendingPeak;
    return pending && pending.rssBytes > this.highestRssBytes ? this.take(pending, true) : undefined;
  }

  private take(figures: TreeFigures, peak: boolean): DueSample {
    this.lastAtMs = figures.atMs;
    this.highestRssBytes = Math.max(this.highestRssBytes, figures.rssBytes);
    if (this.pendingPeak && this.pendingPeak.rssBytes <= this.highestRssBytes) this.pendingPeak = undefined;
    return { ...figures, peak };
  }
}
