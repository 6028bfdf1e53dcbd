/**
 * The records of a termination sequence: a signal_sent event per pass that reached anyone, a
 * process_killed event per member that died after a signal of ours, a kill_failed event per cgroup
 * control file the kernel refused to write. Shared by the supervisor and the reaper, so both tell a
 * kill the same way.
 */
import { redactArgv } from './redact.js';
import type { RunLog } from './run-log.js';
import type { ProcessFate, ProcessSeen, TreeSeen } from './types.js';

export interface TerminationRecordOptions<S extends TreeSeen> {
  /** The leader's pid, for the signal_sent events. */
  leaderPid?: number | null;
  /** Tree PSS at the moment, bytes, when it was read. */
  pssBytes?: () => number | null;
  /** Called with each scan the sequence took. */
  observe?: (snapshot: S) => void;
  /** Extra detail for signal_sent events. */
  detail?: (snapshot: S) => Record<string, unknown>;
}

/** How a member ended, from the last signal we sent it: SIGKILL killed, another signal terminated. */
export function fateOf<P extends ProcessSeen>(member: P, lastSignal: ReadonlyMap<P, NodeJS.Signals>): ProcessFate {
  if (member.alive) return 'left_running';
  const signal = lastSignal.get(member);
  return signal === 'SIGKILL' ? 'killed' : signal ? 'terminated' : 'exited';
}

/**
 * A cgroup control file the kernel refused to write, by the shape of terminate/cgroup-kill.ts's
 * CgroupWriteError: the operation, the file, and the errno name (EACCES, EROFS, ...).
 */
export interface CgroupRefusal {
  operation: 'freeze' | 'thaw' | 'kill';
  path: string;
  code: string;
}

/** The hooks of a termination sequence (terminate/sequence.ts TerminationHooks), as records see them. */
export interface TerminationRecordHooks<P extends ProcessSeen, S extends TreeSeen> {
  onSignal(signal: NodeJS.Signals, reached: P[], snapshot: S): void;
  onEnded(member: P): void;
  onKillFailed(error: CgroupRefusal): void;
}

/** What is done instead of a refused cgroup write (terminate/sequence.ts), as kill_failed says it. */
const FALLBACKS: Record<CgroupRefusal['operation'], string> = {
  freeze: 'the processes stopped by SIGSTOP instead, then a re-scan',
  kill: 'SIGKILL to each member',
  thaw: 'none: the members stay frozen',
};

/**
 * Journals a kill_failed event: the cgroup control file the kernel refused to write (`detail.path`),
 * its errno name (`detail.errno`), the operation and what is done instead.
 */
export function recordKillFailure(log: RunLog, reason: string, error: CgroupRefusal): void {
  const detail = { operation: error.operation, path: error.path, errno: error.code, fallback: FALLBACKS[error.operation] };
  log.event('kill_failed', { reason, detail }, true);
}

/**
 * Hooks that journal the sequence under `reason`, and remember in `lastSignal` the last signal
 * each member received (its fate: SIGKILL means killed, another signal terminated).
 */
export function recordTermination<P extends ProcessSeen, S extends TreeSeen>(
  log: RunLog,
  reason: string,
  lastSignal: Map<P, NodeJS.Signals>,
  options: TerminationRecordOptions<S> = {},
): TerminationRecordHooks<P, S> {
  let treeRssBytes = 0;
  return {
    onSignal: (signal, reached, snapshot) => {
      treeRssBytes = snapshot.rssBytes;
      options.observe?.(snapshot);
      for (const member of reached) lastSignal.set(member, signal);
      if (reached.length === 0) return;
      log.event(
        'signal_sent',
        {
          reason,
          signal,
          pid: options.leaderPid ?? null,
          pids: reached.map((member) => member.pid),
          rss_bytes: snapshot.rssBytes,
          pss_bytes: options.pssBytes?.() ?? null,
          detail: options.detail?.(snapshot) ?? {},
        },
        true,
      );
    },
    onEnded: (member) => {
      const signal = lastSignal.get(member);
      if (!signal) return;
      log.event('process_killed', {
        reason,
        signal,
        pid: member.pid,
        process_rss_bytes: member.rssBytes,
        rss_bytes: treeRssBytes,
        detail: { argv: redactArgv(member.argv), starttime: member.starttime, found_by: member.foundBy },
      });
    },
    onKillFailed: (error) => recordKillFailure(log, reason, error),
  };
}
