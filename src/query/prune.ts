/**
 * Retention: `scidex-watchdog prune` deletes the runs that ended before a cutoff, with their events,
 * processes and samples, and every sample older than the cutoff (those of runs still going too).
 * A run still running is never deleted, however old.
 */
import type { ClientBase } from 'pg';

const ENDED_BEFORE = `SELECT id FROM watchdog_runs WHERE ended_at < $1 AND status <> 'running'`;

// Children first and explicitly, though the runs' foreign keys cascade: a cascade's deletions are not counted.
const DELETES = [
  ['events', `DELETE FROM watchdog_events WHERE run_id IN (${ENDED_BEFORE})`],
  ['processes', `DELETE FROM watchdog_processes WHERE run_id IN (${ENDED_BEFORE})`],
  ['samples', `DELETE FROM watchdog_samples WHERE at < $1 OR run_id IN (${ENDED_BEFORE})`],
  ['runs', `DELETE FROM watchdog_runs WHERE id IN (${ENDED_BEFORE})`],
] as const;

/** Rows deleted per table. */
export type PruneCounts = Record<(typeof DELETES)[number][0], number>;

/**
 * Deletes what is older than `cutoff` (an ISO time) in one transaction. With `dryRun` the same
 * deletions are made and rolled back, so the counts are exactly those a prune would give now.
 * @returns rows deleted (or that would be) per table
 * @throws pg errors (nothing is deleted then)
 */
export async function prune(client: ClientBase, cutoff: string, dryRun: boolean): Promise<PruneCounts> {
  await client.query('BEGIN');
  try {
    const counts = { runs: 0, events: 0, processes: 0, samples: 0 };
    for (const [table, sql] of DELETES) counts[table] = (await client.query(sql, [cutoff])).rowCount ?? 0;
    await client.query(dryRun ? 'ROLLBACK' : 'COMMIT');
    return counts;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
