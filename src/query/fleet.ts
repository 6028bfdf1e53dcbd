/**
 * The fleet view's data (fleet-body.ts FleetBody) from PostgreSQL: every host with its daemon's
 * state, the running runs of all hosts, and the kills of each host per hour over the last 24 h.
 * One read-only transaction at REPEATABLE READ, so every part is of one snapshot and one now()
 * (the database's clock gives every age: no skew between hosts). Parameterised; rows come back
 * through row_to_json, times rewritten to the journal's `Z` form.
 */
import type { ClientBase } from 'pg';
import type { DatabaseConfig } from '../config/database.js';
import { withSchema } from '../record/migrate.js';
import { runRecordOfRow } from '../record/sql.js';
import type { RunRecord } from '../record/types.js';
import { daemonUp, KILL_KINDS, listDaemons } from './daemons.js';
import type { FleetBody, FleetHost, FleetKillHour, FleetRun } from './fleet-body.js';

// A host is on the fleet while it has a daemon row, or a run running or started, beating or ended
// within the day. Its counts follow the analysis filter ($1), as the lists do.
const HOSTS = `
  WITH hosts AS (
    SELECT host FROM watchdog_daemons
    UNION
    SELECT host FROM watchdog_runs
     WHERE status = 'running' OR greatest(started_at, heartbeat_at, ended_at) >= now() - interval '24 hours')
  SELECT h.host,
         (SELECT count(*) FROM watchdog_runs r
           WHERE r.host = h.host AND r.status = 'running' AND ($1::text IS NULL OR r.analysis_id = $1))::int AS running,
         (SELECT count(DISTINCT e.run_id) FROM watchdog_events e JOIN watchdog_runs r ON r.id = e.run_id
           WHERE r.host = h.host AND e.kind = ANY ($2::text[]) AND e.at >= now() - interval '24 hours'
             AND ($1::text IS NULL OR r.analysis_id = $1))::int AS kills
    FROM hosts h ORDER BY h.host COLLATE "C"`;

const RUNNING = `
  SELECT row_to_json(r) AS record, (extract(epoch FROM now() - r.started_at) * 1000)::float8 AS elapsed, s.rss_bytes::float8 AS rss
    FROM watchdog_runs r
    LEFT JOIN LATERAL (SELECT rss_bytes FROM watchdog_samples WHERE run_id = r.id ORDER BY at DESC, id DESC LIMIT 1) s ON true
   WHERE r.status = 'running' AND ($1::text IS NULL OR r.analysis_id = $1)
   ORDER BY r.started_at, r.id`;

// Hours of UTC (date_trunc's third argument), so that a session's time zone with a half-hour offset
// does not shift the buckets. A kill counts in each hour its run got such an event.
const KILLS = `
  WITH hours AS (
    SELECT generate_series(date_trunc('hour', now(), 'UTC') - interval '23 hours', date_trunc('hour', now(), 'UTC'), interval '1 hour') AS hour),
  kills AS (
    SELECT r.host, date_trunc('hour', e.at, 'UTC') AS hour, count(DISTINCT e.run_id)::int AS kills
      FROM watchdog_events e JOIN watchdog_runs r ON r.id = e.run_id
     WHERE e.kind = ANY ($2::text[]) AND e.at >= date_trunc('hour', now(), 'UTC') - interval '23 hours'
       AND ($1::text IS NULL OR r.analysis_id = $1)
     GROUP BY 1, 2)
  SELECT row_to_json(k) AS record FROM (
    SELECT h.host, hours.hour, coalesce(kills.kills, 0) AS kills
      FROM unnest($3::text[]) AS h(host) CROSS JOIN hours
      LEFT JOIN kills ON kills.host = h.host AND kills.hour = hours.hour
     ORDER BY h.host COLLATE "C", hours.hour) k`;

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
  const counted = (await client.query<{ host: string; running: number; kills: number }>(HOSTS, [analysisId, [...KILL_KINDS]])).rows;
  const hosts: FleetHost[] = counted.map(({ host, running, kills }) => {
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
      running,
      kills_24h: kills,
    };
  });
  const running = (await client.query<{ record: RunRecord; elapsed: number; rss: number | null }>(RUNNING, [analysisId])).rows
    .map(({ record, elapsed, rss }) => fleetRun(runRecordOfRow(record), elapsed, rss));
  const kills = (await client.query<{ record: FleetKillHour }>(KILLS, [analysisId, [...KILL_KINDS], hosts.map((host) => host.host)])).rows
    .map(({ record }) => ({ ...record, hour: new Date(record.hour).toISOString() }));
  return { generated_at: now.toISOString(), analysis_id: analysisId, hosts, running, kills };
}

/**
 * Every host (its daemon up, stale or none by daemons.ts daemonUp; its running runs and its runs
 * killed in the last 24 h, KILL_KINDS), the running runs of every host with their newest sample's
 * RSS, and 24 hourly kill buckets per host, zero-filled, oldest first. `analysisId` (null: all)
 * filters the running runs, the kills and the hosts' counts, not the hosts.
 * @throws SchemaTooNewError; pg errors (connecting, or a query)
 */
export async function readFleet(database: DatabaseConfig, analysisId: string | null): Promise<FleetBody> {
  return withSchema(database, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await readFleetIn(client, analysisId);
    } finally {
      await client.query('COMMIT').catch(() => undefined);
    }
  });
}
