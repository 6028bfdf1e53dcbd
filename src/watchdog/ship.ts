/**
 * Shipping leftover journals: records that waited in the state directory while PostgreSQL was down
 * or not configured. Every write is idempotent (UUID keys, run rows by revision), so a journal is
 * shipped whole each time, from its first line, and shipping twice changes nothing. A journal gets
 * its `<run>.shipped` mark only when the lines this shipper read and wrote held the run's
 * final version (docs/records.md): what the file holds at that moment, never whether the run's
 * marker is still there; marked journals are skipped, and removed after the retention period. Lines that are not JSON (a
 * torn last line after a crash) are reported with their file and line number, records PostgreSQL
 * refuses are set aside with the reason, and the good lines around them still ship.
 *
 * One shipper per state directory at a time (`<state>/journal/.ship.lock`): when many runs start
 * at once after an outage, one connection drains the backlog instead of one per run.
 */
import { existsSync, statSync } from 'node:fs';
import type { DatabaseConfig } from '../config/database.js';
import type { BadJournalLine } from '../record/journal.js';
import { releaseLock, takeLock } from '../record/lock-file.js';
import { withSchema } from '../record/migrate.js';
import { describeDatabaseError } from '../record/db-error.js';
import { shipJournal } from '../record/ship.js';
import { finishedUnshippedJournals, markShipped, removeAbandonedJournals, removeExpiredJournals, shipLockPath, unshippedJournals } from '../record/journal-files.js';
import { failpoint } from '../sys/failpoint.js';
import { basename } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { runWritersDone } from '../record/sql.js';
import { backoffMs } from '../record/backoff.js';
import { setTimeout as sleep } from 'node:timers/promises';

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
  /** The journal's size before this shipment read it, bytes (-1 when it could not be read). */
  size: number;
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
    return await shipLocked(stateDir, database, retentionMs, skip);
  } finally {
    releaseLock(lock);
  }
}

/** One sweep by the holder of the state directory's ship lock. */
async function shipLocked(stateDir: string, database: DatabaseConfig, retentionMs: number, skip?: (journal: string) => boolean): Promise<ShipSweep> {
  removeAbandonedJournals(stateDir);
  const journals = unshippedJournals(stateDir).filter((journal) => !skip?.(journal));
  const outcomes = journals.length === 0 ? [] : await withSchema(database, async (client) => {
    const results: ShipOutcome[] = [];
    for (const journal of journals) results.push(await shipOne(client, journal));
    return results;
  });
  return { outcomes, expired: removeExpiredJournals(stateDir, retentionMs), busy: false };
}

/** Retries of a waiting shipper: 1 s, 2 s, 4 s ... up to 30 s apart (half of it jitter). */
const WAIT_BACKOFF = { baseMs: 1000, capMs: 30_000 };

/** What shipUntilDrained did. */
export interface DrainResult extends ShipSweep {
  /** Every journal of a finished run is in PostgreSQL and marked shipped. */
  drained: boolean;
}

/**
 * Ships the state directory's journals and, while `waitMs` lasts (0: one sweep), retries until
 * every journal of a finished run is in: what a wrapper hands over when PostgreSQL was too busy to
 * take its last records before it exited (sweep.ts handOffShipping). The lock is held across the
 * retries and released before a last look, and a journal found there that was not tried since its
 * run ended gets one more round even when the time is up: its wrapper saw the lock held and left
 * it to the holder, so nothing handed over falls between two shippers.
 * @returns the last outcome of every journal tried; `busy` when another shipper held the lock
 *          for the whole wait
 * @throws the database's error when the last attempt could not reach it and journals still wait
 */
export async function shipUntilDrained(stateDir: string, database: DatabaseConfig, retentionMs: number, waitMs: number): Promise<DrainResult> {
  const deadline = performance.now() + waitMs;
  const lock = shipLockPath(stateDir);
  const tried = new Map<string, ShipOutcome>();
  /** The size each journal had when this call shipped it without an error. */
  const triedSize = new Map<string, number>();
  const expired: string[] = [];
  const result = (drained: boolean, busy = false): DrainResult => ({ outcomes: [...tried.values()], expired, busy, drained });
  let failures = 0;
  const pause = () => sleep(Math.max(0, Math.min(deadline - performance.now(), backoffMs(++failures, WAIT_BACKOFF))));
  for (;;) {
    if (!takeLock(lock)) {
      if (performance.now() >= deadline) return result(false, existsSync(lock));
      await pause();
      continue;
    }
    let unreachable: unknown;
    try {
      for (;;) {
        unreachable = undefined;
        let settled = false;
        try {
          const sweep = await shipLocked(stateDir, database, retentionMs);
          for (const outcome of sweep.outcomes) {
            tried.set(outcome.journal, outcome);
            if (!outcome.error) triedSize.set(outcome.journal, outcome.size);
          }
          expired.push(...sweep.expired);
          settled = sweep.outcomes.every((outcome) => !outcome.error);
        } catch (error) {
          unreachable = error;
        }
        if (settled || performance.now() >= deadline) break;
        await pause();
      }
    } finally {
      releaseLock(lock);
    }
    const left = finishedUnshippedJournals(stateDir);
    if (left.length === 0) return result(true);
    // Handed over: a journal this call has not tried since it last changed (a wrapper finished it
    // and left it to the lock's holder). One tried as it is now and left unmarked waits for a change.
    const handedOver = unreachable === undefined && left.some((journal) => !tried.get(journal)?.error && triedSize.get(journal) !== sizeOf(journal));
    if (handedOver) continue;
    if (performance.now() >= deadline) {
      if (unreachable !== undefined) throw unreachable;
      return result(false);
    }
    await pause();
  }
}

async function shipOne(client: Parameters<typeof shipJournal>[0], journal: string): Promise<ShipOutcome> {
  const size = sizeOf(journal);
  try {
    // A journal whose last line never made it (a full disk) is complete when PostgreSQL said, before
    // it was read, that nothing writes it any more.
    const runId = basename(journal).split('.')[0];
    const writersDone = isRunId(runId) && (await runWritersDone(client, runId));
    const shipment = await shipJournal(client, journal, 0);
    failpoint('ship-written');
    const { shipped, bad, rejected, rejectedPath } = shipment;
    const finished = shipment.finished || writersDone;
    if (finished) markShipped(journal);
    return { journal, shipped, bad, rejected: rejected.length, rejectedPath, done: finished, size };
  } catch (error) {
    // A journal that cannot be read, or a database that went away in the middle: the next sweep retries.
    return { journal, shipped: 0, bad: [], rejected: 0, done: false, error: describeDatabaseError(error), size };
  }
}

/** A file's size in bytes; -1 when it cannot be read. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}
