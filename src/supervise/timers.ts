/**
 * The run's two clocks: the wall-clock limit, a timer armed at the spawn (not a poll, so the tree
 * gets its first signal within milliseconds of the deadline), and the monitor's sleep between
 * ticks, which a leader's exit or a stop cuts short.
 */
import { MAX_TIMER_MS } from '../config/duration.js';

/**
 * Calls `onDeadline` once `limitMs` milliseconds (monotonic) have passed; 0 arms nothing.
 * setTimeout fires at once beyond 2^31-1 ms (24.8 days), so a longer limit is re-armed until its
 * deadline.
 * @returns what disarms it
 */
export function armDeadline(limitMs: number, onDeadline: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  if (limitMs > 0) {
    const deadline = performance.now() + limitMs;
    const arm = (): void => {
      const left = deadline - performance.now();
      if (left <= 0) onDeadline();
      else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    arm();
  }
  return () => clearTimeout(timer);
}

/** A sleep that another event can end early. */
export class Waker {
  private wakeUp: (() => void) | undefined;

  /** Sleeps `ms` milliseconds, or until wake(). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  /** Ends the current sleep, if one is under way. */
  wake(): void {
    this.wakeUp?.();
  }
}
