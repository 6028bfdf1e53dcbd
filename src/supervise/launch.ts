/**
 * Everything a run needs before its first process exists: the run id, the journal (which must be
 * writable, or nothing is spawned), the recorder, the identity of the run, and the child's
 * environment with its cookie. Then the supervisor runs, and the records are shipped within a bound.
 */
import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { RunConfig } from '../config/run-config.js';
import { readStat } from '../proc/stat.js';
import { bootId } from '../proc/system.js';
import { Journal } from '../record/journal.js';
import { Recorder } from '../record/recorder.js';
import { redactArgv } from '../record/redact.js';
import { prepareJournalDir } from '../record/state-dir.js';
import { RunLog, runIdentity } from './run-log.js';
import { Supervisor, type Messages } from './supervisor.js';

/** How long the wrapper may wait, after the run, for its last records to reach PostgreSQL. */
const FINAL_SHIP_TIMEOUT_MS = 5000;

/**
 * Prepares, runs and records one analysis.
 * @returns scidex-run's exit status
 * @throws UsageError when the state directory or journal cannot be written (nothing spawned)
 */
export async function launch(config: RunConfig, messages: Messages & { warn(line: string): void }): Promise<number> {
  const runId = randomUUID();
  const journal = Journal.create(prepareJournalDir(config.stateDir), runId);
  const recorder = new Recorder(journal, config.database, messages.warn);
  if (!config.database) messages.info(`no database configured: records are kept in the journal ${journal.path}`);

  const wrapperStat = readStat(process.pid);
  const identity = runIdentity(config, {
    id: runId,
    parent_run_id: process.env.SCIDEX_RUN_ID ?? null,
    host: hostname(),
    boot_id: bootId(),
    wrapper_pid: process.pid,
    wrapper_starttime: wrapperStat?.starttime ?? 0,
    argv: redactArgv(config.command),
    cwd: process.cwd(),
    username: currentUser(),
    journal_path: journal.path,
    tracking_backend: 'pgroup',
  });
  const env: NodeJS.ProcessEnv = { ...process.env, SCIDEX_RUN_ID: runId };
  if (config.analysisId !== undefined) env.SCIDEX_ANALYSIS_ID = config.analysisId;

  const status = await new Supervisor(config, new RunLog(identity, recorder), messages).run(env);
  await recorder.close(FINAL_SHIP_TIMEOUT_MS);
  return status;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
