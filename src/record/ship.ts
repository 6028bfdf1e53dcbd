/**
 * Shipping: journal lines to PostgreSQL rows. A batch is one statement for all tables (sql.ts
 * writeRecords), so its cost in round trips does not grow with its size. Every write
 * is idempotent, so shipping the same lines twice (a retry after a timeout whose COMMIT did land)
 * changes nothing. A record PostgreSQL refuses is set aside with the reason (rejected.ts); only
 * errors of the database itself (down, overloaded, shutting down) fail a shipment.
 */
import type pg from 'pg';
import { readJournal, type BadJournalLine } from './journal.js';
import { entriesFinished } from './journal-end.js';
import { setAside, type Rejection } from './rejected.js';
import { basename } from 'node:path';
import { isRunId } from '../config/run-id.js';
import { latestVersions } from './run-version.js';
import { JOURNAL_TABLES, writeRecords, type RecordsByTable } from './sql.js';
import type { JournalEntry, RunRecord } from './types.js';

/** Rows per statement: bounds the size of one query (a month-long run has ~260,000 samples). */
const ROWS_PER_STATEMENT = 5000;

/**
 * Whether an error is about the record, not the database: SQLSTATE class 22 (data exception) or
 * 23 (integrity constraint violation), PostgreSQL manual appendix A.
 */
function isRecordError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

async function inTransaction<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await work();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Writes a batch: one statement when it is small (its own transaction), else chunks in one
 * transaction, each chunk's run rows ahead of the rows that reference them.
 */
async function writeBatch(client: pg.Client, entries: readonly JournalEntry[]): Promise<void> {
  const ordered = JOURNAL_TABLES.flatMap((table) => {
    const records = entries.filter((entry) => entry.table === table).map((entry) => entry.record);
    return (table === 'runs' ? latestVersions(records as RunRecord[]) : records).map((record) => ({ table, record }));
  });
  const chunks: RecordsByTable[] = [];
  for (let start = 0; start < ordered.length; start += ROWS_PER_STATEMENT) {
    const chunk: Record<string, object[]> = {};
    for (const { table, record } of ordered.slice(start, start + ROWS_PER_STATEMENT)) (chunk[table] ??= []).push(record);
    chunks.push(chunk);
  }
  if (chunks.length === 1) await writeRecords(client, chunks[0]);
  else await inTransaction(client, async () => {
    for (const chunk of chunks) await writeRecords(client, chunk);
  });
}

/**
 * SQLSTATE 23503 foreign_key_violation (PostgreSQL manual appendix A): an event, process or sample
 * whose run row is not in yet (its line could not be journaled, a full disk, and travels from the
 * wrapper's memory). Not the record's fault: it is kept for a later shipment, never set aside.
 */
const RUN_ROW_NOT_YET = '23503';

/** What PostgreSQL did not take from a batch: refused for good (set aside), or not yet (shipped again later). */
export interface Refusals {
  rejected: Rejection[];
  /** Entries whose run row is not in PostgreSQL yet. */
  deferred: JournalEntry[];
}

/** Writes entries one at a time under savepoints, in journal order by table, keeping those refused. */
async function writeOneByOne(client: pg.Client, entries: readonly JournalEntry[]): Promise<Refusals> {
  const refusals: Refusals = { rejected: [], deferred: [] };
  for (const table of JOURNAL_TABLES) {
    for (const entry of entries.filter((candidate) => candidate.table === table)) {
      await client.query('SAVEPOINT record');
      try {
        await writeRecords(client, { [table]: [entry.record] });
        await client.query('RELEASE SAVEPOINT record');
      } catch (error) {
        if (!isRecordError(error)) throw error;
        await client.query('ROLLBACK TO SAVEPOINT record');
        if (error.code === RUN_ROW_NOT_YET) refusals.deferred.push(entry);
        else refusals.rejected.push({ entry, code: error.code, reason: error.message });
      }
    }
  }
  return refusals;
}

/**
 * Writes the entries, all or none but the refused.
 * @returns the entries PostgreSQL refused for good (with why) and those it cannot take yet; the rest are in
 * @throws the database's errors (connection lost, overloaded, shutting down): nothing is in then
 */
