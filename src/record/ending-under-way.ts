/**
 * The ending a wrapper had begun when it died. A wrapper journals why it stops a run (the
 * `cancel_requested`, `limit_exceeded` or `kernel_oom_kill` event) before it sends the first signal, so a wrapper
 * SIGKILLed during its grace period (a scheduler's SIGKILL after KillWait, the OOM killer) has
 * already written what was under way. The reaper that finishes such a run records that ending
 * (cancelled 128+signal, timeout 124, out of memory 137 for the memory limit, the daemon's
 * host-pressure stop or the kernel's OOM kill), not a bare `lost`: the run_lost event still says the
 * wrapper was gone. An adopting supervisor journals a release (`released`) before it gives the tree
 * back: the reaper then records the release, and signals nothing.
 */
import { EXIT_OUT_OF_MEMORY, EXIT_TIMEOUT, exitStatusOfSignal } from '../config/exit-codes.js';
import { parseSignal } from '../config/signal.js';
import type { JournalEntry, RunStatus } from './types.js';

/** The final fields of a run whose ending was under way. */
export interface EndingUnderWay {
  status: RunStatus;
  /** Null for a release: nothing was signalled, and how the process ends is no run's any more. */
  exit_status: number | null;
  /** The stop's reason, as the wrapper would have recorded it: cancelled, timeout, slurm_time_limit, memory, host_pressure, kernel_oom. */
  reason: string;
}

/**
 * The ending under way in a journal's entries: its first stop event, when there is one.
 * @returns undefined when the wrapper had not begun to stop the run (or the event names no signal it could send)
 */
export function endingUnderWay(entries: readonly JournalEntry[]): EndingUnderWay | undefined {
  for (const entry of entries) {
    if (entry.table !== 'events') continue;
    const { kind, reason, signal } = entry.record;
    // An adopted run's release (`scidex-watchdog release`): its tree is no longer the run's, and
    // its reaper signals nothing of it. A release refused (a stop was under way) is no ending.
    if (kind === 'released' && reason === 'released') return { status: 'released', exit_status: null, reason: 'released' };
    if (kind === 'cancel_requested') {
      const name = signalName(signal);
      return name ? { status: 'cancelled', exit_status: exitStatusOfSignal(name), reason: 'cancelled' } : undefined;
    }
    if (kind === 'limit_exceeded' && (reason === 'timeout' || reason === 'slurm_time_limit')) return { status: 'timeout', exit_status: EXIT_TIMEOUT, reason };
    if (kind === 'limit_exceeded' && (reason === 'memory' || reason === 'host_pressure')) return { status: 'out_of_memory', exit_status: EXIT_OUT_OF_MEMORY, reason };
    if (kind === 'kernel_oom_kill') return { status: 'out_of_memory', exit_status: EXIT_OUT_OF_MEMORY, reason: 'kernel_oom' };
  }
  return undefined;
}

function signalName(signal: string | null): NodeJS.Signals | undefined {
  try {
    return signal === null ? undefined : parseSignal(signal, 'signal').name;
  } catch {
    return undefined;
  }
}
