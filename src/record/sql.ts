/**
 * The SQL that writes records, and the reaper's one read; the queries of `scidex-watchdog` are in
 * src/query. Statements are parameterised; writes are idempotent (records carry UUIDs or natural
 * keys: ON CONFLICT DO NOTHING), so a journal may be shipped any number of times. A run row is
 * replaced only by a version that outranks it (run-version.ts supersedes): an ending over any running
 * version, the wrapper's own ending over a reaper's `lost`, else a higher revision.
 */
import type { ClientBase } from 'pg';
import type { EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from './types.js';

const RUN_COLUMNS = [
  'id', 'revision', 'analysis_id', 'parent_run_id', 'adopted', 'host', 'boot_id', 'pid_ns', 'wrapper_pid', 'wrapper_starttime', 'pid', 'pgid',
  'leader_starttime', 'argv', 'cwd', 'username', 'timeout_ms', 'memory_limit_bytes', 'grace_ms', 'orphan_policy',
  'tracking_backend', 'cgroup_path', 'slurm_job_id', 'slurm_step_id', 'journal_path', 'started_at', 'heartbeat_at', 'ended_at', 'status', 'exit_status', 'exit_code',
  'signal', 'reason', 'peak_rss_bytes', 'peak_pss_bytes', 'cpu_seconds', 'peak_process_count', 'process_count',
] as const satisfies readonly (keyof RunRecord)[];

const EVENT_COLUMNS = [
  'id', 'run_id', 'analysis_id', 'at', 'kind', 'reason', 'pid', 'pids', 'signal', 'rss_bytes', 'pss_bytes',
  'process_rss_bytes', 'elapsed_ms', 'detail',
] as const satisfies readonly (keyof EventRecord)[];

const PROCESS_COLUMNS = [
  'run_id', 'pid', 'starttime', 'ppid', 'pgid', 'sid', 'comm', 'argv', 'found_by', 'first_seen_at', 'last_seen_at',
  'peak_rss_bytes', 'cpu_seconds', 'fate',
] as const satisfies readonly (keyof ProcessRecord)[];

const SAMPLE_COLUMNS = [
  'id', 'run_id', 'at', 'elapsed_ms', 'rss_bytes', 'pss_bytes', 'cpu_seconds', 'process_count', 'peak', 'tick', 'top_processes',
] as const satisfies readonly (keyof SampleRecord)[];

/**
 * Many records in one statement: the rows travel as one JSON array and jsonb_populate_recordset
 * types them by the table's own columns, so a batch costs one round trip whatever its size. A record
 * missing a NOT NULL field, or with a value of the wrong type, fails the statement (SQLSTATE class
 * 22 or 23); ship.ts then finds it by writing the records one at a time.
 * @param param the placeholder number of the JSON array
 */
function insertFromJson(table: string, columns: readonly string[], conflict: string, param = 1): string {
  const list = columns.join(', ');
  const values = columns.map((column) => SELECTED[column] ?? column).join(', ');
  return `INSERT INTO ${table} (${list}) SELECT ${values} FROM jsonb_populate_recordset(NULL::${table}, $${param}::jsonb) ${conflict}`;
}

/** run-version.ts standing() in SQL, of the row `table` names. */
const STANDING = (table: string): string => `CASE ${table}.status WHEN 'running' THEN 0 WHEN 'lost' THEN 1 ELSE 2 END`;
/** Columns whose value a record of an older version lacks, and what it then means. */
const SELECTED: Record<string, string> = { adopted: 'coalesce(adopted, false)', tick: 'coalesce(tick, false)' };

/** The idempotent write of each journal table: what it says on conflict with a row already there. */
const TABLE_WRITES = {
  runs: {
    table: 'watchdog_runs',
    columns: RUN_COLUMNS,
    conflict: `ON CONFLICT (id) DO UPDATE SET ${RUN_COLUMNS.filter((column) => column !== 'id')
      .map((column) => `${column} = EXCLUDED.${column}`)
      .join(', ')}
      -- run-version.ts supersedes(): a higher standing (running 0, lost 1, any other ending 2), else a higher revision.
      WHERE (${STANDING('EXCLUDED')}, EXCLUDED.revision) > (${STANDING('watchdog_runs')}, watchdog_runs.revision)`,
  },
  events: { table: 'watchdog_events', columns: EVENT_COLUMNS, conflict: 'ON CONFLICT (id) DO NOTHING' },
  processes: { table: 'watchdog_processes', columns: PROCESS_COLUMNS, conflict: 'ON CONFLICT (run_id, pid, starttime) DO NOTHING' },
  samples: { table: 'watchdog_samples', columns: SAMPLE_COLUMNS, conflict: 'ON CONFLICT (id) DO NOTHING' },
} as const satisfies Record<JournalEntry['table'], { table: string; columns: readonly string[]; conflict: string }>;

/** The journal tables in the order their rows must be written: run rows first, the others reference them. */
export const JOURNAL_TABLES = ['runs', 'events', 'processes', 'samples'] as const satisfies readonly JournalEntry['table'][];

/**
 * All four tables in one statement, $1..$4 in JOURNAL_TABLES order. Data-modifying CTEs all run;
 * the foreign keys are checked at the end of the statement, when the run rows are there.
 */
const WRITE_ALL = (() => {
  const writes = JOURNAL_TABLES.map((name, index) => {
    const { table, columns, conflict } = TABLE_WRITES[name];
    return insertFromJson(table, columns, conflict, index + 1);
  });
  return `WITH ${writes.slice(0, -1).map((write, index) => `w${index} AS (${write})`).join(', ')} ${writes.at(-1)}`;
})();

/** Records by journal table; a table left out writes nothing. */
export type RecordsByTable = Partial<Record<JournalEntry['table'], readonly object[]>>;

/**
 * Writes records of every table in one statement (one round trip, one implicit transaction). Run
 * rows must be one version per run (an upsert cannot touch a row twice): pass them through
 * latestVersions() first.
 * @throws pg errors (class 22/23 when a record is malformed)
 */
export async function writeRecords(client: ClientBase, records: RecordsByTable): Promise<void> {
  await client.query(WRITE_ALL, JOURNAL_TABLES.map((table) => JSON.stringify(records[table] ?? [])));
}

/** Names of the migrations applied, oldest first; empty when the migrations table does not exist. */
export async function appliedMigrations(client: ClientBase, table: string): Promise<string[]> {
  try {
    const result = await client.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY run_on, id`);
    return result.rows.map((row) => row.name);
  } catch (error) {
    // 42P01 undefined_table: a database never migrated. One query in the usual case, not two.
    if ((error as { code?: string }).code === '42P01') return [];
    throw error;
  }
}

/**
 * A watchdog_runs row (as row_to_json gives it) cut to the run record. Its db_role, the role that
 * wrote it (docs/roles.md), is PostgreSQL's own, not the run's: a journal has none, so a record
 * carrying it would print differently from its journal and be journaled again by a reaper.
 */
export function runRecordOfRow<T extends RunRecord>(row: T & { db_role?: unknown }): T {
  const { db_role: _dbRole, ...record } = row;
  return record as T;
}

/**
 * The rows of runs on `host` still `running`, whatever their wrapper's state: the reaper checks.
 * Through row_to_json, so bigint and timestamp columns come back as JSON numbers and ISO strings.
 */
export async function selectRunningRuns(client: ClientBase, host: string): Promise<RunRecord[]> {
  const result = await client.query<{ run: RunRecord }>(
    `SELECT row_to_json(r) AS run FROM watchdog_runs r WHERE host = $1 AND status = 'running' ORDER BY started_at`,
    [host],
  );
  return result.rows.map((row) => runRecordOfRow(row.run));
}

/**
 * The advisory lock that keeps the reaping of run `runId` to one reaper at a time, across hosts
 * and state directories: pg_try_advisory_lock on a key derived from the run id (PostgreSQL manual,
 * "Advisory Lock Functions"). Session-level: held by this connection until unlockRun or its end;
 * through a PgBouncer in transaction mode it would not hold, which is why reapers connect directly.
 * @returns whether this session holds it now
 */
export async function tryLockRun(client: ClientBase, runId: string): Promise<boolean> {
  const result = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext('scidex-reap'), hashtext($1)) AS locked`, [runId]);
  return result.rows[0].locked;
}

/** Releases tryLockRun's lock. */
export async function unlockRun(client: ClientBase, runId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock(hashtext('scidex-reap'), hashtext($1))`, [runId]);
}

/** Whether the row of run `runId` is still `running` (read again under the reaper's lock). */
export async function stillRunning(client: ClientBase, runId: string): Promise<boolean> {
  const result = await client.query(`SELECT 1 FROM watchdog_runs WHERE id = $1 AND status = 'running'`, [runId]);
  return (result.rowCount ?? 0) > 0;
}

/**
 * Whether PostgreSQL says the run's writers are done: its row is the wrapper's own ending (a status
 * other than `running` and `lost`: the wrapper ships all it wrote before its ending reaches
 * PostgreSQL), or a reaper's `lost` for `wrapper_gone` (a reaper of the same boot saw the wrapper
 * gone: nothing writes the journal any more). Asked before a journal is read, it means the read holds
 * every line the journal will ever have (docs/records.md, "A journal whose last line never made it").
 * A `lost` for `host_rebooted` does not count: a host of the same name could have written it.
 */
export async function runWritersDone(client: ClientBase, runId: string): Promise<boolean> {
  const result = await client.query(
    `SELECT 1 FROM watchdog_runs WHERE id = $1 AND (status NOT IN ('running', 'lost') OR (status = 'lost' AND reason = 'wrapper_gone'))`,
    [runId],
  );
  return (result.rowCount ?? 0) > 0;
}
