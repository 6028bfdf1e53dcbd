/**
 * The fleet view's data (fleet-body.ts FleetBody) from PostgreSQL: every host with its daemon's
 * state, the running runs of all hosts, and the kills of each host per hour over the last day.
 * One read-only transaction at REPEATABLE READ, so every part is of one snapshot and one now().
 * Ages and the day's window are the database's clock; a daemon's heartbeat_at is written with the
 * database's now() too (daemons.ts upsertDaemon), so its age has no skew between hosts. A run's
 * started_at is its wrapper host's clock: a running run's elapsed time is off by that host's skew.
 * Parameterised; rows come back through row_to_json, times rewritten to the journal's `Z` form.
 * Every query is bounded by an index (migrations/1764590400000_fleet-indexes.sql; BENCHMARKS.md
 * "Fleet view": about 50 ms at 100k runs and 3M samples, from 380 ms).
 */
import type { ClientBase } from 'pg';
import type { DatabaseConfig } from '../config/database.js';
import { KILLED_RUN_KINDS } from '../record/event-kinds.js';
import { PAGE_READ, type ReadSnapshotOptions } from '../record/connect.js';
import { withSchemaSnapshot } from '../record/migrate.js';
import { runRecordOfRow } from '../record/sql.js';
import type { RunRecord } from '../record/types.js';
import { daemonUp, listDaemons } from './daemons.js';
import type { FleetBody, FleetHost, FleetKillHour, FleetRun } from './fleet-body.js';

/** How many running runs FleetBody.running lists at most (the oldest starts first). */
export const FLEET_RUNNING_SHOWN = 500;

const HOUR_MS = 3_600_000;
/** The day's hourly buckets. */
const HOURS = 24;

// The day: from the start of the UTC hour 23 hours before now's to now, the span of the 24 hourly
// buckets. Hours of UTC (date_trunc's third argument), so that a session's time zone with a
// half-hour offset does not shift them.
const DAY_START = `(date_trunc('hour', now(), 'UTC') - interval '23 hours')`;

// A host is on the fleet while it has a daemon row, or a run running or started, beating or ended
// within the day (the expression index watchdog_runs_last_seen_idx).
const HOSTS = `
  SELECT host FROM (
    SELECT host FROM watchdog_daemons
    UNION SELECT host FROM watchdog_runs WHERE status = 'running'
    UNION SELECT host FROM watchdog_runs WHERE greatest(started_at, heartbeat_at, ended_at) >= ${DAY_START}) h
   ORDER BY host COLLATE "C"`;

// Per host, its running runs, filtered by analysis ($1).
const RUNNING_COUNTS = `
  SELECT host, count(*)::int AS running FROM watchdog_runs
   WHERE status = 'running' AND ($1::text IS NULL OR analysis_id = $1)
   GROUP BY host`;

const RUNNING = `
  SELECT row_to_json(r) AS record, (extract(epoch FROM now() - r.started_at) * 1000)::float8 AS elapsed, s.rss_bytes::float8 AS rss
    FROM (SELECT * FROM watchdog_runs
           WHERE status = 'running' AND ($1::text IS NULL OR analysis_id = $1)
           ORDER BY started_at, id LIMIT $2) r
    LEFT JOIN LATERAL (SELECT rss_bytes FROM watchdog_samples WHERE run_id = r.id ORDER BY at DESC, id DESC LIMIT 1) s ON true
   ORDER BY r.started_at, r.id`;

// Each killed run once, in the UTC hour of its first kill event ($2, KILLED_RUN_KINDS), when that
// event is within the day: a run with a kill event before it was killed before the day. One pass
// over the day's events for every host.
const KILLS = `
  WITH first_kills AS (
    SELECT e.run_id, min(e.at) AS at FROM watchdog_events e
     WHERE e.kind = ANY ($2::text[]) AND e.at >= ${DAY_START}
     GROUP BY e.run_id)
  SELECT r.host, date_trunc('hour', f.at, 'UTC') AS hour, count(*)::int AS kills
    FROM first_kills f JOIN watchdog_runs r ON r.id = f.run_id
   WHERE ($1::text IS NULL OR r.analysis_id = $1)
     AND NOT EXISTS (SELECT 1 FROM watchdog_events p WHERE p.run_id = f.run_id AND p.kind = ANY ($2::text[]) AND p.at < ${DAY_START})
   GROUP BY 1, 2`;

