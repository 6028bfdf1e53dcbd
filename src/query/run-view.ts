/**
 * One run as the run page and `show` show it (run-view-body.ts). STUB: the view helper writes it.
 */
import type { DatabaseConfig } from '../config/database.js';
import type { TimelineKey } from './filter.js';
import type { RunView } from './run-view-body.js';

/** Where to read a run from: PostgreSQL when configured (falling back to the journals), else the journals of the state directory. */
export interface RunViewPlace {
  database?: DatabaseConfig;
  stateDir: string;
  /** A warning about a journal that could not be read. */
  warn?: (line: string) => void;
}

/** The run's view; undefined when there is no such run. */
export async function readRunView(key: TimelineKey, place: RunViewPlace, nowMs = Date.now()): Promise<RunView | undefined> {
  void key;
  void place;
  void nowMs;
  throw new Error('not yet built');
}
