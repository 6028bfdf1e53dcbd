/**
 * Shipping leftover journals: records that waited in the state directory while PostgreSQL was down
 * or not configured. Every write is idempotent (UUID keys, run rows by revision), so a journal is
 * shipped whole each time, from its first line, and shipping twice changes nothing. A journal gets
 * its `<run>.shipped` mark once all its lines are in and its run is over (no marker any more);
 * marked journals are skipped, and removed after the retention period. Lines that are not JSON (a
 * torn last line after a crash) are reported with their file and line number, records PostgreSQL
 * refuses are set aside with the reason, and the good lines around them still ship.
 *
 * One shipper per state directory at a time (`<state>/journal/.ship.lock`): when many runs start
 * at once after an outage, one connection drains the backlog instead of one per run.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { DatabaseConfig } from '../config/database.js';
import { withClient } from '../record/connect.js';
import type { BadJournalLine } from '../record/journal.js';
import { releaseLock, takeLock } from '../record/lock-file.js';
import { markerPath } from '../record/markers.js';
import { migrate } from '../record/migrate.js';
import { describeDatabaseError } from '../record/db-error.js';
import { shipJournal } from '../record/ship.js';
import { removeExpiredJournals, shipLockPath, unshippedJournals } from '../record/journal-files.js';

/** What became of one journal. */
export interface ShipOutcome {
  journal: string;
  /** Lines written (again) to PostgreSQL, refused ones included. */
  shipped: number;
  bad: BadJournalLine[];
  /** Records PostgreSQL refused, set aside at `rejectedPath` with the reason. */
  rejected: number;
  rejectedPath?: string;
  /** The journal is complete in PostgreSQL and its run over: marked shipped. */
  done: boolean;
  /** Why the journal could not be shipped, when it could not (it stays, unmarked). */
  error?: string;
}

/** The result of one `ship` sweep of a state directory. */
export interface ShipSweep {
  outcomes: ShipOutcome[];
  /** Shipped journals removed because their retention period was over. */
  expired: string[];
  /** Another shipper holds the state directory's lock: nothing was done. */
  busy: boolean;
}

/**
 * Ships every unshipped journal of `stateDir` over one connection, then removes shipped journals
 * older than `retentionMs`.
 * @throws the database's error when it cannot be reached (nothing is marked then)
 */
export async function shipStateDir(
  stateDir: string,
  database: DatabaseConfig,
  retentionMs: number,
  /** Journals to leave for now (the daemon leaves those of live runs to their own wrapper's heartbeats). */
  skip?: (journal: string) => boolean,
): Promise<ShipSweep> {
  const lock = shipLockPath(stateDir);
  if (!takeLock(lock)) return { outcomes: [], expired: [], busy: existsSync(lock) };
  try {
    const journals = unshippedJournals(stateDir).filter((journal) => !skip?.(journal));
    const outcomes = journals.length === 0 ? [] : await withClient(database, async (client) => {
      await migrate(client);
      const results: ShipOutcome[] = [];
      for (const journal of journals) results.push(await shipOne(client, stateDir, journal));
      return results;
    });
    return { outcomes, expired: removeExpiredJournals(stateDir, retentionMs), busy: false };
  } finally {
    releaseLock(lock);
  }
}

async function shipOne(client: Parameters<typeof shipJournal>[0], stateDir: string, journal: string): Promise<ShipOutcome> {
  try {
    const shipment = await shipJournal(client, journal, 0);
    const running = runStillMarked(stateDir, journal);
    if (!running) writeFileSync(`${journal.slice(0, -'.jsonl'.length)}.shipped`, '', { mode: 0o600 });
    const { shipped, bad, rejected, rejectedPath } = shipment;
    return { journal, shipped, bad, rejected: rejected.length, rejectedPath, done: !running };
  } catch (error) {
    // A journal that cannot be read, or a database that went away in the middle: the next sweep retries.
    return { journal, shipped: 0, bad: [], rejected: 0, done: false, error: describeDatabaseError(error) };
  }
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