function fleetRun(run: RunRecord, elapsed: number, rss: number | null): FleetRun {
  return {
    id: run.id, host: run.host, analysis_id: run.analysis_id, pid: run.pid, argv: run.argv, username: run.username,
    started_at: new Date(run.started_at).toISOString(), elapsed_ms: Math.round(elapsed), heartbeat_at: new Date(run.heartbeat_at).toISOString(),
    timeout_ms: run.timeout_ms, memory_limit_bytes: run.memory_limit_bytes, peak_rss_bytes: run.peak_rss_bytes,
    rss_bytes: rss, process_count: run.process_count, adopted: run.adopted === true,
  };
}

async function readFleetIn(client: ClientBase, analysisId: string | null): Promise<FleetBody> {
  const now = (await client.query<{ now: Date }>('SELECT now() AS now')).rows[0].now;
  const daemons = new Map((await listDaemons(client)).map((row) => [row.host, row]));
  const names = (await client.query<{ host: string }>(HOSTS)).rows.map((row) => row.host);
  const runningOf = new Map((await client.query<{ host: string; running: number }>(RUNNING_COUNTS, [analysisId])).rows.map((row) => [row.host, row.running]));
  const killed = new Map(
    (await client.query<{ host: string; hour: Date; kills: number }>(KILLS, [analysisId, [...KILLED_RUN_KINDS]])).rows.map((row) => [`${row.host}/${row.hour.getTime()}`, row.kills]),
  );
  // The day's hours as DAY_START has them: UTC hours, the current one last.
  const lastHourMs = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  const hours = Array.from({ length: HOURS }, (_, index) => lastHourMs - (HOURS - 1 - index) * HOUR_MS);
  const kills: FleetKillHour[] = names.flatMap((host) => hours.map((hourMs) => ({ host, hour: new Date(hourMs).toISOString(), kills: killed.get(`${host}/${hourMs}`) ?? 0 })));
  const hosts: FleetHost[] = names.map((host) => {
    const daemon = daemons.get(host);
    return {
      host,
      daemon: daemon === undefined ? 'none' : daemonUp(daemon) ? 'up' : 'stale',
      daemon_pid: daemon?.pid ?? null,
      version: daemon?.version ?? null,
      heartbeat_at: daemon?.heartbeat_at ?? null,
      heartbeat_age_ms: daemon?.heartbeat_age_ms ?? null,
      interval_ms: daemon?.interval_ms ?? null,
      listen: daemon?.listen ?? null,
      running: runningOf.get(host) ?? 0,
      kills_24h: hours.reduce((sum, hourMs) => sum + (killed.get(`${host}/${hourMs}`) ?? 0), 0),
    };
  });
  const running = (await client.query<{ record: RunRecord; elapsed: number; rss: number | null }>(RUNNING, [analysisId, FLEET_RUNNING_SHOWN])).rows
    .map(({ record, elapsed, rss }) => fleetRun(runRecordOfRow(record), elapsed, rss));
  const runningTotal = hosts.reduce((sum, host) => sum + host.running, 0);
  return { generated_at: now.toISOString(), analysis_id: analysisId, hosts, running, running_total: runningTotal, kills };
}

/**
 * Every host (its daemon up, stale or none by daemons.ts daemonUp; its running runs and its runs
 * killed within the day, the sum of its buckets), the running runs of every host with their newest
 * sample's RSS (the FLEET_RUNNING_SHOWN oldest; running_total counts all), and 24 hourly kill
 * buckets per host, zero-filled, oldest first: each killed run (KILLED_RUN_KINDS) once, in the UTC
 * hour of its first kill. `analysisId` (null: all) filters the running runs, the kills and the
 * hosts' counts, not the hosts.
 * @param read the read's bounds (record/migrate.ts withSchemaSnapshot: one read-only snapshot, under a deadline)
 * @throws SchemaTooNewError; ReadDeadlineError; pg errors (connecting, or a query; 57014 and 55P03 for the server's own timeouts)
 */
export async function readFleet(database: DatabaseConfig, analysisId: string | null, read: ReadSnapshotOptions = PAGE_READ): Promise<FleetBody> {
  return withSchemaSnapshot(database, read, (client) => readFleetIn(client, analysisId));
}
