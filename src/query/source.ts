/**
 * Where the recorded runs are read from: PostgreSQL (database-source.ts) or, when no database is
 * configured, the journals of a state directory (journal-source.ts). Both answer with the raw
 * records of src/record/types.ts, in the same order, so what is shown does not depend on the source.
 */
import type { EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../record/types.js';
import type { ListFilter, TimelineKey } from './filter.js';

/** Everything recorded about one run. */
export interface Timeline {
  run: RunRecord;
  /** Ordered by first sight, then pid. */
  processes: ProcessRecord[];
  /** In time order; empty when none were recorded. */
  samples: SampleRecord[];
  /** Oldest first (ties: kind, then id): the exact reverse of the listing's order. */
  events: EventRecord[];
  /** How many other runs the run's analysis has (0 when it has no analysis id). */
  otherRuns: number;
}

export interface RecordSource {
  /** Runs, newest start first (ties: id, descending), filtered. */
  runs(filter: ListFilter): Promise<RunRecord[]>;
  /** Events, newest first (ties: kind, then id, descending), filtered. */
  events(filter: ListFilter): Promise<EventRecord[]>;
  /** The run's timeline; undefined when there is no such run. */
  timeline(key: TimelineKey): Promise<Timeline | undefined>;
}
