/**
 * The records of a state directory's journals, for hosts without a database: every
 * `<state>/journal/*.jsonl`, shipped or not, folded the way PostgreSQL would store them (one
 * version of each run row, chosen by run-version.ts), then filtered and ordered as
 * database-source.ts does in SQL. Lines that are not JSON (a torn last line, which a live journal
 * may show for a moment) are skipped silently: `scidex-watchdog ship` is where they are reported.
 * JSON lines that are not records this side can filter, sort and show (see SHAPES) are skipped
 * too, with one warning per journal that has any: the kind of line PostgreSQL refuses and `ship`
 * sets aside (rejected.ts), which must not cost the operator the rest of the state directory.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import { messageLine } from '../config/text.js';
import { readJournal } from '../record/journal.js';
import { latestVersions } from '../record/run-version.js';
import { RUN_STATUSES, type EventRecord, type JournalEntry, type ProcessRecord, type RunRecord, type SampleRecord } from '../record/types.js';
import type { ListFilter, TimelineKey } from './filter.js';
import type { RecordSource, Timeline } from './source.js';
import { visible } from '../config/text.js';

/** The journals' records, one per primary key, as the tables would hold them. */
interface Store {
  /** By run id. */
  runs: Map<string, RunRecord>;
  events: EventRecord[];
  processes: ProcessRecord[];
  samples: SampleRecord[];
}

/**
 * Runs `read`; a missing file counts as empty (no journal yet, or one removed meanwhile).
 * @throws UsageError when it cannot be read (another user's state directory)
 */
function readOrEmpty<T>(path: string, read: () => T[]): T[] {
  try {
    return read();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    throw new UsageError(`cannot read '${path}': ${code ?? error}`);
  }
}

/**
 * The journals of `stateDir`, by name; with `runId`, only that run's: its wrapper's `<id>.jsonl`
 * and a reaper's `<id>.reaped-<ms>.jsonl` (watchdog/reap-database.ts).
 */
function journalFiles(stateDir: string, runId?: string): string[] {
  const dir = join(stateDir, 'journal');
  const wanted = (name: string) => name.endsWith('.jsonl') && (runId === undefined || name === `${runId}.jsonl` || name.startsWith(`${runId}.reaped-`));
  return readOrEmpty(dir, () => readdirSync(dir).filter(wanted).sort().map((name) => join(dir, name)));
}

/** Whether a JSON value may stand in a field. */
type Test = (value: unknown) => boolean;

const isString: Test = (value) => typeof value === 'string';
// JSON.parse reads 1e999 as Infinity, which no column holds.
const isNumber: Test = (value) => typeof value === 'number' && Number.isFinite(value);
const isBoolean: Test = (value) => typeof value === 'boolean';
const isTime: Test = (value) => typeof value === 'string' && !Number.isNaN(Date.parse(value));
const isStatus: Test = (value) => (RUN_STATUSES as readonly unknown[]).includes(value);
const orNull = (test: Test): Test => (value) => value === null || test(value);
const listOf = (test: Test): Test => (value) => Array.isArray(value) && value.every(test);
// A field a journal older than it lacks.
const absentOr = (test: Test): Test => (value) => value === undefined || test(value);
const isTopProcess: Test = (value) => {
  if (typeof value !== 'object' || value === null) return false;
  const { pid, comm, rss_bytes: rss } = value as Record<string, unknown>;
  return isNumber(pid) && isString(comm) && isNumber(rss);
};

/** For some fields of a record type, what each must hold. */
type Shape<R> = { [Field in keyof R]?: Test };

/**
 * Per table, the fields the query side reads (to fold versions, filter, sort and show a record)
 * and what each must hold: present, of the type src/record/types.ts gives (numbers finite), null
 * only where that type allows it, times that Date.parse reads. Fields only `--json` prints are
 * passed through unchecked.
 */
