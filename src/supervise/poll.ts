/**
 * Adaptive monitoring interval, in the spirit of earlyoom: poll fast while the tree is young, near
 * its memory limit or growing fast; slowly while it is far below. A 30 s poll (pm2, Slurm, the old
 * watchdog) lets memory overshoot until the kernel OOM killer wins the race.
 */

export interface PollInput {
  /** Bounds, milliseconds. */
  minMs: number;
  maxMs: number;
  /** The previous delay, milliseconds. */
  previousMs: number;
  /** Memory limit, bytes; 0 when disabled. */
  limitBytes: number;
  /** Tree RSS now and at the previous tick, bytes. */
  rssBytes: number;
  previousRssBytes: number;
  /** Time between the two readings, milliseconds. */
  elapsedMs: number;
}

/** The delay before the next tick, milliseconds, within [minMs, maxMs]. */
export function nextPollDelay(input: PollInput): number {
  const { minMs, maxMs, limitBytes, rssBytes } = input;
  const relaxed = input.previousMs * 1.5;
  let delay = relaxed;
  if (limitBytes > 0) {
    const headroom = limitBytes - rssBytes;
    const growthPerMs = (rssBytes - input.previousRssBytes) / Math.max(1, input.elapsedMs);
    if (headroom <= limitBytes * 0.1) delay = minMs;
    // Aim for at least four ticks before the limit is reached at the current growth rate.
    else if (growthPerMs > 0) delay = Math.min(relaxed, headroom / growthPerMs / 4);
  }
  return Math.min(maxMs, Math.max(minMs, Math.round(delay)));
}
