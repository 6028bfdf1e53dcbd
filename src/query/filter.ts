/**
 * What a query asks for: the filters of `scidex-watchdog runs` and `events`, and the run `show`
 * looks up. Both sources (PostgreSQL and the journals) read them the same way.
 */

/** Filters shared by the listings; undefined fields do not filter. */
export interface ListFilter {
  analysisId?: string;
  /** A run id, lower-case. */
  runId?: string;
  /** Runs in this status (for events: the events of such runs). */
  status?: string;
  /** Runs of this host (for events: events of its runs). */
  host?: string;
  /** Only what started (runs) or happened (events) at or after this ISO time. */
  since?: string;
  /** At most this many records, newest first; undefined: all of them. */
  limit?: number;
}

/** The run `show` is about: this run, or the latest run (by start) of this analysis. */
export type TimelineKey = { runId: string; analysisId?: undefined } | { analysisId: string; runId?: undefined };
