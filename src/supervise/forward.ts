/**
 * Signals sent to the wrapper, tini-style: every one of these is forwarded to the whole run, so
 * `kill -USR1 <wrapper>` works as if the analysis had been started directly. SIGINT, SIGTERM and
 * SIGHUP also cancel the run: they become the first signal of the termination sequence.
 */
import { execFileSync } from 'node:child_process';
import { endedForTimeLimit, slurmJob } from '../config/slurm.js';
import type { StopReason } from './exit-status.js';

export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
export const CANCELLING_SIGNALS: ReadonlySet<NodeJS.Signals> = new Set(['SIGINT', 'SIGTERM', 'SIGHUP']);

/**
 * Installs `handler` for every forwarded signal, replacing Node's default of dying on them, for the
 * rest of the process's life: a signal while the last records are shipped must not kill us either.
 */
export function onWrapperSignals(handler: (signal: NodeJS.Signals) => void): void {
  for (const signal of FORWARDED_SIGNALS) process.on(signal, handler);
}

/**
 * The stop a cancelling signal means when no `scidex-watchdog cancel` request came with it: inside a
 * Slurm job, Slurm's SIGTERM for the job's time limit is a timeout (`scontrol -o show job` says
 * which); anything else is a cancel.
 */
export function schedulerStop(signal: NodeJS.Signals): StopReason {
  const jobId = slurmJob(process.env).slurm_job_id;
  if (jobId === null || signal !== 'SIGTERM') return { kind: 'cancelled', signal };
  const scontrol = () => execFileSync('scontrol', ['-o', 'show', 'job', jobId], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
  return endedForTimeLimit(scontrol) ? { kind: 'slurm_time_limit', signal, jobId } : { kind: 'cancelled', signal };
}
