/**
 * Where a cancel goes: a run with a marker of this host in the state directory is cancelled here,
 * through its wrapper (cancel.ts); any other run is looked up in PostgreSQL, and a run still
 * `running` gets a request row and a NOTIFY for its host, whose deliverer (cancel-delivery.ts) takes
 * it; we wait up to WAIT_MS for it to be handled. One CancelLine per run says what became of it.
 * Through PostgreSQL, the database decides whether our role may cancel the run (docs/roles.md); a
 * refusal is a `refused` line saying why.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/database.js';
import { wrapperAlive } from '../proc/liveness.js';
import type { CancelRequest } from '../record/cancel-request.js';
import {
  currentRole,
  insertCancelRequest,
  isCancelRefusal,
  isInsufficientPrivilege,
  selectCancelTarget,
  selectHandled,
  selectRunningOfAnalysis,
  type CancelOutcome,
  type CancelTarget,
} from '../record/cancel-sql.js';
import { describeDatabaseError } from '../record/db-error.js';
import { readJournal } from '../record/journal.js';
import { listMarkers, readMarker, type RunMarker } from '../record/markers.js';
import { withSchema } from '../record/migrate.js';
import { latestVersions } from '../record/run-version.js';
import type { RunRecord } from '../record/types.js';
import { cancelMarkedRun, CLI_HANDLER_WAIT_MS } from './cancel.js';

/** How long `cancel` waits for another host to handle its request, milliseconds. */
export const WAIT_MS = 5000;
const WAIT_STEP_MS = 100;
/** One run's line of the answer. */
export interface CancelLine {
  runId: string;
  outcome: CancelOutcome | 'queued';
  /** Where it was done: here (same host) or through PostgreSQL. */
  via: 'wrapper' | 'database';
  host: string;
  message: string;
}

/** A marker of this host in the state directory. */
function localMarker(stateDir: string, runId: string): RunMarker | undefined {
  const marker = readMarker(stateDir, runId);
  return marker && marker.host === hostname() ? marker : undefined;
}

async function local(stateDir: string, marker: RunMarker, request: CancelRequest): Promise<CancelLine> {
  const { outcome, why } = await cancelMarkedRun(stateDir, marker, request, 'cancel', CLI_HANDLER_WAIT_MS);
  const message =
    outcome === 'delivered'
      ? `run ${marker.id}: cancelled: ${why}; it runs its termination sequence`
      : outcome === 'ended'
        ? `run ${marker.id} already ended: ${why}`
        : `run ${marker.id}: not cancelled: ${why}`;
  return { runId: marker.id, outcome, via: 'wrapper', host: marker.host, message };
}

/** The final run row of a run whose marker is gone but whose journal is still here. */
function journaledEnd(stateDir: string, runId: string): RunRecord | undefined {
  const path = join(stateDir, 'journal', `${runId}.jsonl`);
  if (!existsSync(path)) return undefined;
  const versions = readJournal(path).entries.filter((entry) => entry.table === 'runs').map((entry) => entry.record as RunRecord);
  const [run] = latestVersions(versions.filter((version) => version.id === runId));
  return run && run.status !== 'running' ? run : undefined;
}

/** Cancels one run, here or through PostgreSQL. @throws the database's error when it cannot be reached */
export async function cancelRun(runId: string, request: CancelRequest, stateDir: string, database: DatabaseConfig | undefined): Promise<CancelLine[]> {
  const marker = localMarker(stateDir, runId);
  if (marker) return [await local(stateDir, marker, request)];
  const none = (message: string, outcome: CancelOutcome = 'no_such_run'): CancelLine[] => [{ runId, outcome, via: 'database', host: '', message }];
  const ended = journaledEnd(stateDir, runId);
  if (ended) return none(`run ${runId} already ended (status ${ended.status})`, 'ended');
  if (!database) return none(`no run ${runId} in the state directory ${stateDir}, and no database configured to look further`);
  return withSchema(database, async (client) => {
    const target = await selectCancelTarget(client, runId);
    if (!target) return none(`no run ${runId}`);
    if (target.status !== 'running') return none(`run ${runId} already ended (status ${target.status})`, 'ended');
    return remote(client, [target], request);
  });
}

