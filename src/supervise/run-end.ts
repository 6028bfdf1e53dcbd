/**
 * A run's last records, the same for every way it can end: its processes with their fates, the
 * run_finished event and the final version of the run row, written together (RunLog.together:
 * a reader sees all of them or none), the row last, as the journal protocol's end
 * (docs/records.md); then the one-line summary. The Supervisor decides how the run ended; this
 * module only writes it, for a spawned run, an adopted one and a released one.
 */
import type { ReleaseRequest } from '../record/cancel-request.js';
import type { RunLog, RunProgress } from '../record/run-log.js';
import { fateOf } from '../record/termination-records.js';
import type { ProcessFate } from '../record/types.js';
import type { Member } from '../track/member.js';
import { runEndLine } from './announce.js';
import { adoptedOutcome, runReasonText, type LeaderExit, type StopReason } from './exit-status.js';

/** The outcome fields of the run row (record/run-log.ts NOT_ENDED while the run goes on). */
export type RunEnding = Pick<RunProgress, 'ended_at' | 'status' | 'exit_status' | 'exit_code' | 'signal' | 'reason'>;

/** What the last records are written from: the Supervisor's state at the end. */
export interface EndContext {
  log: RunLog;
  /** Where the summary line goes (silenced by --quiet). */
  info(line: string): void;
  /** Every member ever seen, as last scanned. */
  members: readonly Member[];
  /** The last signal of ours each member received. */
  lastSignal: ReadonlyMap<Member, NodeJS.Signals>;
  /** The leader's pid. */
  leaderPid: number;
  /** The tree's peak RSS and PSS (null: never read), bytes. */
  peakRssBytes: number;
  peakPssBytes: number | null;
  /** The run row with `ending` (Supervisor.row: the one place a row is built). */
  row(ending: RunEnding): RunProgress;
}

/**
 * Writes the last records and the summary line.
 * @param ending the run row's outcome; its reason and signal are the event's too
 * @param detail the run_finished event's detail
 * @param fate each member's fate; by default from the signals it received (fateOf)
 */
export function recordRunEnd(context: EndContext, ending: Omit<RunEnding, 'ended_at'>, detail: Record<string, unknown>, fate?: (member: Member) => ProcessFate): void {
  const { log } = context;
  log.together(() => {
    log.processes(context.members, fate ?? ((member) => fateOf(member, context.lastSignal)));
    log.event('run_finished', { reason: ending.reason, pid: context.leaderPid, signal: ending.signal, rss_bytes: context.peakRssBytes, pss_bytes: context.peakPssBytes, detail }, true);
    log.run(context.row({ ended_at: new Date().toISOString(), ...ending }));
  });
  context.info(runEndLine(log.lastRun!, log.elapsedMs()));
}

/**
 * The end of an adopted run, as far as a supervisor that is not its parent knows it
 * (exit-status.ts adoptedOutcome). @returns the adopter's exit status, 0: the run's is in its records
 */
export function recordAdoptedEnd(context: EndContext, exit: LeaderExit, stop: StopReason | undefined): number {
  const leader = context.members.find((member) => member.foundBy === 'leader');
  const killedWith = leader ? context.lastSignal.get(leader) : undefined;
  const outcome = adoptedOutcome(exit, stop, killedWith);
  const reason = stop ? runReasonText(stop) : outcome.status === 'exited' ? 'exit status unknown to an adopter' : null;
  recordRunEnd(context, { status: outcome.status, exit_status: outcome.exitStatus, exit_code: outcome.exitCode, signal: outcome.signal, reason }, {
    status: outcome.status,
    exit_status: outcome.exitStatus,
    exit_code: outcome.exitCode,
    exit_known: !exit.unknown,
    ...(exit.unknown ? { why_unknown: 'not our child: its parent reaps it, and the kernel did not tell its status (Linux < 6.15, or not reaped within 1 s)' } : {}),
    ...(exit.unknown && killedWith ? { last_signal_of_ours: killedWith } : {}),
  });
  return 0;
}

/**
 * The end of a released run: its processes left running, the row `released`.
 * @param stuck the pids that could not be moved back out of the run cgroup
 * @returns the adopter's exit status, 0
 */
export function recordReleased(context: EndContext, request: ReleaseRequest, stuck: readonly number[]): number {
  const reason = request.reason ? `released: ${request.reason}` : 'released';
  const leftRunning = context.members.filter((member) => member.alive).map((member) => member.pid);
  const detail = { status: 'released', requested_by: request.requested_by, left_running: leftRunning, ...(stuck.length > 0 ? { still_in_run_cgroup: stuck } : {}) };
  recordRunEnd(context, { status: 'released', exit_status: null, exit_code: null, signal: null, reason }, detail);
  return 0;
}
