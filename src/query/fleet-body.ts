/**
 * What the fleet view (`GET /fleet`, its data at `GET /fleet.json`) shows, as types only: the wire
 * format between the daemon and the page's browser script. Read from PostgreSQL, whose clock
 * gives every age (no skew between hosts). Bytes, milliseconds, ISO times (UTC).
 */

/** One host: its daemon's row in watchdog_daemons, and what its runs add up to. */
export interface FleetHost {
  host: string;
  /**
   * up: its daemon's heartbeat is younger than 3 of its sweep intervals; stale: older (the daemon
   * stopped or cannot reach the database); none: runs of the host are recorded, no daemon ever was.
   */
  daemon: 'up' | 'stale' | 'none';
  daemon_pid: number | null;
  version: string | null;
  heartbeat_at: string | null;
  heartbeat_age_ms: number | null;
  interval_ms: number | null;
  /** HOST:PORT its daemon serves on. */
  listen: string | null;
  /** Its runs still `running`. */
  running: number;
  /** Its runs whose tree got a signal of ours or the kernel's OOM kill in the last 24 h. */
  kills_24h: number;
}

/** One running run of any host. */
export interface FleetRun {
  id: string;
  host: string;
  analysis_id: string | null;
  pid: number | null;
  argv: string[];
  username: string;
  started_at: string;
  /** From the start to the database's now. */
  elapsed_ms: number;
  heartbeat_at: string;
  timeout_ms: number;
  memory_limit_bytes: number;
  /** The highest tree RSS of its last heartbeat. */
  peak_rss_bytes: number;
  /** Tree RSS of its newest sample; null before its first one. */
  rss_bytes: number | null;
  process_count: number;
  adopted: boolean;
}

/** Kills of one host in one hour of the last 24 h (hours with none are present, with 0). */
export interface FleetKillHour {
  host: string;
  /** The start of the hour. */
  hour: string;
  kills: number;
}

/** The body of GET /fleet.json. */
export interface FleetBody {
  /** The database's now. */
  generated_at: string;
  /** The analysis id filter applied (`?analysis_id=`), else null. */
  analysis_id: string | null;
  /** Every host with a daemon row or a recorded run in the last 24 h, by name. */
  hosts: FleetHost[];
  /** Running runs of every host, oldest start first, filtered by analysis id. */
  running: FleetRun[];
  /** 24 hourly buckets per host, oldest first, filtered by analysis id. */
  kills: FleetKillHour[];
}
