/**
 * The facts of a finished run that reports to the outside (the Pushgateway, CI annotations) need,
 * taken from the run's last journaled row so that they say what the records say.
 */
import type { RunRecord } from '../record/types.js';

/**
 * Why a run was killed: scidex-run's own limits or leftovers, the host daemon's memory-pressure guard
 * (host_pressure), or the kernel's OOM killer at the memory backstop (kernel_oom); never a cancel
 * asked by the user.
 */
export type KillReason = 'timeout' | 'memory' | 'host_pressure' | 'kernel_oom' | 'orphans';

/** The final figures of a run. Durations in seconds, memory in bytes, times in seconds since the epoch. */
export interface RunEnd {
  /** The last version of the run row (status, exit status, peaks, CPU). */
  record: RunRecord;
  /** Set when scidex-run (or the kernel's OOM killer inside the run) killed processes for a limit or for orphans; undefined otherwise. */
  killedFor: KillReason | undefined;
  /** ended_at - started_at, seconds (0 when the row has no end, which a finished run never lacks). */
  durationSeconds: number;
  /** ended_at, seconds since the epoch; the time of the report when the row has no end. */
  endedAtSeconds: number;
}

/**
 * Builds the RunEnd of a finished run.
 * @param record the run row's last version (RunLog.lastRun)
 * @param signalledFor the reasons under which our signals reached members (RunLog.signalledFor): a
 *        run whose command exited by itself but whose orphans we signalled was killed for `orphans`
 */
export function runEnd(record: RunRecord, signalledFor: ReadonlySet<string>): RunEnd {
  const startedMs = Date.parse(record.started_at);
  const endedMs = record.ended_at ? Date.parse(record.ended_at) : Date.now();
  return {
    record,
    killedFor: killReason(record, signalledFor),
    durationSeconds: Math.max(0, (endedMs - startedMs) / 1000),
    endedAtSeconds: endedMs / 1000,
  };
}

function killReason(record: RunRecord, signalledFor: ReadonlySet<string>): KillReason | undefined {
  // The status says timeout or out_of_memory even when the tree was already empty at the kill, and
  // with --preserve-status too: the limit was what ended the run.
  if (record.status === 'timeout') return 'timeout';
  if (record.status === 'out_of_memory') return record.reason === 'host_pressure' || record.reason === 'kernel_oom' ? record.reason : 'memory';
  if (signalledFor.has('orphans')) return 'orphans';
  return undefined;
}