const SHAPES: { runs: Shape<RunRecord>; events: Shape<EventRecord>; processes: Shape<ProcessRecord>; samples: Shape<SampleRecord> } = {
  runs: {
    id: isString, revision: isNumber, analysis_id: orNull(isString), host: isString, pid: orNull(isNumber), argv: listOf(isString),
    timeout_ms: isNumber, memory_limit_bytes: isNumber, grace_ms: isNumber, orphan_policy: isString, tracking_backend: isString,
    cgroup_path: orNull(isString), started_at: isTime, heartbeat_at: isTime, ended_at: orNull(isTime), status: isStatus,
    exit_status: orNull(isNumber), exit_code: orNull(isNumber), signal: orNull(isString), reason: orNull(isString),
    peak_rss_bytes: isNumber, peak_pss_bytes: orNull(isNumber), cpu_seconds: isNumber, peak_process_count: isNumber, process_count: isNumber,
  },
  events: {
    id: isString, run_id: isString, analysis_id: orNull(isString), at: isTime, kind: isString, reason: orNull(isString),
    pid: orNull(isNumber), pids: listOf(isNumber), signal: orNull(isString), rss_bytes: orNull(isNumber), pss_bytes: orNull(isNumber),
    process_rss_bytes: orNull(isNumber), elapsed_ms: isNumber,
  },
  processes: {
    run_id: isString, pid: isNumber, starttime: isNumber, ppid: isNumber, comm: isString, found_by: isString, first_seen_at: isTime,
    peak_rss_bytes: isNumber, cpu_seconds: isNumber, fate: isString,
  },
  samples: {
    id: isString, run_id: isString, at: isTime, elapsed_ms: isNumber, rss_bytes: isNumber, pss_bytes: orNull(isNumber),
    cpu_seconds: isNumber, process_count: isNumber, peak: isBoolean, tick: absentOr(isBoolean),
    top_processes: absentOr(orNull(listOf(isTopProcess))),
  },
} satisfies Record<JournalEntry['table'], object>;

/** By table name: a Map, so that a line naming `constructor` finds nothing. */
const SHAPE_OF = new Map<unknown, Record<string, Test>>(Object.entries(SHAPES));

/** Whether a parsed journal line is an entry of a known table whose record has the fields SHAPES asks. */
function isShowable(entry: unknown): entry is JournalEntry {
  if (typeof entry !== 'object' || entry === null) return false;
  const { table, record } = entry as Record<string, unknown>;
  const shape = SHAPE_OF.get(table);
  if (!shape || typeof record !== 'object' || record === null) return false;
  return Object.entries(shape).every(([field, test]) => test((record as Record<string, unknown>)[field]));
}

/** The first record of each key, as ON CONFLICT DO NOTHING keeps it. */
function firstOfEach<T>(records: readonly T[], key: (record: T) => string): T[] {
  const first = new Map<string, T>();
  for (const record of records) if (!first.has(key(record))) first.set(key(record), record);
  return [...first.values()];
}

/**
 * Reads every journal (with `runId`, that run's alone: journalFiles), in file order, into what the
 * tables would hold after shipping them all.
 * @param warn told once per journal that could not be read (another user's, not a regular file) or
 *        had lines skipped by isShowable, with how many; the other journals are still read
 */