/** Cancels every running run of an analysis, here and through PostgreSQL. @throws the database's error */
export async function cancelAnalysis(analysisId: string, request: CancelRequest, stateDir: string, database: DatabaseConfig | undefined): Promise<CancelLine[]> {
  // Runs with a live wrapper here: a marker whose wrapper is gone is the reaper's, not a running run.
  const here = listMarkers(stateDir)
    .map((runId) => localMarker(stateDir, runId))
    .filter((marker): marker is RunMarker => marker !== undefined && marker.analysis_id === analysisId && wrapperAlive(marker));
  const lines = await Promise.all(here.map((marker) => local(stateDir, marker, request)));
  if (database) {
    const seen = new Set(here.map((marker) => marker.id));
    lines.push(
      ...(await withSchema(database, async (client) => {
        const targets = (await selectRunningOfAnalysis(client, analysisId)).filter((target) => !seen.has(target.id));
        return targets.length > 0 ? remote(client, targets, request) : [];
      })),
    );
  }
  if (lines.length === 0) return [{ runId: '', outcome: 'no_such_run', via: 'database', host: '', message: `no running run of analysis ${analysisId}` }];
  return lines;
}

/**
 * Queues a request per run for its host's deliverer and waits up to WAIT_MS for them to be handled.
 * A request PostgreSQL refuses (42501: this role may not cancel the run, or may not insert requests
 * at all) gives a `refused` line saying why; the other runs are still asked.
 * @throws the database's other errors
 */
async function remote(client: pg.Client, targets: readonly CancelTarget[], request: CancelRequest): Promise<CancelLine[]> {
  /** Per target, in order: the request's id once queued, or the line of its refusal. */
  const asked: { target: CancelTarget; id?: string; refused?: CancelLine }[] = [];
  for (const target of targets) {
    const id = randomUUID();
    try {
      await insertCancelRequest(client, { id, run_id: target.id, host: target.host, signal: request.signal, reason: request.reason, requested_by: request.requested_by, requested_at: request.requested_at });
      asked.push({ target, id });
    } catch (error) {
      if (!isInsufficientPrivilege(error)) throw error;
      const message = `run ${target.id}: refused: ${refusalReason(target, await currentRole(client), error)}`;
      asked.push({ target, refused: { runId: target.id, outcome: 'refused', via: 'database', host: target.host, message } });
    }
  }
  const ids = asked.flatMap(({ id }) => (id === undefined ? [] : [id]));
  const deadline = performance.now() + WAIT_MS;
  let handled = new Map<string, CancelOutcome>();
  while (ids.length > 0) {
    handled = await selectHandled(client, ids);
    if (handled.size === ids.length || performance.now() >= deadline) break;
    await sleep(WAIT_STEP_MS);
  }
  return asked.map(({ target, id, refused }): CancelLine => {
    if (refused) return refused;
    const outcome: CancelLine['outcome'] = handled.get(id!) ?? 'queued';
    const line = { runId: target.id, outcome, via: 'database' as const, host: target.host };
    const message = {
      delivered: `run ${target.id}: cancelled: ${request.signal} delivered to its wrapper on ${target.host}; it runs its termination sequence`,
      ended: `run ${target.id} already ended: its host ${target.host} found no live wrapper`,
      no_such_run: `run ${target.id}: not cancelled: its host ${target.host} has no marker of it in its daemon's state directory`,
      refused: `run ${target.id}: not cancelled: its host ${target.host} refused (it may not signal its wrapper, or the request's role may not cancel the run)`,
      queued: `run ${target.id}: cancel request ${id} queued for host ${target.host}, whose scidex-watchdog serve has not picked it up within ${WAIT_MS / 1000} s; it is delivered when one does (or run scidex-watchdog cancel --deliver there)`,
    }[outcome];
    return { ...line, message };
  });
}

/**
 * Why PostgreSQL refused our request for `target` (a 42501 `error`), for a person: the rule of
 * docs/roles.md when the trigger refused it (isCancelRefusal), else the missing privilege.
 * @param role the role we asked as (current_user)
 */
function refusalReason(target: CancelTarget, role: string, error: unknown): string {
  if (!isCancelRefusal(error)) {
    return `role ${role} may not request cancels (${describeDatabaseError(error)}): it needs INSERT on watchdog_cancel_requests (docs/roles.md)`;
  }
  const owner =
    target.db_role === null
      ? 'it was recorded before runs had roles; only members of scidex_operator may'
      : `it belongs to role ${target.db_role}; members of scidex_operator may`;
  return `role ${role} may not cancel it (${owner})`;
}
