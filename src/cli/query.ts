/**
 * `scidex-watchdog runs`, `events` and `show`: what was recorded, read from PostgreSQL or, when no
 * database is configured, from the journals of the state directory. People get psql-style tables;
 * `--json` prints the raw records of src/record/types.ts, one JSON object per line.
 */
import { resolveDatabase } from '../config/database.js';
import { parseDurationMs } from '../config/duration.js';
import { UsageError } from '../config/errors.js';
import { isRunId } from '../config/run-id.js';
import { defaultStateDir } from '../config/run-config.js';
import { databaseSource } from '../query/database-source.js';
import type { ListFilter, TimelineKey } from '../query/filter.js';
import { journalSource } from '../query/journal-source.js';
import type { RecordSource } from '../query/source.js';
import { readRunView } from '../query/run-view.js';
import { eventRow, liveProcessRow, processRow, runRow, sampleRow, timelineEventRow, timelineFields, type Row } from '../query/views.js';
import { withSchema } from '../record/migrate.js';
import { RUN_STATUSES } from '../record/types.js';
import { visible } from '../config/text.js';
import { printLine } from './output.js';
import { renderTable } from './table.js';

/** Where to read: the database (flag or environment), else the journals of the state directory. */
interface SourceArgs {
  databaseUrl?: string;
  stateDir?: string;
}

interface ListArgs extends SourceArgs {
  analysisId?: string;
  run?: string;
  status?: string;
  host?: string;
  since?: string;
  limit: number;
  json?: boolean;
}

interface ShowArgs extends SourceArgs {
  run?: string;
  analysisId?: string;
  json?: boolean;
}

/** A run id as given, lower-cased. @throws UsageError when it is not a UUID */
function runIdOf(text: string, what: string): string {
  const id = text.toLowerCase();
  if (!isRunId(id)) throw new UsageError(`invalid ${what} '${text}': expected a run id (UUID)`);
  return id;
}

/** `--since`: a duration back from now, or a time Date.parse reads. @throws UsageError */
function sinceOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const absolute = Date.parse(text);
  if (!Number.isNaN(absolute) && /\d{4}-\d{2}-\d{2}/.test(text)) return new Date(absolute).toISOString();
  let backMs: number;
  try {
    backMs = parseDurationMs(text, '--since');
  } catch {
    throw new UsageError(`invalid --since '${text}': expected a duration back from now (2h, 7d) or a time (2026-11-21T08:00Z)`);
  }
  // Further back than 1970 is all of it (PostgreSQL would refuse the year).
  return new Date(Math.max(0, Date.now() - backMs)).toISOString();
}

function filterOf(argv: ListArgs): ListFilter {
  if (!Number.isInteger(argv.limit) || argv.limit < 1) throw new UsageError('invalid --limit: expected a whole number >= 1');
  const runId = argv.run === undefined ? undefined : runIdOf(argv.run, '--run');
  if (argv.status !== undefined && !(RUN_STATUSES as readonly string[]).includes(argv.status)) {
    throw new UsageError(`invalid --status '${argv.status}': expected ${RUN_STATUSES.join(', ')}`);
  }
  // More rows than a bigint LIMIT takes is all of them.
  const limit = Math.min(argv.limit, Number.MAX_SAFE_INTEGER);
  return { analysisId: argv.analysisId, runId, status: argv.status, host: argv.host, since: sinceOf(argv.since), limit };
}

/** Runs `work` on the database when one is configured, else on the journals (and says so once on stderr). */
async function withSource<T>(argv: SourceArgs, work: (source: RecordSource) => Promise<T>): Promise<T> {
  const database = resolveDatabase(argv.databaseUrl, process.env);
  if (database) {
    return withSchema(database, async (client) => {
      return work(databaseSource(client));
    });
  }
  const stateDir = argv.stateDir ?? defaultStateDir(process.env);
  printLine('scidex-watchdog', `no database configured: reading the journals in ${visible(stateDir)}`);
  return work(journalSource(stateDir, (line) => printLine('scidex-watchdog', `warning: ${line}`)));
}

const jsonLines = (records: readonly unknown[]) => records.map((record) => JSON.stringify(record) + '\n').join('');

async function list<T>(argv: ListArgs, read: (source: RecordSource, filter: ListFilter) => Promise<T[]>, row: (record: T) => Row): Promise<void> {
  const filter = filterOf(argv);
  const records = await withSource(argv, (source) => read(source, filter));
  process.stdout.write(argv.json ? jsonLines(records) : renderTable(records.map(row)) + '\n');
}

/** `runs`: RunRecords, newest first. @throws UsageError for bad filters; database errors */
export const runsCommand = (argv: ListArgs) => list(argv, (source, filter) => source.runs(filter), runRow);

/** `events`: EventRecords, newest first. @throws UsageError for bad filters; database errors */
export const eventsCommand = (argv: ListArgs) => list(argv, (source, filter) => source.events(filter), eventRow);

function timelineKey(argv: ShowArgs): TimelineKey {
  if (argv.run !== undefined && argv.analysisId !== undefined) throw new UsageError('show: give a run id or --analysis-id, not both');
  if (argv.run !== undefined) return { runId: runIdOf(argv.run, 'run id') };
  if (argv.analysisId !== undefined) return { analysisId: argv.analysisId };
  throw new UsageError('show: give a run id, or --analysis-id for the latest run of an analysis');
}

/**
 * `show`: the header, processes, samples and events of one run; a run running on this host is
 * measured now (query/live-figures.ts), and its header and a table of its processes say so.
 * `--json`: the RunView (query/run-view-body.ts), one line: what the run page shows.
 * @returns the exit status: 0, or 1 (after one line on stderr) when there is no such run
 * @throws UsageError for a malformed run id or a missing one, or journals that cannot be read
 */
export async function showCommand(argv: ShowArgs): Promise<number> {
  const key = timelineKey(argv);
  const database = resolveDatabase(argv.databaseUrl, process.env);
  const stateDir = argv.stateDir ?? defaultStateDir(process.env);
  if (!database) printLine('scidex-watchdog', `no database configured: reading the journals in ${visible(stateDir)}`);
  const view = await readRunView(key, { database, stateDir, warn: (line) => printLine('scidex-watchdog', `warning: ${line}`) });
  if (!view) {
    printLine('scidex-watchdog', key.runId ? `no run ${key.runId}` : `no run of analysis '${key.analysisId}'`);
    return 1;
  }
  if (argv.json) {
    process.stdout.write(jsonLines([view]));
    return 0;
  }
  const { run, processes, samples, events, live } = view;
  const fields = timelineFields({ run, processes, samples, events, otherRuns: view.other_runs }, live);
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const header = fields.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}`.trimEnd());
  const section = (title: string, rows: Row[]) => `\n${title}:\n${renderTable(rows)}`;
  const sections = [
    ...(live ? [section(`processes now (live, the ${live.processes.length} biggest of ${live.process_count})`, live.processes.map(liveProcessRow))] : []),
    section('processes', processes.map(processRow)),
    section('samples', samples.map(sampleRow)),
    section('events', events.map(timelineEventRow)),
  ];
  process.stdout.write([...header, ...sections].join('\n') + '\n');
  return 0;
}
