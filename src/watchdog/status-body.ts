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
}
