/**
 * The body of `GET /status`, as types only. It is the wire format between the daemon (status.ts
 * builds it) and the live page's browser script (http/page/), which imports these types: so this
 * module imports nothing but types, and the browser bundle gets nothing of the server from it.
 */
import type { EventKind } from '../record/types.js';

/** One monitored run in /status. Bytes, milliseconds, ISO times (UTC). */
export interface RunStatus {
  id: string;
  analysis_id: string | null;
  /** The leader's pid (null until the journal names it). */
  pid: number | null;
  wrapper_pid: number;
  /** The command's argv, secrets redacted as stored. */
  command: string[];
  started_at: string;
  elapsed_ms: number;
  /** The wall-clock limit; 0 when disabled. */
  timeout_ms: number;
  /** Until the timeout fires (0 once past it); null when there is no timeout. */
  time_left_ms: number | null;
  /** 0 when disabled. */
  memory_limit_bytes: number;
  /** Tree RSS at the newest sample; null before the first sample. */
  rss_bytes: number | null;
  /** Tree PSS at the newest sample, when it was read (only over the limit). */
  pss_bytes: number | null;
  process_count: number;
  /** A termination sequence is under way: a signal was sent, the run has not finished yet. */
  in_grace: boolean;
  tracking_backend: string;
  /** An adopted run (`scidex-watchdog adopt`): its process was started elsewhere, its wrapper is the adopting supervisor. */
  adopted?: boolean;
}

/** One event of recent_events. */
export interface StatusEvent {
  at: string;
  run_id: string;
  analysis_id: string | null;
  kind: EventKind;
  reason: string | null;
  signal: string | null;
  pid: number | null;
  rss_bytes: number | null;
  pss_bytes: number | null;
}

/** A stop of the memory-pressure guard (watchdog/pressure-stop.ts). Bytes, milliseconds, ISO times. */
export interface PressureStop {
  /** When the request reached the run's wrapper. */
  at: string;
  run_id: string;
  analysis_id: string | null;
  /** min_available (MemAvailable below --min-available) or memory_pressure (PSI full avg10 held above --max-memory-pressure). */
  threshold: 'min_available' | 'memory_pressure';
  /** When the guard first saw the threshold crossed. */
  crossed_at: string;
  mem_available_bytes: number;
  psi_full_avg10: number | null;
  run_pss_bytes: number;
  /** Runs measured for the choice. */
  candidates: number;
  /**
   * wrapper: it stopped the run; daemon: it did not act (or died before the run's end), and the
   * daemon ended the run; reaper: the wrapper died and another reaper (the lifeline's) had the run
   * first; ended: the run was ending by itself.
   */
  by: 'wrapper' | 'daemon' | 'reaper' | 'ended';
  /** From the crossing to the request's delivery. */
  reaction_ms: number;
}

/** The memory-pressure guard in /status: its thresholds, the host's figures at its last reading, its stops. */
export interface PressureGuardStatus {
  /** false under --pressure-guard off (the figures are then read at the scrape). */
  enabled: boolean;
  min_available_bytes: number;
  /** Percent; 0 when PSI is not acted on. */
  max_memory_pressure: number;
  pressure_duration_ms: number;
  /** The last reading; null when /proc/meminfo could not be read. */
  read_at: string | null;
  mem_available_bytes: number | null;
  mem_total_bytes: number | null;
  /** Percent; null where the kernel has no PSI. */
  psi_full_avg10: number | null;
  /** Within 10 % of a threshold: the guard reads every 100 ms. */
  near: boolean;
  /** Stops since the daemon started. */
  stops: number;
  last_stop: PressureStop | null;
}

/** The body of GET /status. */
export interface HostStatus {
  host: string;
  version: string;
  daemon: {
    pid: number;
    started_at: string;
    uptime_seconds: number;
    heartbeat_at: string;
    /** Null before the first sweep has ended. */
    last_sweep: { at: string; ms: number; error?: string } | null;
    /** ok: the last sweep reached PostgreSQL; down: it could not; none: no database configured. */
    database: 'ok' | 'down' | 'none';
  };
  monitored_count: number;
  grace_count: number;
  kills_last_24h: number;
  runs: RunStatus[];
  recent_events: StatusEvent[];
  pressure_guard: PressureGuardStatus;
}
