/**
 * The SQL of cancel requests for runs of another host (migrations/1764115200000_cancel-requests.sql).
 * The asking host inserts a row and NOTIFYs `scidex_cancel` with the run's host in one
 * transaction (a NOTIFY is sent at commit, so a listener never sees a request it cannot select
 * yet); the run's host takes the pending rows FOR UPDATE SKIP LOCKED, so two deliverers of a host
 * (the daemon and a cron'd `cancel --deliver`) never deliver one request twice.
 *
 * Who may cancel is PostgreSQL's to say (migrations/1764201600000_roles.sql, docs/roles.md): the
 * role that wrote the run row (its db_role) and the members of scidex_operator. The INSERT of a
 * request from anyone else fails with 42501; the deliverer asks again before it signals.
 */
import type { ClientBase } from 'pg';
import type { RunStatus } from './types.js';

/** The channel of cancel notifications; the payload is the host whose deliverers should look. */
export const CANCEL_CHANNEL = 'scidex_cancel';

/**
 * How a request ended: delivered to the wrapper, the run had ended, no such run on the host, or
 * refused (the wrapper may not be signalled from there, or the request's role may not cancel the run).
 */
export type CancelOutcome = 'delivered' | 'ended' | 'no_such_run' | 'refused';

/** The run facts the requester needs. */
export interface CancelTarget {
  id: string;
  analysis_id: string | null;
  host: string;
  status: RunStatus;
  /** The PostgreSQL role that first wrote the run row; null for rows older than roles (only operators may cancel those). */
  db_role: string | null;
}

/** The columns of a CancelTarget. */
const TARGET_COLUMNS = 'id, analysis_id, host, status, db_role';

/** A pending request, as the deliverer takes it. */
export interface PendingCancel {
  id: string;
  run_id: string;
  signal: NodeJS.Signals;
  reason: string | null;
  requested_by: string;
  /** ISO-8601. */
  requested_at: string;
  /** The PostgreSQL role that inserted the request (set by the database); null for rows older than roles. */
  requested_role: string | null;
  /** The run row's status now; null when the run row is gone (it cannot be: ON DELETE CASCADE). */
  run_status: RunStatus | null;
  /** The PostgreSQL role that first wrote the run row; null for rows older than roles. */
  run_db_role: string | null;
  /** Whether requested_role is a member of scidex_operator (or a superuser), as PostgreSQL says now. */
  requester_is_operator: boolean;
}

/**
 * Whether a request's role may cancel its run: it wrote the run row, or it is an operator. The same
 * rule as the database's trigger, asked again by the deliverer for rows that got past it (inserted
 * before the trigger existed, or with triggers disabled by a superuser).
 */
export function mayCancel(pending: PendingCancel): boolean {
  return pending.requester_is_operator || (pending.requested_role !== null && pending.requested_role === pending.run_db_role);
}

/**
 * Whether `error` is the database refusing a cancel request because its role may not cancel the
 * run: SQLSTATE 42501 raised by the trigger, which names the column requested_role. A missing
 * INSERT privilege is 42501 too, but names no column.
 */
export function isCancelRefusal(error: unknown): boolean {
  const { code, column } = (error ?? {}) as { code?: unknown; column?: unknown };
  return code === '42501' && column === 'requested_role';
}

/** Whether `error` is PostgreSQL's 42501 insufficient_privilege, whatever refused. */
export function isInsufficientPrivilege(error: unknown): boolean {
  return (error as { code?: unknown } | null | undefined)?.code === '42501';
}

/** The role this session acts as (current_user): the one a request is recorded under. */
export async function currentRole(client: ClientBase): Promise<string> {
  const result = await client.query<{ role: string }>('SELECT current_user AS role');
  return result.rows[0].role;
}

