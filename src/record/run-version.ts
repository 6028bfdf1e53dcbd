/**
 * Which version of a run row wins. The journal of a run holds several versions of its row (start,
 * heartbeats, end; a reaper's `lost`), and they may reach PostgreSQL in any order and any number of
 * times. The same rule decides in SQL (sql.ts, the upsert's WHERE) and in memory (a batch, a query
 * of the journals), so that every reader agrees on a run's state.
 */
import type { RunRecord } from './types.js';

/**
 * A version's standing, before its revision: every ending (0 < 1, 2) outranks every running version,
 * and the wrapper's own ending outranks a reaper's `lost`. Revisions alone cannot decide between
 * writers: a wrapper whose journal lost lines to a full disk shipped newer running versions from
 * memory, and the reaper that finishes its run numbers its ending from the journal, below them.
 */
function standing(status: RunRecord['status']): number {
  return status === 'running' ? 0 : status === 'lost' ? 1 : 2;
}

/**
 * Whether `candidate` replaces `current`: a higher standing (an ending over a running version, the
 * wrapper's own ending over a reaper's `lost`), else a higher revision. A total order, so the winner
 * does not depend on the order in which versions arrive.
 */
export function supersedes(candidate: Pick<RunRecord, 'revision' | 'status'>, current: Pick<RunRecord, 'revision' | 'status'>): boolean {
  const [rank, currentRank] = [standing(candidate.status), standing(current.status)];
  return rank !== currentRank ? rank > currentRank : current.revision < candidate.revision;
}

/** The winning version of each run among `versions`, in the order the runs first appear. */
export function latestVersions(versions: Iterable<RunRecord>): RunRecord[] {
  const latest = new Map<string, RunRecord>();
  for (const version of versions) {
    const current = latest.get(version.id);
    if (!current || supersedes(version, current)) latest.set(version.id, version);
  }
  return [...latest.values()];
}
