/**
 * The reaper's pass over PostgreSQL: rows of this host still `running` that have no marker here
 * (the state directory was wiped, or another state directory was used). Each is finished like a
 * marked run, with a journal of its own for the reaper's records, shipped at once.
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { DatabaseConfig } from '../config/database.js';
import { anyProcessWritesTo } from '../proc/identity.js';
import { wrapperAlive } from '../proc/liveness.js';
import { failpoint } from '../sys/failpoint.js';
import { Journal, readJournal } from '../record/journal.js';
import { markerPath, runStateDirs } from '../record/markers.js';
import { withSchema } from '../record/migrate.js';
import { selectRunningRuns, stillRunning, tryLockRun, unlockRun } from '../record/sql.js';
import type pg from 'pg';
import { shipJournal } from '../record/ship.js';
import { finishLostRun, type ReapOptions, type ReapOutcome } from './reap.js';
import type { RunRecord } from '../record/types.js';

/**
 * Finishes the database's running rows of this host whose wrapper is gone.
 * @throws the database's error when it cannot be reached
 */
export async function reapDatabaseRows(
  database: DatabaseConfig,
  options: ReapOptions,
  /** Runs to leave out: the ones the marker pass of this sweep already handled. */
  skip: ReadonlySet<string>,
  onlyRunId?: string,
): Promise<ReapOutcome[]> {
  return withSchema(database, async (client) => {
    const rows = await selectRunningRuns(client, hostname());
    failpoint('reap-rows-read');
    const outcomes: ReapOutcome[] = [];
    for (const row of rows) {
      if ((onlyRunId !== undefined && row.id !== onlyRunId) || skip.has(row.id)) continue;
      // A run with a marker, here or in its own state directory, is its marker reapers' to finish.
      if (runStateDirs(row, options.stateDir).some((stateDir) => existsSync(markerPath(stateDir, row.id)))) continue;
      // One reaper per run across every state directory and host process: PostgreSQL's advisory
      // lock, then the row read again (another reaper may have finished it just before).
      if (!(await tryLockRun(client, row.id))) {
        outcomes.push({ runId: row.id, verdict: 'busy', killed: 0, refused: 0, survivors: 0 });
        continue;
      }
      try {
        if (!(await stillRunning(client, row.id))) continue;
        outcomes.push(...(await reapRow(client, row, options)));
      } finally {
        await unlockRun(client, row.id);
      }
    }
    return outcomes;
  });
}

/** Finishes one running row with no marker here, under its advisory lock. */
async function reapRow(client: pg.Client, row: RunRecord, options: ReapOptions): Promise<ReapOutcome[]> {
  // A run that ended while the database was down: its journal says so; ship it, do not reap.
  const endedJournal = ownJournals(row, options.stateDir).find((path) => endedInJournal(path, row.id));
  if (endedJournal) {
    await shipJournal(client, endedJournal, 0);
    return [];
  }
  // The row's wrapper pid and starttime are only what some writer said. The kernel's word: a wrapper
  // holds its journal open for writing from before its marker to its end, wherever its state directory is.
  if (wrapperAlive(row) || anyProcessWritesTo(`/journal/${row.id}.jsonl`)) return [{ runId: row.id, verdict: 'alive', killed: 0, refused: 0, survivors: 0 }];
  const journal = Journal.create(join(options.stateDir, 'journal'), `${row.id}.reaped-${Date.now()}`);
  return [await finishLostRun(row, row, journal, options)];
}

/** Where the run's own journal may be: in each state directory its marker may be in (markers.ts runStateDirs). */
function ownJournals(row: RunRecord, stateDir: string): string[] {
  return runStateDirs(row, stateDir).map((dir) => join(dir, 'journal', `${row.id}.jsonl`));
}

/** Whether the journal at `path` holds an ended version of run `runId` (false when it cannot be read). */
function endedInJournal(path: string, runId: string): boolean {
  try {
    return readJournal(path).entries.some((entry) => entry.table === 'runs' && entry.record.id === runId && entry.record.ended_at !== null);
  } catch {
    return false;
  }
}