/** One run by id; undefined when there is none. */
export async function selectCancelTarget(client: ClientBase, runId: string): Promise<CancelTarget | undefined> {
  const result = await client.query<CancelTarget>(`SELECT ${TARGET_COLUMNS} FROM watchdog_runs WHERE id = $1`, [runId]);
  return result.rows[0];
}

/** The runs of an analysis still `running`, oldest first. */
export async function selectRunningOfAnalysis(client: ClientBase, analysisId: string): Promise<CancelTarget[]> {
  const result = await client.query<CancelTarget>(
    `SELECT ${TARGET_COLUMNS} FROM watchdog_runs WHERE analysis_id = $1 AND status = 'running' ORDER BY started_at, id`,
    [analysisId],
  );
  return result.rows;
}

/**
 * Inserts a request and notifies the run's host, in one transaction. The database records the
 * session's role as requested_role.
 * @param request id: a fresh UUID; requested_at: ISO-8601
 * @throws pg errors: 42501 when this role may not cancel the run (isCancelRefusal) or may not
 *         insert requests at all (no INSERT privilege); nothing is inserted then
 */
export async function insertCancelRequest(
  client: ClientBase,
  request: { id: string; run_id: string; host: string; signal: string; reason: string | null; requested_by: string; requested_at: string },
): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO watchdog_cancel_requests (id, run_id, host, signal, reason, requested_by, requested_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [request.id, request.run_id, request.host, request.signal, request.reason, request.requested_by, request.requested_at],
    );
    await client.query('SELECT pg_notify($1, $2)', [CANCEL_CHANNEL, request.host]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The outcome of each request of `ids` handled so far (absent: still pending). */
export async function selectHandled(client: ClientBase, ids: readonly string[]): Promise<Map<string, CancelOutcome>> {
  const result = await client.query<{ id: string; outcome: CancelOutcome }>(
    'SELECT id, outcome FROM watchdog_cancel_requests WHERE id = ANY($1::uuid[]) AND handled_at IS NOT NULL',
    [ids],
  );
  return new Map(result.rows.map((row) => [row.id, row.outcome]));
}

/** Whether `host` has a pending request: the deliverers' cheap question of every second. */
export async function hasPendingCancels(client: ClientBase, host: string): Promise<boolean> {
  const result = await client.query('SELECT 1 FROM watchdog_cancel_requests WHERE host = $1 AND handled_at IS NULL LIMIT 1', [host]);
  return result.rows.length > 0;
}

/**
 * Takes the pending requests of `host` (row locks, SKIP LOCKED), with what mayCancel() needs: the
 * request's role, the run's role, and whether the request's role is an operator
 * (watchdog_is_operator(), the migration's, which the trigger asks too). Call inside a transaction
 * and mark each handled before committing.
 */
export async function lockPendingCancels(client: ClientBase, host: string): Promise<PendingCancel[]> {
  const result = await client.query<Omit<PendingCancel, 'requested_at'> & { requested_at: Date }>(
    `SELECT c.id, c.run_id, c.signal, c.reason, c.requested_by, c.requested_at, c.requested_role, r.status AS run_status,
            r.db_role AS run_db_role, watchdog_is_operator(c.requested_role) AS requester_is_operator
       FROM watchdog_cancel_requests c LEFT JOIN watchdog_runs r ON r.id = c.run_id
      WHERE c.host = $1 AND c.handled_at IS NULL
      ORDER BY c.requested_at, c.id
        FOR UPDATE OF c SKIP LOCKED`,
    [host],
  );
  return result.rows.map((row) => ({ ...row, requested_at: new Date(row.requested_at).toISOString() }));
}

/** Marks a request handled, with its outcome and who handled it (`user@host pid N`). */
export async function markCancelHandled(client: ClientBase, id: string, outcome: CancelOutcome, handledBy: string): Promise<void> {
  await client.query('UPDATE watchdog_cancel_requests SET handled_at = now(), handled_by = $3, outcome = $2 WHERE id = $1', [id, outcome, handledBy]);
}
