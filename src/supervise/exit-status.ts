/**
 * The exit-status contract (docs/design.md §2), after timeout(1), tini and Kubernetes, so scripts
 * can branch on why a run ended.
 */
import { constants } from 'node:os';
import type { CancelRequest, HostPressure } from '../record/cancel-request.js';
import type { RunStatus } from '../record/types.js';
import type { RunOomCounts } from '../track/select.js';

import { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_OUT_OF_MEMORY, EXIT_TIMEOUT, exitStatusOfSignal } from '../config/exit-codes.js';

/** Why we stopped a run, if we did. */
export type StopReason =
  | { kind: 'timeout' }
  | { kind: 'memory'; rssBytes: number; pssBytes: number }
  /** `request`: who asked and why, when `scidex-watchdog cancel` sent the signal (record/cancel-request.ts). */
  | { kind: 'cancelled'; signal: NodeJS.Signals; request?: CancelRequest }
  /** The scheduler's own time limit (Slurm's, told by scontrol), arriving as `signal` from it: a timeout, not a cancel. */
  | { kind: 'slurm_time_limit'; signal: NodeJS.Signals; jobId: string }
  /**
   * The daemon's memory-pressure guard chose this run to free the host's memory (record/cancel-request.ts
   * HostPressure): out of memory, 137, as for the memory limit, with a grace period of `graceMs`
   * (the run's own, at most 2 s). `request` is the daemon's request, who asked.
   */
  | { kind: 'host_pressure'; pressure: HostPressure; graceMs: number; request: CancelRequest }
  /**
   * The kernel's OOM killer killed inside the run's memory cgroup (the backstop above the limit, or a
   * job's limit above the run): `counts` as read then, `victimPid` the leader's when it died of a
   * SIGKILL not ours, `backstopBytes` the run's backstop (null when it had none).
   */
  | { kind: 'kernel_oom'; counts: RunOomCounts; victimPid: number | null; backstopBytes: number | null };

/**
 * How the leader ended, as Node's 'exit' event reports it: exactly one of the two is set, unless
 * `unknown`: an adopted leader is not our child, and how it ended may be unknown to us (both null).
 */
export interface LeaderExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  unknown?: true;
}

/** The leader's own status as a shell would report it: N, or 128 + signal number. */
export function leaderStatus(exit: LeaderExit): number {
  if (exit.code !== null) return exit.code;
  return 128 + (exit.signal ? (constants.signals[exit.signal] ?? 0) : 0);
}

/**
 * The run's status and scidex-run's exit status.
 * @param preserveStatus --preserve-status: the leader's own status even after a kill
 */
export function runOutcome(
  exit: LeaderExit,
  stop: StopReason | undefined,
  preserveStatus: boolean,
): { status: RunStatus; exitStatus: number } {
  const own = leaderStatus(exit);
  if (!stop) return { status: own === 0 ? 'completed' : 'failed', exitStatus: own };
  switch (stop.kind) {
    case 'timeout':
    case 'slurm_time_limit':
      return { status: 'timeout', exitStatus: preserveStatus ? own : EXIT_TIMEOUT };
    case 'memory':
    case 'host_pressure':
    case 'kernel_oom':
      return { status: 'out_of_memory', exitStatus: preserveStatus ? own : EXIT_OUT_OF_MEMORY };
    case 'cancelled':
      return { status: 'cancelled', exitStatus: preserveStatus ? own : exitStatusOfSignal(stop.signal) };
  }
}

/**
 * The ending of an adopted run (`scidex-watchdog adopt`): as far as it can be known to a supervisor
 * that is not the process's parent. The supervisor's own exit status means nothing to anyone.
 *   - the kernel told how it ended (adopted-leader.ts): its own status, N or
 *     128+S, under the status a spawned run would get (completed or failed, or the stop's);
 *   - it did not: stopped by us, the stop's status with 128 + the last signal of ours the process
 *     received (`killedWith`), exit code and signal unknown (null); ended by itself, `exited`, with
 *     every figure of its end unknown (null).
 * @param killedWith the last signal we sent the leader, if any
 */
export function adoptedOutcome(
  exit: LeaderExit,
  stop: StopReason | undefined,
  killedWith: NodeJS.Signals | undefined,
): { status: RunStatus; exitStatus: number | null; exitCode: number | null; signal: string | null } {
  if (!exit.unknown) {
    const { status, exitStatus } = runOutcome(exit, stop, true);
    return { status, exitStatus, exitCode: exit.code, signal: exit.signal };
  }
  if (!stop) return { status: 'exited', exitStatus: null, exitCode: null, signal: null };
  const { status } = runOutcome({ code: 0, signal: null }, stop, false);
  return { status, exitStatus: killedWith ? exitStatusOfSignal(killedWith) : null, exitCode: null, signal: null };
}

/** 127 for a command that does not exist, 126 for one that exists but cannot be executed. */
export function spawnFailureStatus(errorCode: string | undefined): number {
  return errorCode === 'ENOENT' ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
}

/**
 * The stops that are a limit crossed, a breach (the tick ring journals its ticks at one,
 * tick-ring.ts): the timeout, the memory limit, the host's memory pressure, the kernel's OOM kill and
 * Slurm's time limit. A cancel is none: someone asked, nothing was exceeded; nor is the termination
 * of orphans, nor an internal error, which are no stops at all.
 */
const BREACHES: ReadonlySet<StopReason['kind']> = new Set(['timeout', 'memory', 'host_pressure', 'kernel_oom', 'slurm_time_limit']);

/** Whether the stop is a limit crossed (BREACHES). */
export function isBreach(stop: StopReason): boolean {
  return BREACHES.has(stop.kind);
}

/** The reason of the stop's signal events: the stop's kind; report/run-end.ts matches on it. */
export function stopReasonText(stop: StopReason): string {
  return stop.kind;
}

/** The run row's reason: `cancelled: <reason>` for a cancel asked with --reason, else stopReasonText. */
export function runReasonText(stop: StopReason): string {
  return stop.kind === 'cancelled' && stop.request?.reason ? `cancelled: ${stop.request.reason}` : stopReasonText(stop);
}

/** The grace period of the stop's termination sequence, milliseconds: a host-pressure stop's own, else the run's (--grace). */
export function graceOf(stop: StopReason | undefined, graceMs: number): number {
  return stop?.kind === 'host_pressure' ? Math.min(stop.graceMs, graceMs) : graceMs;
}

/** The first signal of the stop's termination sequence: the cancelling signal itself, or `killSignal` (--signal) for a limit. */
export function firstSignalOf(stop: StopReason, killSignal: NodeJS.Signals): NodeJS.Signals {
  return stop.kind === 'cancelled' || stop.kind === 'slurm_time_limit' ? stop.signal : killSignal;
}
