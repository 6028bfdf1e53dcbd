/**
 * Every SQL statement of the product, and nothing else. Statements are parameterised; writes are
 * idempotent (records carry UUIDs or natural keys: ON CONFLICT DO NOTHING), so a journal may be
 * shipped any number of times. A run row is replaced only by a higher revision of itself, or, when
 * it says `lost`, by the wrapper's own ending.
 */
import type { ClientBase } from 'pg';
import type { EventRecord, ProcessRecord, RunRecord } from './types.js';

const RUN_COLUMNS = [
  'id', 'revision', 'analysis_id', 'parent_run_id', 'host', 'boot_id', 'pid_ns', 'wrapper_pid', 'wrapper_starttime', 'pid', 'pgid',
  'leader_starttime', 'argv', 'cwd', 'username', 'timeout_ms', 'memory_limit_bytes', 'grace_ms', 'orphan_policy',
  'tracking_backend', 'cgroup_path', 'journal_path', 'started_at', 'heartbeat_at', 'ended_at', 'status', 'exit_status', 'exit_code',
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

function placeholders(count: number): string {
  return Array.from({ length: count }, (_, index) => `$${index + 1}`).join(', ');
}

const UPSERT_RUN = `
  INSERT INTO watchdog_runs (${RUN_COLUMNS.join(', ')}) VALUES (${placeholders(RUN_COLUMNS.length)})
  ON CONFLICT (id) DO UPDATE SET ${RUN_COLUMNS.filter((column) => column !== 'id')
    .map((column) => `${column} = EXCLUDED.${column}`)
    .join(', ')}
  WHERE watchdog_runs.revision < EXCLUDED.revision
     -- The wrapper's own ending beats a reaper's guess that it was lost (its records arrived late).
     OR (watchdog_runs.status = 'lost' AND EXCLUDED.status NOT IN ('running', 'lost'))`;

const INSERT_EVENT = `
  INSERT INTO watchdog_events (${EVENT_COLUMNS.join(', ')}) VALUES (${placeholders(EVENT_COLUMNS.length)})
  ON CONFLICT (id) DO NOTHING`;

const INSERT_PROCESS = `
  INSERT INTO watchdog_processes (${PROCESS_COLUMNS.join(', ')}) VALUES (${placeholders(PROCESS_COLUMNS.length)})
  ON CONFLICT (run_id, pid, starttime) DO NOTHING`;

export async function upsertRun(client: ClientBase, run: RunRecord): Promise<void> {
  await client.query(UPSERT_RUN, RUN_COLUMNS.map((column) => run[column]));
}

export async function insertEvent(client: ClientBase, event: EventRecord): Promise<void> {
  await client.query(INSERT_EVENT, EVENT_COLUMNS.map((column) => event[column]));
}

export async function insertProcess(client: ClientBase, process: ProcessRecord): Promise<void> {
  await client.query(INSERT_PROCESS, PROCESS_COLUMNS.map((column) => process[column]));
}

/** Names of the migrations applied, oldest first; empty when the migrations table does not exist. */
export async function appliedMigrations(client: ClientBase, table: string): Promise<string[]> {
  const exists = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
  if (!exists.rows[0].present) return [];
  const result = await client.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY run_on, id`);
  return result.rows.map((row) => row.name);
}

/** Filters shared by the listing queries; undefined fields do not filter. */
export interface ListFilter {
  analysisId?: string;
  runId?: string;
  /** Runs in this status (runs only). */
  status?: string;
  /** Runs of this host (for events: events of its runs). */
  host?: string;
  /** Only what started (runs) or happened (events) at or after this ISO time. */
  since?: string;
  limit: number;
}

/** Runs, newest first, in the columns `scidex-watchdog runs` shows. */
export async function selectRuns(client: ClientBase, filter: ListFilter): Promise<Record<string, unknown>[]> {
  const result = await client.query(
    `SELECT id, analysis_id, host, pid, status, exit_status, reason,
            to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') AS started,
            round(extract(epoch FROM coalesce(ended_at, heartbeat_at) - started_at)::numeric, 1) AS seconds,
            pg_size_pretty(peak_rss_bytes) AS peak_rss, pg_size_pretty(peak_pss_bytes) AS peak_pss,
            round(cpu_seconds::numeric, 1) AS cpu_s, peak_process_count AS peak_procs, array_to_string(argv, ' ') AS command
       FROM watchdog_runs
      WHERE ($1::text IS NULL OR analysis_id = $1) AND ($2::uuid IS NULL OR id = $2)
        AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR host = $5)
        AND ($6::timestamptz IS NULL OR started_at >= $6)
      ORDER BY started_at DESC LIMIT $3`,
    [filter.analysisId ?? null, filter.runId ?? null, filter.limit, filter.status ?? null, filter.host ?? null, filter.since ?? null],
  );
  return result.rows;
}

/** Events, newest first, in the columns `scidex-watchdog events` shows. */
export async function selectEvents(client: ClientBase, filter: ListFilter): Promise<Record<string, unknown>[]> {
  const result = await client.query(
    `SELECT to_char(at, 'YYYY-MM-DD HH24:MI:SS.MS') AS at, run_id, analysis_id, kind, reason, pid,
            array_length(pids, 1) AS npids, signal, pg_size_pretty(rss_bytes) AS tree_rss,
            pg_size_pretty(pss_bytes) AS tree_pss, pg_size_pretty(process_rss_bytes) AS proc_rss,
            round(elapsed_ms / 1000.0, 3) AS elapsed_s
       FROM watchdog_events
      WHERE ($1::text IS NULL OR analysis_id = $1) AND ($2::uuid IS NULL OR run_id = $2)
        AND ($4::text IS NULL OR run_id IN (SELECT id FROM watchdog_runs WHERE host = $4))
        AND ($5::timestamptz IS NULL OR at >= $5)
      ORDER BY at DESC, kind LIMIT $3`,
    [filter.analysisId ?? null, filter.runId ?? null, filter.limit, filter.host ?? null, filter.since ?? null],
  );
  return result.rows;
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
  return result.rows.map((row) => row.run);
}
