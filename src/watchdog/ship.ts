/**
 * Shipping leftover journals: records that waited in the state directory while PostgreSQL was down
 * or not configured. Every write is idempotent (UUID keys, run rows by revision), so a journal is
 * shipped whole each time, from its first line, and shipping twice changes nothing. A journal gets
 * its `<run>.shipped` mark once all its lines are in and its run is over (no marker any more);
 * marked journals are skipped. Lines that are not JSON (a torn last line after a crash) are
 * reported with their file and line number, and the good lines around them still ship.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { DatabaseConfig } from '../config/database.js';
import { withClient } from '../record/connect.js';
import { readJournal, type BadJournalLine } from '../record/journal.js';
import { markerPath } from '../record/markers.js';
import { migrate } from '../record/migrate.js';
import { unshippedJournals } from '../record/unshipped.js';
import { describeDatabaseError } from '../record/db-error.js';
import { shipEntries } from '../record/ship.js';

/** What became of one journal. */
export interface ShipOutcome {
  journal: string;
  /** Lines written (again) to PostgreSQL. */
  shipped: number;
  bad: BadJournalLine[];
  /** The journal is complete in PostgreSQL and its run over: marked shipped. */
  done: boolean;
  /** Why PostgreSQL refused the journal's lines, when it did (they stay, unmarked). */
  error?: string;
}

/**
 * Ships every unshipped journal of `stateDir` over one connection.
 * @throws the database's error when it cannot be reached (nothing is marked then)
 */
export async function shipStateDir(stateDir: string, database: DatabaseConfig): Promise<ShipOutcome[]> {
  const journals = unshippedJournals(stateDir);
  if (journals.length === 0) return [];
  return withClient(database, async (client) => {
    await migrate(client);
    const outcomes: ShipOutcome[] = [];
    for (const journal of journals) {
      const { entries, bad } = readJournal(journal);
      try {
        await shipEntries(client, entries);
      } catch (error) {
        outcomes.push({ journal, shipped: 0, bad, done: false, error: describeDatabaseError(error) });
        continue;
      }
      const running = runStillMarked(stateDir, journal);
      if (!running) writeFileSync(`${journal.slice(0, -'.jsonl'.length)}.shipped`, '', { mode: 0o600 });
      outcomes.push({ journal, shipped: entries.length, bad, done: !running });
    }
    return outcomes;
  });
}

/** Whether the run a journal belongs to (`<run-id>[.suffix].jsonl`) still has its marker. */
function runStillMarked(stateDir: string, journal: string): boolean {
  const runId = journal.slice(journal.lastIndexOf('/') + 1).split('.')[0];
  try {
    return existsSync(markerPath(stateDir, runId));
  } catch {
    return false;
  }
}
