/**
 * The records as PostgreSQL holds them, filtered and ordered in SQL. Rows come back through
 * row_to_json, so bigint columns arrive as JSON numbers and arrays and jsonb as plain values;
 * timestamps are then rewritten from PostgreSQL's `+00:00` form to the journal's `Z` form
 * (Date#toISOString, milliseconds), so both sources print the same strings.
 */
import type { ClientBase } from 'pg';
import { runRecordOfRow } from '../record/sql.js';
import type { EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../record/types.js';
import type { ListFilter, TimelineKey } from './filter.js';
import type { RecordSource, Timeline } from './source.js';

// LIMIT NULL is LIMIT ALL. Ties are broken down to the id, so the journal source can order alike.
const RUNS = `
  SELECT row_to_json(r) AS record FROM watchdog_runs r
   WHERE ($1::text IS NULL OR analysis_id = $1) AND ($2::uuid IS NULL OR id = $2)
     AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR host = $4)
     AND ($5::timestamptz IS NULL OR started_at >= $5)
   ORDER BY started_at DESC, id DESC LIMIT $6`;

const EVENTS = `
  SELECT row_to_json(e) AS record FROM watchdog_events e
   WHERE ($1::text IS NULL OR analysis_id = $1) AND ($2::uuid IS NULL OR run_id = $2)
     AND (($3::text IS NULL AND $6::text IS NULL)
          OR run_id IN (SELECT id FROM watchdog_runs WHERE ($3::text IS NULL OR host = $3) AND ($6::text IS NULL OR status = $6)))
     AND ($4::timestamptz IS NULL OR at >= $4)
   ORDER BY at DESC, kind COLLATE "C" DESC, id DESC LIMIT $5`;

const PROCESSES = 'SELECT row_to_json(p) AS record FROM watchdog_processes p WHERE run_id = $1 ORDER BY first_seen_at, pid';

const SAMPLES = 'SELECT row_to_json(s) AS record FROM watchdog_samples s WHERE run_id = $1 ORDER BY at, id';

const OTHER_RUNS = 'SELECT count(*)::int AS n FROM watchdog_runs WHERE analysis_id = $1 AND id <> $2';

/** Runs the query and returns its `record` column, with the named timestamp columns in `Z` form. */
async function records<T extends object>(client: ClientBase, sql: string, params: unknown[], times: readonly (keyof T & string)[]): Promise<T[]> {
  const result = await client.query<{ record: T }>(sql, params);
  return result.rows.map(({ record }) => {
    const row = record as Record<string, unknown>;
    for (const column of times) if (typeof row[column] === 'string') row[column] = new Date(row[column]).toISOString();
    return record;
  });
}

async function runs(client: ClientBase, filter: ListFilter): Promise<RunRecord[]> {
  const params = [filter.analysisId, filter.runId, filter.status, filter.host, filter.since, filter.limit].map((value) => value ?? null);
  const rows = await records<RunRecord>(client, RUNS, params, ['started_at', 'heartbeat_at', 'ended_at']);
  return rows.map(runRecordOfRow);
}

function events(client: ClientBase, filter: ListFilter): Promise<EventRecord[]> {
  const params = [filter.analysisId, filter.runId, filter.host, filter.since, filter.limit, filter.status].map((value) => value ?? null);
  return records<EventRecord>(client, EVENTS, params, ['at']);
}

async function timeline(client: ClientBase, key: TimelineKey): Promise<Timeline | undefined> {
  const [run] = await runs(client, { ...key, limit: 1 });
  if (!run) return undefined;
  const processes = await records<ProcessRecord>(client, PROCESSES, [run.id], ['first_seen_at', 'last_seen_at']);
  const samples = await records<SampleRecord>(client, SAMPLES, [run.id], ['at']);
  const history = (await events(client, { runId: run.id })).reverse();
  const others = run.analysis_id === null ? 0 : (await client.query<{ n: number }>(OTHER_RUNS, [run.analysis_id, run.id])).rows[0].n;
  return { run, processes, samples, events: history, otherRuns: others };
}

/** A source reading through `client` (connected, schema migrated); the caller closes it. */
export function databaseSource(client: ClientBase): RecordSource {
  return {
    runs: (filter) => runs(client, filter),
    events: (filter) => events(client, filter),
    timeline: (key) => timeline(client, key),
  };
}
