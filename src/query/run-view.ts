/**
 * One run as the run page and `show` show it (run-view-body.ts): its records, from PostgreSQL or
 * the journals, and, while it runs on this host, its tree measured now (live-figures.ts).
 */
import { redactUrl, type DatabaseConfig } from '../config/database.js';
import { isRunId } from '../config/run-id.js';
import { messageLine, visible } from '../config/text.js';
import { readTimedOut, type ReadSnapshotOptions } from '../record/connect.js';
import { withSchema, withSchemaSnapshot } from '../record/migrate.js';
import { databaseSource } from './database-source.js';
import type { TimelineKey } from './filter.js';
import { journalSource } from './journal-source.js';
import { liveFigures } from './live-figures.js';
import type { RunView } from './run-view-body.js';
import type { Timeline } from './source.js';

/** Where to read a run from: PostgreSQL when configured (falling back to the journals), else the journals of the state directory. */
export interface RunViewPlace {
  database?: DatabaseConfig;
  stateDir: string;
  /** Bounds the database read (record/migrate.ts withSchemaSnapshot: the daemon's pages); without it, withSchema. */
  read?: ReadSnapshotOptions;
  /** A warning about a journal that could not be read, or a database that could not be. */
  warn?: (line: string) => void;
}

/**
 * The run's timeline and where it was read. With a database: its rows; when it has no such run
 * (a running run's rows may not be shipped yet), the run's own journals in the state directory
 * (journal-source.ts journalFiles: one file, not every run's), and when it cannot be read (down,
 * refusing us; said through `warn`) or none is configured, the journals of the state directory.
 * @throws UsageError when the journals cannot be read
 */
async function readTimeline(key: TimelineKey, place: RunViewPlace): Promise<{ timeline: Timeline; source: RunView['source'] } | undefined> {
  const warn = place.warn ?? (() => undefined);
  let onlyRun: string | undefined;
  if (place.database) {
    try {
      const read = (client: Parameters<typeof databaseSource>[0]) => databaseSource(client).timeline(key);
      const timeline = await (place.read ? withSchemaSnapshot(place.database, place.read, read) : withSchema(place.database, read));
      if (timeline) return { timeline, source: 'database' };
      onlyRun = key.runId;
    } catch (error) {
      // A page's read that ran out of time is the page's "busy, try again", not a reason to parse
      // every journal of the host on the daemon's event loop while the database is slow.
      if (place.read && readTimedOut(error)) throw error;
      warn(`cannot read the database ${visible(place.database.display)} (${messageLine(redactUrl(error instanceof Error ? error.message : String(error)))}): reading the journals in ${visible(place.stateDir)}`);
      // A page reads only the run's own journal then (its other_runs counts only what that holds).
      if (place.read) onlyRun = key.runId;
    }
  }
  const timeline = await journalSource(place.stateDir, warn, onlyRun).timeline(key);
  return timeline && { timeline, source: 'journal' };
}

/**
 * The run's view (run-view-body.ts RunView); undefined when there is no such run (a run id that
 * is not a UUID is none, without a query).
 * @param key the run, or the latest run (by start) of an analysis
 * @param nowMs when `live` is given for (epoch milliseconds); by default, when its tree was scanned
 * @throws UsageError when the journals cannot be read; with `place.read`, a read that ran out of time or found the schema unchecked (connect.ts readTimedOut), for the caller to answer "busy"
 */
export async function readRunView(key: TimelineKey, place: RunViewPlace, nowMs?: number): Promise<RunView | undefined> {
  // A run id names a journal file and a marker: anything but a UUID is no run, asked of no one.
  if (key.runId !== undefined && !isRunId(key.runId)) return undefined;
  const read = await readTimeline(key, place);
  if (!read) return undefined;
  const { run, processes, samples, events, otherRuns } = read.timeline;
  return { run, processes, samples, events, other_runs: otherRuns, source: read.source, live: liveFigures(run, place.stateDir, nowMs) };
}
