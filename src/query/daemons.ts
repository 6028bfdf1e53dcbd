/**
 * The SQL of `scidex-watchdog serve` and `status`: the daemon's own row in watchdog_daemons (its
 * heartbeat, one per host), the list of every host's daemon, and what /status shows of a host's
 * history (its latest kill and failure events, the runs killed in the last day). Parameterised;
 * rows come back through row_to_json so bigints are numbers and times are rewritten to the
 * journal's `Z` form.
 */
import type { ClientBase } from 'pg';
import { KILLED_RUN_KINDS, NOTABLE_KINDS } from '../record/event-kinds.js';
import type { EventRecord } from '../record/types.js';

/** One row of watchdog_daemons. Times ISO (UTC), interval milliseconds. */
export interface DaemonRow {
  host: string;
  pid: number;
  started_at: string;
  heartbeat_at: string;
  interval_ms: number;
  version: string;
  /** HOST:PORT it serves on. */
  listen: string | null;
}

/**
 * A daemon row with its age as the database's clock sees it: no skew between hosts, since
 * upsertDaemon writes heartbeat_at with that clock (rows of daemons older than that carry their
 * host's clock, and a clock ahead gives a negative age).
 */
export interface DaemonListing extends DaemonRow {
  /** now() - heartbeat_at, milliseconds. */
  heartbeat_age_ms: number;
}

// heartbeat_at is the database's now(), not the daemon host's clock: its age, now() - heartbeat_at
// on any host, is then free of clock skew (a clock ahead would make a dead daemon look up).
const UPSERT = `
  INSERT INTO watchdog_daemons (host, pid, started_at, heartbeat_at, interval_ms, version, listen)
  VALUES ($1, $2, $3, now(), $4, $5, $6)
  ON CONFLICT (host) DO UPDATE SET pid = EXCLUDED.pid, started_at = EXCLUDED.started_at, heartbeat_at = EXCLUDED.heartbeat_at,
    interval_ms = EXCLUDED.interval_ms, version = EXCLUDED.version, listen = EXCLUDED.listen`;

const LIST = `
  SELECT row_to_json(d) AS record, (extract(epoch FROM now() - d.heartbeat_at) * 1000)::float8 AS age
    FROM watchdog_daemons d ORDER BY host`;

// run_finished only when the run did not complete: the page shows what went wrong, not every end.
const RECENT_EVENTS = `
  SELECT row_to_json(e) AS record FROM watchdog_events e
   WHERE e.run_id IN (SELECT id FROM watchdog_runs WHERE host = $1)
     AND e.kind = ANY ($2::text[])
     AND (e.kind <> 'run_finished' OR coalesce(e.detail->>'status', '') <> 'completed')
   ORDER BY e.at DESC, e.id DESC LIMIT $3`;

const KILLED_RUNS = `
  SELECT DISTINCT e.run_id::text AS id FROM watchdog_events e
   WHERE e.kind = ANY ($2::text[]) AND e.at >= now() - interval '24 hours'
     AND e.run_id IN (SELECT id FROM watchdog_runs WHERE host = $1)
   LIMIT 100000`;

/**
 * Writes (or rewrites) this host's daemon row, its heartbeat_at the database's now() (UPSERT).
 * @param row started_at is this host's clock (the daemon's start); @throws pg errors
 */
export async function upsertDaemon(client: ClientBase, row: Omit<DaemonRow, 'heartbeat_at'>): Promise<void> {
  await client.query(UPSERT, [row.host, row.pid, row.started_at, row.interval_ms, row.version, row.listen]);
}

/**
 * Whether a daemon is up: its heartbeat is at most 3 of its sweep intervals old (a missed beat or
 * two is a busy host, not a dead daemon). `status` and the fleet view judge by this alone.
 */
export function daemonUp(row: Pick<DaemonListing, 'heartbeat_age_ms' | 'interval_ms'>): boolean {
  return row.heartbeat_age_ms <= 3 * row.interval_ms;
}

/** Every host's daemon row, by host name. @throws pg errors */
export async function listDaemons(client: ClientBase): Promise<DaemonListing[]> {
  const result = await client.query<{ record: DaemonRow; age: number }>(LIST);
  return result.rows.map(({ record, age }) => ({
    ...record,
    started_at: new Date(record.started_at).toISOString(),
    heartbeat_at: new Date(record.heartbeat_at).toISOString(),
    heartbeat_age_ms: Math.round(age),
  }));
}

/**
 * The newest `limit` events of `host`'s runs that /status shows (NOTABLE_KINDS; run_finished only
 * when not completed), newest first. @throws pg errors
 */
export async function recentHostEvents(client: ClientBase, host: string, limit: number): Promise<EventRecord[]> {
  const result = await client.query<{ record: EventRecord }>(RECENT_EVENTS, [host, [...NOTABLE_KINDS], limit]);
  return result.rows.map(({ record }) => ({ ...record, at: new Date(record.at).toISOString() }));
}

/** Ids of `host`'s runs with a signal_sent or kernel_oom_kill event in the last 24 hours (the database's clock). @throws pg errors */
export async function runsKilledLastDay(client: ClientBase, host: string): Promise<string[]> {
  const result = await client.query<{ id: string }>(KILLED_RUNS, [host, [...KILLED_RUN_KINDS]]);
  return result.rows.map((row) => row.id);
}
