/**
 * What the run page (`GET /runs/<id>`, its data at `GET /runs/<id>.json`) and
 * `scidex-watchdog show RUN --json` show of one run, as types only: the wire format between the
 * daemon, the CLI and the page's browser script, which imports these types. So this module
 * imports nothing but types. Bytes, milliseconds, ISO times (UTC).
 */
import type { EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../record/types.js';

/** One process of a running run as measured now (/proc), for the live figures. */
export interface LiveProcess {
  pid: number;
  ppid: number;
  /** proc(5) stat field 2. */
  comm: string;
  argv: string[];
  /** RSS now, bytes (proc(5) stat field 24, rss, times the page size). */
  rss_bytes: number;
  /** How the run's tracking recognised it (track/member.ts FoundBy). */
  found_by: string;
}

/** A running run of this host, measured when the view was built (not its last heartbeat). */
export interface LiveFigures {
  /** When it was measured. */
  at: string;
  /** From the run's start to `at`. */
  elapsed_ms: number;
  /** Until the wall-clock timeout fires (0 once past it); null when the run has no timeout. */
  time_left_ms: number | null;
  /** Tree RSS now: the sum over the live processes. */
  rss_bytes: number;
  process_count: number;
  /** The live processes, the biggest RSS first; at most LIVE_PROCESSES_SHOWN of them. */
  processes: LiveProcess[];
}

/** Everything shown of one run. */
export interface RunView {
  run: RunRecord;
  /** Ordered by first sight, then pid (watchdog_processes is written at the run's end: empty while it runs). */
  processes: ProcessRecord[];
  /** In time order: the periodic samples, the peaks, and the ticks journaled at a breach (`tick`). */
  samples: SampleRecord[];
  /** Oldest first. */
  events: EventRecord[];
  /** How many other runs the run's analysis has (0 when it has no analysis id). */
  other_runs: number;
  /** Where the records were read: PostgreSQL, or the journals of the state directory. */
  source: 'database' | 'journal';
  /** A running run of this host measured now; null when it has ended, is another host's, or its tree could not be read. */
  live: LiveFigures | null;
}
