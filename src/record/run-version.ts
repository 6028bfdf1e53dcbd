/**
 * Which version of a run row wins. The journal of a run holds several versions of its row (start,
 * heartbeats, end; a reaper's `lost`), and they may reach PostgreSQL in any order and any number of
 * times. The same rule decides in SQL (sql.ts, the upsert's WHERE) and in memory (a batch, a query
 * of the journals), so that every reader agrees on a run's state.
 */
import type { RunRecord } from './types.js';

/**
 * Whether `candidate` replaces `current`: a higher revision, or the wrapper's own ending over a
 * reaper's guess that the run was lost (its records arrived late).
 */
export function supersedes(candidate: Pick<RunRecord, 'revision' | 'status'>, current: Pick<RunRecord, 'revision' | 'status'>): boolean {
  return current.revision < candidate.revision || (current.status === 'lost' && candidate.status !== 'running' && candidate.status !== 'lost');
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
