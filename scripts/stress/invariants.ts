// The checks after the end: every journal line of every journal against PostgreSQL, and every
// planned run against how it should have ended.
//
//   1. Every journal line is in PostgreSQL exactly once (the keys are primary keys, so "once" is
//      "present"): runs one row per id, whose revision and status are the journal's winning version
//      (run-version.ts latestVersions); events and samples by id, processes by (run_id, pid,
//      starttime), each under the same run. A run lacking anything is one `records-missing`
//      violation, with what is missing and what the timing of its `.shipped` mark says of why.
//      And nothing is in PostgreSQL that no journal holds, except the records the full-disk group's
//      wrappers shipped from memory (counted, not violations; for those runs PostgreSQL must hold a
//      version at least as new as the journal's).
//   2. Every run ends in a final status; a run whose wrapper the harness SIGKILLed ends `lost` or
//      with its own ending; any other run ends exactly as its command does (status and exit status).
//   5. Every journal is marked `<name>.shipped`.
// Also violations: lines a journal holds that are not records (but where the disk was full or the
// wrapper SIGKILLed: torn lines are expected there), records PostgreSQL refused (`rejected/`) and
// does not hold (one it holds after all is a note: set aside for a reason that passed), a
// wrapper that hung, a run planned but never recorded (except, in the full-disk group, a start
// refused for the full disk and a run whose wrapper said it lost its records: the disk full and
// the server down at once, a loss docs/records.md documents; such a run may also end `lost`), and a
// run reaped twice (two `run_lost` events; docs/operations.md promises one reaper per run). Invariants 3
// and 4 (survivors, sentinels) are stress.ts's.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import pg from 'pg';
import { readJournal } from '../../src/record/journal.js';
import { latestVersions, supersedes } from '../../src/record/run-version.js';
import type { EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from '../../src/record/types.js';
import { EXPECTED, type RunOutcome } from './runs.js';

/** One broken promise. */
export interface Violation {
  /** A short stable name: `event-missing`, `not-final`, `journal-unmarked`, ... */
  kind: string;
  /** The run it is about (its id, else `#<plan index>`), when it is about one. */
  run?: string;
  detail: string;
}

export const TABLES = ['runs', 'events', 'processes', 'samples'] as const;
export type Table = (typeof TABLES)[number];
export type TableCounts = Record<Table, number>;

/** What the record checks looked at and found. */
export interface RecordCheck {
  violations: Violation[];
  /** Journal lines compared with PostgreSQL, by table; and journal files read. */
  journalLines: TableCounts & { files: number };
  /** PostgreSQL rows compared with the journals, by table. */
  databaseRows: TableCounts;
  /** Final status of the runs as PostgreSQL holds them. */
  statuses: Record<string, number>;
  /** Facts that are not violations: torn lines of the full disk, rows shipped from memory, runs killed before they journaled. */
  notes: string[];
}

/** Where the records are. */
export interface RecordSources {
  /** Every state directory of the stress run. */
  stateDirs: readonly string[];
  /** The full-disk group's state directory, when it was mounted. */
  fullDiskDir?: string;
  databaseUrl: string;
  outcomes: readonly RunOutcome[];
}

const zero = (): TableCounts => ({ runs: 0, events: 0, processes: 0, samples: 0 });
const processKey = (record: Pick<ProcessRecord, 'run_id' | 'pid' | 'starttime'>): string => `${record.run_id}/${record.pid}/${record.starttime}`;

/** One line of a `<state>/rejected/<journal>` file, with the run of its file name. */
interface Rejected {
  run: string;
  code: string;
  reason: string;
  entry?: { table?: string; record?: unknown };
}

/** What the journals hold of one run (a run may have several journals: a reaper's `<run>.reaped-<ms>.jsonl`). */
interface JournalRun {
  versions: RunRecord[];
  /** Keys of events, samples and processes, with the event kinds for the report. */
  events: Map<string, EventRecord>;
  samples: Map<string, SampleRecord>;
  processes: Set<string>;
  fullDisk: boolean;
}

/** What PostgreSQL holds. */
interface Database {
  runs: Map<string, RunRecord>;
  /** id -> run_id. */
  events: Map<string, { run: string; kind: string }>;
  samples: Map<string, string>;
  /** processKey -> run_id. */
  processes: Map<string, string>;
}

async function readDatabase(url: string): Promise<Database> {
  const client = new pg.Client({ connectionString: url, application_name: 'scidex-stress', connectionTimeoutMillis: 10_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const runs = await client.query<{ run: RunRecord }>('SELECT row_to_json(r) AS run FROM watchdog_runs r');
    const events = await client.query<{ id: string; run_id: string; kind: string }>('SELECT id::text, run_id::text, kind FROM watchdog_events');
    const samples = await client.query<{ id: string; run_id: string }>('SELECT id::text, run_id::text FROM watchdog_samples');
    const processes = await client.query<{ run_id: string; pid: number; starttime: string }>('SELECT run_id::text, pid, starttime::text FROM watchdog_processes');
    return {
      runs: new Map(runs.rows.map((row) => [row.run.id, row.run])),
      events: new Map(events.rows.map((row) => [row.id, { run: row.run_id, kind: row.kind }])),
      samples: new Map(samples.rows.map((row) => [row.id, row.run_id])),
      processes: new Map(processes.rows.map((row) => [processKey({ ...row, starttime: Number(row.starttime) }), row.run_id])),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** When a journal was marked shipped, and when its first and last lines were written (wall clock, ms). */
interface JournalTiming {
  path: string;
  markedMs?: number;
  firstMs: number;
  lastMs: number;
}

/** The time a journal line speaks of: an event's or sample's `at`, a run version's heartbeat or end, a process's last sighting. */
function lineTimeMs(entry: JournalEntry): number {
  const record = entry.record as Partial<Record<'at' | 'heartbeat_at' | 'ended_at' | 'last_seen_at', string | null>>;
  const times = [record.at, record.heartbeat_at, record.ended_at, record.last_seen_at].filter((time): time is string => typeof time === 'string');
  return Math.max(...times.map(Date.parse));
}

/**
 * Why a run's journal lines may be missing, from the journal's `.shipped` mark: marked before its
 * first line (a shipper found it empty and marked it: the journal-before-marker race), marked
 * before its last line (marked while the run still wrote: the mark-after-ship race), or neither.
 */
function diagnose(journals: readonly JournalTiming[]): { key: string; text: string } {
  const main = journals.find((journal) => !basename(journal.path).includes('.reaped-')) ?? journals[0];
  if (!main) return { key: 'no journal', text: 'no journal of that name' };
  if (main.markedMs === undefined) return { key: 'unmarked', text: 'its journal is not marked shipped' };
  const at = new Date(main.markedMs).toISOString();
  if (main.markedMs < main.firstMs) {
    return { key: 'marked before its first line', text: `its journal was marked shipped at ${at}, ${((main.firstMs - main.markedMs) / 1000).toFixed(1)} s before its first line: a shipper found it empty and marked it` };
  }
  if (main.markedMs < main.lastMs) {
    return { key: 'marked before its last line', text: `its journal was marked shipped at ${at}, ${((main.lastMs - main.markedMs) / 1000).toFixed(1)} s before its last line: marked while the run still wrote` };
  }
  return { key: 'marked after its last line', text: `its journal was marked shipped at ${at}, after its last line` };
}

/** How many records the wrapper whose stderr is in `log` said it lost (full disk and no database), if it said so. */
function announcedLoss(log: string): number | undefined {
  try {
    const said = /(\d+) records could be written neither to the journal nor to PostgreSQL: lost/.exec(readFileSync(log, 'utf8'));
    return said ? Number(said[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the records of a stress run; see the header. */
export async function checkRecords(sources: RecordSources): Promise<RecordCheck> {
  const violations: Violation[] = [];
  const notes: string[] = [];
  const journalLines = { ...zero(), files: 0 };
  const databaseRows = zero();
  const flag = (kind: string, run: string | undefined, detail: string) => violations.push({ kind, run, detail });
  const runs = new Map<string, JournalRun>();
  const runOf = (id: string, fullDisk: boolean): JournalRun => {
    let run = runs.get(id);
    if (!run) runs.set(id, (run = { versions: [], events: new Map(), samples: new Map(), processes: new Set(), fullDisk }));
    run.fullDisk ||= fullDisk;
    return run;
  };
  /** Records set aside in `<state>/rejected/`: judged once PostgreSQL is read. */
  const rejections: Rejected[] = [];
  /** Lines that are not JSON: judged at the end, once it is known whose wrapper was killed. */
  const torn: { run: string; fullDisk: boolean; where: string; text: string }[] = [];
  /** Per run id (of the file name): when each of its journals was marked shipped, and the times of its first and last lines. */
  const timings = new Map<string, JournalTiming[]>();

  for (const stateDir of sources.stateDirs) {
    const fullDisk = stateDir === sources.fullDiskDir;
    const dir = join(stateDir, 'journal');
    const names = existsSync(dir) ? readdirSync(dir) : [];
    for (const name of names.filter((candidate) => candidate.endsWith('.jsonl')).sort()) {
      const path = join(dir, name);
      const fileRun = name.split('.')[0];
      journalLines.files++;
      let entries: JournalEntry[];
      try {
        const read = readJournal(path);
        entries = read.entries;
        torn.push(...read.bad.map((bad) => ({ run: fileRun, fullDisk, where: `${path}:${bad.line}`, text: bad.text })));
      } catch (error) {
        flag('journal-unreadable', fileRun, `${path}: ${(error as Error).message}`);
        continue;
      }
      const mark = join(dir, `${name.slice(0, -'.jsonl'.length)}.shipped`);
      const times = entries.map(lineTimeMs).filter((ms) => Number.isFinite(ms));
      const markedMs = existsSync(mark) ? statSync(mark).mtimeMs : undefined;
      timings.set(fileRun, [...(timings.get(fileRun) ?? []), { path, markedMs, firstMs: times[0], lastMs: Math.max(...times) }]);
      if (markedMs === undefined) {
        const last = entries.filter((entry) => entry.table === 'runs').at(-1)?.record as RunRecord | undefined;
        flag('journal-unmarked', fileRun, `${path} has no .shipped mark (${entries.length} lines, last run version r${last?.revision ?? '-'} ${last?.status ?? 'none'})`);
      }
      for (const entry of entries) {
        switch (entry.table) {
          case 'runs': runOf(entry.record.id, fullDisk).versions.push(entry.record); break;
          case 'events': runOf(entry.record.run_id, fullDisk).events.set(entry.record.id, entry.record); break;
          case 'samples': runOf(entry.record.run_id, fullDisk).samples.set(entry.record.id, entry.record); break;
          case 'processes': runOf(entry.record.run_id, fullDisk).processes.add(processKey(entry.record)); break;
          default: {
            flag('not-a-record', fileRun, `${path}: a line of table ${String((entry as { table?: unknown }).table)}`);
            continue;
          }
        }
        journalLines[entry.table]++;
      }
    }
    const rejectedDir = join(stateDir, 'rejected');
    for (const name of existsSync(rejectedDir) ? readdirSync(rejectedDir) : []) {
      for (const line of readFileSync(join(rejectedDir, name), 'utf8').split('\n').filter(Boolean)) {
        rejections.push({ run: name.split('.')[0], ...(JSON.parse(line) as Omit<Rejected, 'run'>) });
      }
    }
  }

  const db = await readDatabase(sources.databaseUrl);
  const isFullDisk = (id: string): boolean =>
    runs.get(id)?.fullDisk === true || (sources.fullDiskDir !== undefined && db.runs.get(id)?.journal_path.startsWith(sources.fullDiskDir + '/') === true);

  // 1. Journal -> PostgreSQL, run by run: one violation per run that lacks anything, with the likely cause.
  const causes: Record<string, number> = {};
  for (const [id, run] of runs) {
    const row = db.runs.get(id);
    const winner = latestVersions(run.versions)[0];
    const missing: string[] = [];
    if (!row) {
      missing.push(`no watchdog_runs row (the journal's winning version: ${winner ? `r${winner.revision} ${winner.status}` : 'none'})`);
    } else if (winner) {
      const stale = run.fullDisk ? supersedes(winner, row) : row.revision !== winner.revision || row.status !== winner.status;
      if (stale) missing.push(`PostgreSQL holds r${row.revision} ${row.status}, the journal's winning version is r${winner.revision} ${winner.status}`);
    }
    const missingEvents = [...run.events.values()].filter((event) => db.events.get(event.id)?.run !== id);
    if (missingEvents.length > 0) missing.push(`${missingEvents.length} of ${run.events.size} events missing (${missingEvents.map((event) => event.kind).join(', ')})`);
    const missingSamples = [...run.samples.keys()].filter((sample) => db.samples.get(sample) !== id);
    if (missingSamples.length > 0) missing.push(`${missingSamples.length} of ${run.samples.size} samples missing`);
    const missingProcesses = [...run.processes].filter((key) => db.processes.get(key) !== id);
    if (missingProcesses.length > 0) missing.push(`${missingProcesses.length} of ${run.processes.size} processes missing`);
    if (missing.length === 0) continue;
    const cause = diagnose(timings.get(id) ?? []);
    causes[cause.key] = (causes[cause.key] ?? 0) + 1;
    flag('records-missing', id, `${missing.join('; ')}${run.fullDisk ? ' (full-disk group)' : ''}; ${cause.text}`);
  }
  if (Object.keys(causes).length > 0) {
    notes.push(`runs with journal lines missing from PostgreSQL, by the timing of their .shipped mark: ${Object.entries(causes).map(([key, n]) => `${key} ${n}`).join(', ')}`);
  }

  // Records PostgreSQL refused: a violation unless the record is in after all (set aside for a
  // reason that passed, such as an event shipped before its run row: SQLSTATE 23503).
  const stale: string[] = [];
  for (const rejected of rejections) {
    const { table, record } = rejected.entry ?? {};
    const key = table === 'processes' ? processKey(record as ProcessRecord) : String((record as { id?: unknown } | undefined)?.id);
    const present = table === 'runs' ? db.runs.has(key) : table === 'events' ? db.events.has(key) : table === 'samples' ? db.samples.has(key) : db.processes.has(key);
    if (present) stale.push(`${rejected.run} (${table}, ${rejected.code})`);
    else flag('rejected', rejected.run, `PostgreSQL refused a ${table} record, which is not in: ${rejected.code} ${rejected.reason}`);
  }
  if (stale.length > 0) notes.push(`${stale.length} records set aside in rejected/ as refused, though PostgreSQL holds them now: ${stale.join(', ')}`);

  // 1. PostgreSQL -> journals.
  const fromMemory = zero();
  const orphanRows = new Map<string, TableCounts>();
  const extra = (table: Table, run: string) => {
    if (isFullDisk(run)) return void fromMemory[table]++;
    const counts = orphanRows.get(run) ?? zero();
    counts[table]++;
    orphanRows.set(run, counts);
  };
  for (const [id] of db.runs) {
    databaseRows.runs++;
    if (!runs.get(id)?.versions.length) extra('runs', id);
  }
  for (const [id, event] of db.events) {
    databaseRows.events++;
    if (!runs.get(event.run)?.events.has(id)) extra('events', event.run);
  }
  for (const [id, run] of db.samples) {
    databaseRows.samples++;
    if (!runs.get(run)?.samples.has(id)) extra('samples', run);
  }
  for (const [key, run] of db.processes) {
    databaseRows.processes++;
    if (!runs.get(run)?.processes.has(key)) extra('processes', run);
  }
  for (const [run, counts] of orphanRows) {
    const what = TABLES.filter((table) => counts[table] > 0).map((table) => `${counts[table]} ${table}`).join(', ');
    flag('row-without-journal', run, `in PostgreSQL but in no journal: ${what}`);
  }
  if (TABLES.some((table) => fromMemory[table] > 0)) {
    notes.push(`full-disk group: shipped from memory (in PostgreSQL, not in a journal): ${TABLES.map((table) => `${fromMemory[table]} ${table}`).join(', ')}`);
  }

  // 2. Final statuses, and each planned run against its command.
  const statuses: Record<string, number> = {};
  for (const row of db.runs.values()) {
    statuses[row.status] = (statuses[row.status] ?? 0) + 1;
    if (row.status === 'running') flag('not-final', row.id, `still \`running\` in PostgreSQL (r${row.revision}, analysis ${row.analysis_id})`);
  }
  const byAnalysis = new Map<string, Set<string>>();
  const note = (analysis: string | null, id: string) => {
    if (analysis) byAnalysis.set(analysis, (byAnalysis.get(analysis) ?? new Set()).add(id));
  };
  for (const [id, run] of runs) for (const version of run.versions) note(version.analysis_id, id);
  for (const row of db.runs.values()) note(row.analysis_id, row.id);
  const killedEarly: string[] = [];
  let refusedFull = 0;
  const lostFull: string[] = [];
  const lostEnding: string[] = [];
  for (const outcome of sources.outcomes) {
    const { plan, exit } = outcome;
    const label = `#${plan.index}`;
    const expected = EXPECTED[plan.kind];
    const killed = outcome.killedAtMs !== undefined;
    const ids = [...(byAnalysis.get(plan.analysisId) ?? [])];
    const ended = exit.code !== null ? `exit status ${exit.code}` : `signal ${exit.signal}`;
    if (outcome.hung) flag('wrapper-hung', ids[0] ?? label, `run ${label} (${plan.kind}): the wrapper was still alive after the hang limit and was killed`);
    if (ids.length > 1) flag('duplicate-run', ids.join(' '), `run ${label} (${plan.kind}) is recorded under ${ids.length} run ids`);
    const inFullDisk = sources.fullDiskDir !== undefined && plan.dir === sources.stateDirs.indexOf(sources.fullDiskDir);
    const lost = inFullDisk ? announcedLoss(outcome.wrapper.log) : undefined;
    if (ids.length === 0) {
      if (killed) killedEarly.push(`#${plan.index} at ${outcome.killedAtMs} ms`);
      else if (inFullDisk && exit.code === 125) refusedFull++;
      else if (lost !== undefined) lostFull.push(`#${plan.index} (${lost} records)`);
      else flag('no-run', label, `run ${label} (${plan.kind}, state dir ${plan.dir}) left no record anywhere; wrapper ${ended} (log ${outcome.wrapper.log})`);
      continue;
    }
    const id = ids[0];
    const final = db.runs.get(id) ?? latestVersions(runs.get(id)?.versions ?? [])[0];
    const status = final?.status;
    if (killed) {
      if (status !== 'lost' && status !== expected.status) {
        flag('wrong-status', id, `run ${label} (${plan.kind}), wrapper SIGKILLed ${outcome.killedAtMs} ms after its start: status ${status}, expected lost or ${expected.status}`);
      }
      continue;
    }
    if (exit.code !== expected.exitCode && !outcome.hung) {
      flag('exit-status', id, `run ${label} (${plan.kind}${inFullDisk ? ', full disk' : ''}): wrapper ${ended}, expected exit status ${expected.exitCode} (log ${outcome.wrapper.log})`);
    }
    if (status === 'lost' && expected.status !== 'lost' && lost !== undefined) {
      // Its ending was among the records it lost, so a reaper found its row `running` and finished it.
      lostEnding.push(`#${plan.index} (${lost} records)`);
    } else if (status !== expected.status) {
      flag('wrong-status', id, `run ${label} (${plan.kind}${inFullDisk ? ', full disk' : ''}), wrapper not killed by the harness: status ${status}, expected ${expected.status}`);
    }
  }
  if (lostEnding.length > 0) {
    notes.push(`${lostEnding.length} runs of the full-disk group ended \`lost\`: their wrappers said they lost records (disk full, server down), their ending among them, and a reaper finished the row: ${lostEnding.join(', ')}`);
  }

  // Torn lines: expected where the disk filled up (ENOSPC) or the wrapper was SIGKILLed (docs/records.md), else a violation.
  const killedRuns = new Set(
    sources.outcomes.filter((outcome) => outcome.killedAtMs !== undefined).flatMap((outcome) => [...(byAnalysis.get(outcome.plan.analysisId) ?? [])]),
  );
  const expectedTorn = torn.filter((line) => line.fullDisk || killedRuns.has(line.run));
  if (expectedTorn.length > 0) notes.push(`${expectedTorn.length} torn journal lines where the disk was full or the wrapper SIGKILLed (expected: writes cut short)`);
  for (const line of torn.filter((candidate) => !expectedTorn.includes(candidate))) flag('torn-line', line.run, `${line.where}: not a record: ${line.text.slice(0, 80)}`);

  // A run is reaped once (docs/operations.md: one reaper per run): more than one run_lost event says two reapers finished it.
  const lostEvents = new Map<string, Set<string>>();
  const noteLost = (run: string, event: string) => lostEvents.set(run, (lostEvents.get(run) ?? new Set()).add(event));
  for (const [id, run] of runs) for (const event of run.events.values()) if (event.kind === 'run_lost') noteLost(id, event.id);
  for (const [event, { run, kind }] of db.events) if (kind === 'run_lost') noteLost(run, event);
  for (const [run, events] of lostEvents) {
    if (events.size < 2) continue;
    const reaped = [...timings.entries()].filter(([name]) => name === run).flatMap(([, journals]) => journals.map((journal) => journal.path)).filter((path) => path.includes('.reaped-'));
    flag('reaped-twice', run, `${events.size} run_lost events: reaped by ${events.size} reapers${reaped.length > 0 ? ` (their journals: ${reaped.join(', ')})` : ''}`);
  }
  if (killedEarly.length > 0) notes.push(`${killedEarly.length} wrappers SIGKILLed before they had journaled anything (no run to check): ${killedEarly.join(', ')}`);
  if (lostFull.length > 0) {
    notes.push(`${lostFull.length} runs of the full-disk group left no record, and their wrappers said so (records written neither to the journal nor to PostgreSQL: the disk full and the server down at once): ${lostFull.join(', ')}`);
  }
  if (refusedFull > 0) notes.push(`${refusedFull} runs of the full-disk group refused at start (exit status 125: the state directory was full)`);
  return { violations, journalLines, databaseRows, statuses, notes };
}
