/**
 * Shipping: journal lines to PostgreSQL rows, in one transaction per batch. Every write is
 * idempotent, so shipping the same lines twice (a retry after a timeout whose COMMIT did land)
 * changes nothing.
 */
import type pg from 'pg';
import { readJournal } from './journal.js';
import { insertEvent, insertProcess, upsertRun } from './sql.js';
import type { JournalEntry } from './types.js';

/** Writes the entries; the run rows first, since events and processes reference them. */
export async function shipEntries(client: pg.Client, entries: readonly JournalEntry[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const entry of entries) if (entry.table === 'runs') await upsertRun(client, entry.record);
    for (const entry of entries) {
      if (entry.table === 'events') await insertEvent(client, entry.record);
      else if (entry.table === 'processes') await insertProcess(client, entry.record);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Ships the entries of a journal file from entry index `from` on.
 * @returns the index after the last entry shipped (the new `from`)
 */
export async function shipJournal(client: pg.Client, path: string, from: number): Promise<number> {
  const { entries } = readJournal(path);
  if (entries.length > from) await shipEntries(client, entries.slice(from));
  return entries.length;
}