export async function shipEntries(client: pg.Client, entries: readonly JournalEntry[]): Promise<Refusals> {
  const known = entries.filter((entry) => (JOURNAL_TABLES as readonly string[]).includes(entry?.table) && typeof entry.record === 'object' && entry.record !== null);
  const strays: Rejection[] = entries
    .filter((entry) => !known.includes(entry))
    .map((entry) => ({ entry, code: 'not_a_record', reason: 'a JSON line that is not a {table, record} entry of a known table' }));
  try {
    await writeBatch(client, known);
    return { rejected: strays, deferred: [] };
  } catch (error) {
    if (!isRecordError(error)) throw error;
  }
  const refusals = await inTransaction(client, () => writeOneByOne(client, known));
  // A record whose run row PostgreSQL refused here will never find it: set aside with its row.
  const refusedRuns = new Set(refusals.rejected.filter(({ entry }) => entry.table === 'runs').map(({ entry }) => (entry.record as RunRecord).id));
  const orphaned = refusals.deferred.filter((entry) => refusedRuns.has((entry.record as { run_id?: string }).run_id ?? ''));
  return {
    rejected: [...strays, ...refusals.rejected, ...orphaned.map((entry) => ({ entry, code: RUN_ROW_NOT_YET, reason: 'its run row was refused' }))],
    deferred: refusals.deferred.filter((entry) => !orphaned.includes(entry)),
  };
}

/** What one shipment of a journal did. */
export interface JournalShipment {
  /** The index after the last entry shipped: the next shipment's `from`. */
  next: number;
  /** Entries written (refused ones included: they are handled). */
  shipped: number;
  /** Lines that are not JSON, with their line numbers: reported, never shipped. */
  bad: BadJournalLine[];
  rejected: Rejection[];
  /** Where the refused entries were set aside, when there were any. */
  rejectedPath?: string;
  /**
   * The last run version among the lines read is a final one (journal-end.ts): with this shipment, all of
   * the run's journal is in, and the journal may be marked shipped.
   */
  finished: boolean;
}

/**
 * Ships the entries of a journal file from entry index `from` on, and sets aside what PostgreSQL
 * refuses and every record of another run than the journal's (`foreign_run`: foreignEntries).
 * @throws the database's errors; fs errors writing the rejected file
 */
export async function shipJournal(client: pg.Client, path: string, from: number): Promise<JournalShipment> {
  const { entries, bad } = readJournal(path);
  const foreign = new Set(foreignEntries(path, entries));
  const batch = entries.slice(from);
  const ours = batch.filter((entry) => !foreign.has(entry));
  const { rejected: refused, deferred } = ours.length > 0 ? await shipEntries(client, ours) : { rejected: [], deferred: [] };
  const strangers = batch.filter((entry) => foreign.has(entry)).map((entry) => ({ entry, code: 'foreign_run', reason: `a record of another run than the journal's (${basename(path)})` }));
  const rejected = [...strangers, ...refused];
  const rejectedPath = rejected.length > 0 ? setAside(path, rejected) : undefined;
  // The next shipment starts again at the first entry PostgreSQL could not take yet.
  const next = deferred.length > 0 ? from + Math.min(...deferred.map((entry) => batch.indexOf(entry))) : entries.length;
  const finished = deferred.length === 0 && entriesFinished(entries.filter((entry) => !foreign.has(entry)));
  return { next, shipped: batch.length - deferred.length, bad, rejected, rejectedPath, finished };
}

/**
 * The entries of a journal that are not records of its own run: a journal is named after its run
 * (`<run-id>.jsonl`, or `<run-id>.reaped-<ms>.jsonl` for a reaper's), and a line about any other run
 * is a claim its writer may not make. Whoever can write a journal (the run's user) must not be able
 * to write rows for someone else's run, such as a `running` row with a dead wrapper that a reaper
 * would act on.
 */
function foreignEntries(path: string, entries: readonly JournalEntry[]): JournalEntry[] {
  const runId = basename(path).split('.')[0];
  if (!isRunId(runId)) return [];
  return entries.filter((entry) => {
    const record = entry?.record as { id?: unknown; run_id?: unknown } | undefined;
    // What is not a record of a known table is set aside as such by shipEntries.
    if (!(JOURNAL_TABLES as readonly string[]).includes(entry?.table) || typeof record !== 'object' || record === null) return false;
    return (entry.table === 'runs' ? record.id : record.run_id) !== runId;
  });
}
