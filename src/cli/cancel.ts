/**
 * `scidex-watchdog cancel RUN | --analysis-id X [--signal SIGTERM] [--reason TEXT]`, and
 * `scidex-watchdog cancel --deliver` (one delivery pass of this host's pending requests).
 *
 * A run with a marker in the state directory is cancelled here, through its wrapper
 * (watchdog/cancel.ts). Any other run is looked up in PostgreSQL: a run still `running` gets a
 * request row and a NOTIFY for its host, whose `scidex-watchdog serve` (or a cron'd
 * `cancel --deliver`) delivers it (watchdog/cancel-route.ts); we wait up to 5 s for it to be handled.
 *
 * Through PostgreSQL the database decides who may cancel (docs/roles.md): the role that wrote the
 * run row, and the members of scidex_operator; anyone else gets a `refused` line saying why.
 *
 * Exit status: 0 when every run was delivered its signal; 1 when a run does not exist, has
 * already ended, could not be signalled, our PostgreSQL role may not cancel it, or its request was
 * not handled within those 5 s (it stays queued and is delivered when the host's daemon picks it
 * up); 125 for bad usage.
 */
import { hostname } from 'node:os';
import { resolveDatabase } from '../config/database.js';
import { UsageError } from '../config/errors.js';
import { isRunId } from '../config/run-id.js';
import { defaultStateDir } from '../config/run-config.js';
import { parseSignal } from '../config/signal.js';
import { CONTROL_CHARACTER } from '../config/text.js';
import { requesterName, type CancelRequest } from '../record/cancel-request.js';
import { openStateDir } from '../record/state-dir.js';
import { CANCELLING_SIGNALS } from '../supervise/forward.js';
import { deliverCancelRequests } from '../watchdog/cancel-delivery.js';
import { cancelAnalysis, cancelRun } from '../watchdog/cancel-route.js';
import { MAX_REASON } from './watchdog-options.js';


export interface CancelArgs {
  run?: string;
  analysisId?: string;
  signal: string;
  reason?: string;
  stateDir?: string;
  databaseUrl?: string;
  deliver?: boolean;
  json?: boolean;
}


/**
 * Runs `cancel`, printing one line per run.
 * @returns the exit status (0, 1; module docstring)
 * @throws UsageError for bad usage (exit 125), a state directory refused (state-dir.ts) included;
 *         the database's error when it cannot be reached
 */
export async function cancelCommand(args: CancelArgs, print: (line: string) => void): Promise<number> {
  const stateDir = args.stateDir ?? defaultStateDir(process.env);
  const database = resolveDatabase(args.databaseUrl, process.env);
  // Checked, never made: request files go beside markers in it, as root for a user's run.
  openStateDir(stateDir, false);
  if (args.deliver) {
    if (args.run !== undefined || args.analysisId !== undefined) throw new UsageError('--deliver takes no run and no --analysis-id');
    if (!database) throw new UsageError('--deliver needs a database: give --database-url, or set DATABASE_URL or the PG* variables');
    const handled = await deliverCancelRequests(database, stateDir);
    print(`handled ${handled} cancel request${handled === 1 ? '' : 's'} for host ${hostname()}`);
    return 0;
  }
  const request = requestOf(args);
  if ((args.run === undefined) === (args.analysisId === undefined)) throw new UsageError('give a run id or --analysis-id (one of them)');
  const lines =
    args.run !== undefined
      ? await cancelRun(runIdOf(args.run), request, stateDir, database)
      : await cancelAnalysis(args.analysisId!, request, stateDir, database);
  for (const line of lines) {
    if (args.json) process.stdout.write(JSON.stringify(line) + '\n');
    else print(line.message);
  }
  return lines.length > 0 && lines.every((line) => line.outcome === 'delivered') ? 0 : 1;
}

/** The request this invocation makes. @throws UsageError for a signal that does not cancel, or a bad reason */
function requestOf(args: CancelArgs): CancelRequest {
  const signal = parseSignal(args.signal, '--signal').name;
  if (!CANCELLING_SIGNALS.has(signal)) throw new UsageError(`invalid --signal '${args.signal}': a run is cancelled by SIGTERM, SIGINT or SIGHUP`);
  const reason = args.reason ?? null;
  if (reason !== null && [...reason].length > MAX_REASON) throw new UsageError(`--reason is too long: at most ${MAX_REASON} characters`);
  // C1 too, as for --analysis-id: U+0085 is a line break to some terminals and tables.
  if (reason !== null && CONTROL_CHARACTER.test(reason)) throw new UsageError('--reason must not contain control characters');
  return { signal, reason: reason === '' ? null : reason, requested_by: requesterName(), requested_at: new Date().toISOString(), request_id: null };
}

function runIdOf(text: string): string {
  const id = text.toLowerCase();
  if (!isRunId(id)) throw new UsageError(`invalid run '${text}': expected a run id (UUID)`);
  return id;
}

