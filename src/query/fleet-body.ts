/**
 * What the fleet view (`GET /fleet`, its data at `GET /fleet.json`) shows, as types only: the wire
 * format between the daemon and the page's browser script. Read from PostgreSQL, whose clock
 * gives the day's window and a daemon's heartbeat age (its heartbeat_at is the database's now()
 * when written: no skew between hosts); a run's started_at is its wrapper host's clock. "The day":
 * from the start of the UTC hour 23 hours before now's to now, the span of the 24 hourly kill
 * buckets. Bytes, milliseconds, ISO times (UTC).
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
  /**
   * Its runs whose tree got a signal of ours or the kernel's OOM kill (event-kinds.ts
   * KILLED_RUN_KINDS) first within the day: the sum of its 24 FleetKillHour buckets, each run once.
   */
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
  /** From the start (the wrapper host's clock) to the database's now: off by that host's clock skew. */
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

/** Kills of one host in one UTC hour of the day (hours with none are present, with 0). */
export interface FleetKillHour {
  host: string;
  /** The start of the hour, a whole hour of UTC. */
  hour: string;
  /** The host's runs whose first kill event fell in this hour; a run killed across hours counts in its first one only. */
  kills: number;
}

/** The body of GET /fleet.json. */
export interface FleetBody {
  /** The database's now. */
  generated_at: string;
  /** The analysis id filter applied (`?analysis_id=`), else null. */
  analysis_id: string | null;
  /** Every host with a daemon row, a running run or a run started, beating or ended within the day, by name. */
  hosts: FleetHost[];
  /** Running runs of every host, oldest start first, filtered by analysis id; the first 500 (fleet.ts FLEET_RUNNING_SHOWN) of running_total. */
  running: FleetRun[];
  /** How many runs are running (filtered by analysis id), listed in `running` or not; absent from older daemons. */
  running_total?: number;
  /** 24 hourly buckets per host (the day's UTC hours), oldest first, filtered by analysis id. */
  kills: FleetKillHour[];
}