function load(stateDir: string, warn: (line: string) => void, runId?: string): Store {
  const tables = { runs: [] as RunRecord[], events: [] as EventRecord[], processes: [] as ProcessRecord[], samples: [] as SampleRecord[] };
  for (const file of journalFiles(stateDir, runId)) {
    let entries: unknown[];
    try {
      entries = readJournal(file).entries;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Missing: removed (retention) between the listing and now.
      if (code !== 'ENOENT') warn(`skipped ${visible(file)}: cannot read it (${code ?? messageLine(String(error))})`);
      continue;
    }
    let skipped = 0;
    for (const entry of entries) {
      // isShowable vouched for the table name; TypeScript cannot pair entry.table with entry.record.
      if (isShowable(entry)) (tables[entry.table] as object[]).push(entry.record);
      else skipped++;
    }
    if (skipped > 0) warn(`skipped ${skipped} line${skipped === 1 ? '' : 's'} of ${visible(file)}: not well-formed records`);
  }
  return {
    runs: new Map(latestVersions(tables.runs).map((run) => [run.id, run])),
    events: firstOfEach(tables.events, (event) => event.id),
    processes: firstOfEach(tables.processes, (process) => `${process.run_id}/${process.pid}/${process.starttime}`),
    // As PostgreSQL holds them: a sample that does not say is no tick and has no top processes (the columns' defaults).
    samples: firstOfEach(tables.samples, (sample) => sample.id).map((sample) => ({ ...sample, tick: sample.tick ?? false, top_processes: sample.top_processes ?? null })),
  };
}

/** Compares sort keys element by element; strings by code point, as `COLLATE "C"` does. */
function compare(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return a[index] < b[index] ? -1 : 1;
  return 0;
}

const runOrder = (run: RunRecord) => [Date.parse(run.started_at), run.id];
const eventOrder = (event: EventRecord) => [Date.parse(event.at), event.kind, event.id];
const since = (iso: string, filter: ListFilter) => filter.since === undefined || Date.parse(iso) >= Date.parse(filter.since);

function runs(store: Store, filter: ListFilter): RunRecord[] {
  return [...store.runs.values()]
    .filter(
      (run) =>
        (filter.analysisId === undefined || run.analysis_id === filter.analysisId) &&
        (filter.runId === undefined || run.id === filter.runId) &&
        (filter.status === undefined || run.status === filter.status) &&
        (filter.host === undefined || run.host === filter.host) &&
        since(run.started_at, filter),
    )
    .sort((a, b) => compare(runOrder(b), runOrder(a)))
    .slice(0, filter.limit);
}

function events(store: Store, filter: ListFilter): EventRecord[] {
  return store.events
    .filter(
      (event) =>
        (filter.analysisId === undefined || event.analysis_id === filter.analysisId) &&
        (filter.runId === undefined || event.run_id === filter.runId) &&
        (filter.host === undefined || store.runs.get(event.run_id)?.host === filter.host) &&
        (filter.status === undefined || store.runs.get(event.run_id)?.status === filter.status) &&
        since(event.at, filter),
    )
    .sort((a, b) => compare(eventOrder(b), eventOrder(a)))
    .slice(0, filter.limit);
}

function timeline(store: Store, key: TimelineKey): Timeline | undefined {
  const [run] = runs(store, { ...key, limit: 1 });
  if (!run) return undefined;
  const ofRun = <T extends { run_id: string }>(records: T[]) => records.filter((record) => record.run_id === run.id);
  return {
    run,
    processes: ofRun(store.processes).sort((a, b) => compare([Date.parse(a.first_seen_at), a.pid], [Date.parse(b.first_seen_at), b.pid])),
    samples: ofRun(store.samples).sort((a, b) => compare([Date.parse(a.at), a.id], [Date.parse(b.at), b.id])),
    events: events(store, { runId: run.id }).reverse(),
    otherRuns: run.analysis_id === null ? 0 : runs(store, { analysisId: run.analysis_id }).length - 1,
  };
}

/**
 * A source reading the journals of `stateDir` afresh on every call.
 * @param warn where a journal's skipped lines are reported, one line each (`skipped 2 lines of
 *        <path>: ...`)
 * @param runId read that run's journals alone (journalFiles), not the whole state directory: then
 *        nothing of other runs is seen (a timeline's otherRuns counts those journals' runs only)
 */
export function journalSource(stateDir: string, warn: (line: string) => void, runId?: string): RecordSource {
  return {
    runs: async (filter) => runs(load(stateDir, warn, runId), filter),
    events: async (filter) => events(load(stateDir, warn, runId), filter),
    timeline: async (key) => timeline(load(stateDir, warn, runId), key),
  };
}
