/**
 * Where the run page's chart marks the kill (memory.ts), from the run's events. Pure, so
 * test/unit/run-reason.test.ts checks it without a browser.
 */
import type { EventRecord } from '../../../../record/types.js';

/** The moment a run was killed, as the run page marks it on its chart. */
export interface KillMoment {
  /** Time since the run started, ms. */
  elapsed_ms: number;
  /** The event that marks it. */
  kind: 'limit_exceeded' | 'signal_sent' | 'kernel_oom_kill';
}

/**
 * When the run was killed: the limit_exceeded event (the decision), else the first signal_sent (a
 * cancel, orphans), else the kernel's OOM kill; null when none of them happened.
 * @param events the run's events, oldest first
 */
export function killMoment(events: readonly EventRecord[]): KillMoment | null {
  for (const kind of ['limit_exceeded', 'signal_sent', 'kernel_oom_kill'] as const) {
    const event = events.find((e) => e.kind === kind);
    if (event) return { elapsed_ms: event.elapsed_ms, kind };
  }
  return null;
}
