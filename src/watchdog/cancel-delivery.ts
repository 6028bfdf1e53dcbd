/**
 * The run's host side of a cancel asked from another host: the pending rows of
 * watchdog_cancel_requests for this host are delivered through the same-host path (cancel.ts: a
 * marker of OUR state directory, the pid + starttime check, the wrapper's own termination
 * sequence) and marked handled. A row never names the process to signal: only our own marker does,
 * so a forged row can at most cancel a run of this host that is really running; and a row whose
 * PostgreSQL role may not cancel its run (docs/roles.md) is marked `refused` and never signals.
 *
 * `listenForCancels` is for the long-lived `scidex-watchdog serve`: one connection per host, LISTEN
 * on `scidex_cancel`, a delivery pass on every notification for this host, and one every second
 * anyway (a notification sent while our connection was down is lost; through a PgBouncer in
 * transaction mode LISTEN does not work at all). `deliverCancelRequests` is one pass on a connection
 * of its own (`scidex-watchdog cancel --deliver`, for a cron line where no daemon runs).
 */
import { hostname } from 'node:os';
import pg from 'pg';
import type { DatabaseConfig } from '../config/database.js';
import { requesterName, type CancelRequest } from '../record/cancel-request.js';
import {
  CANCEL_CHANNEL,
  hasPendingCancels,
  lockPendingCancels,
  markCancelHandled,
  mayCancel,
  type CancelOutcome,
  type PendingCancel,
} from '../record/cancel-sql.js';
import { CONNECT_TIMEOUT_MS } from '../record/connect.js';
import { readMarker } from '../record/markers.js';
import { ensureSchema, withSchema } from '../record/migrate.js';
import { cancelMarkedRun } from './cancel.js';

/** How often the listener looks for requests without a notification, milliseconds. */
export const CANCEL_POLL_MS = 1000;
/** Reconnection delays of the listener after its connection failed: 1 s doubling to 30 s. */
const RECONNECT_BASE_MS = 1000;
const RECONNECT_CAP_MS = 30_000;

/**
 * One delivery pass on its own connection (opened and closed here; the schema is migrated first).
 * @param stateDir the state directory whose markers name this host's runs
 * @returns how many requests were handled (delivered or not)
 * @throws the database's error when it cannot be reached
 */
export async function deliverCancelRequests(database: DatabaseConfig, stateDir: string): Promise<number> {
  return withSchema(database, async (client) => {
    return deliverWith(client, stateDir);
  });
}

/**
 * One delivery pass on a connected client (schema migrated). Requests are taken FOR UPDATE SKIP
 * LOCKED in one transaction, so two deliverers of the host never deliver one twice.
 * @returns how many requests were handled
 */
export async function deliverWith(client: pg.ClientBase, stateDir: string): Promise<number> {
  const host = hostname();
  // The usual answer is "nothing": one indexed query, no transaction.
  if (!(await hasPendingCancels(client, host))) return 0;
  await client.query('BEGIN');
  try {
    const pending = await lockPendingCancels(client, host);
    const handledBy = requesterName();
    for (const request of pending) await markCancelHandled(client, request.id, await deliverOne(stateDir, request), handledBy);
    await client.query('COMMIT');
    return pending.length;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Delivers one request through the same-host path; never throws. A request whose role may not
 * cancel the run (mayCancel) is `refused` before any marker is read: the trigger refuses such rows
 * at INSERT, so one here got past it (older than the trigger, or triggers disabled).
 */
async function deliverOne(stateDir: string, pending: PendingCancel): Promise<CancelOutcome> {
  if (!mayCancel(pending)) return 'refused';
  const marker = readMarker(stateDir, pending.run_id);
  if (!marker || marker.host !== hostname()) return pending.run_status === 'running' ? 'no_such_run' : 'ended';
  // The row's role is whoever inserted it first, perhaps someone who learnt the run's id before its
  // wrapper shipped: the run's own marker says which role it writes as.
  if (!pending.requester_is_operator && (typeof marker.db_user !== 'string' || marker.db_user !== pending.requested_role)) return 'refused';
  const request: CancelRequest = {
    signal: pending.signal,
    reason: pending.reason,
    requested_by: pending.requested_by,
    requested_at: pending.requested_at,
    request_id: pending.id,
    requested_role: pending.requested_role,
  };
  return (await cancelMarkedRun(stateDir, marker, request)).outcome;
}

/** The listener of a host; close() ends it. */
export interface CancelListener {
  /** Settles once the first connection listens (or failed: then it keeps trying in the background). */
  readonly ready: Promise<void>;
  /** Stops listening, waits for a pass under way, and closes the connection. */
  close(): Promise<void>;
}

/**
 * Listens for the cancel requests of this host and delivers them, until close().
 * @param onError told of each failure (connect, LISTEN, a pass); the listener carries on and
 *        reconnects with backoff (1 s doubling to 30 s)
 * @param pollMs how often it looks without a notification (CANCEL_POLL_MS); a test sets it past its
 *        own length, so that what is delivered can only have come by a notification
 */
export function listenForCancels(database: DatabaseConfig, stateDir: string, onError: (error: unknown) => void, pollMs = CANCEL_POLL_MS): CancelListener {
  const host = hostname();
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let nextConnectMs = 0;
  /** The pass under way; passes never overlap (they share the one connection). */
  let passing: Promise<void> | undefined;
  let again = false;

  const drop = (error: unknown): void => {
    const dead = client;
    client = undefined;
    failures += 1;
    nextConnectMs = Date.now() + Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** (failures - 1));
    void dead?.end().catch(() => undefined);
    if (!closed) onError(error);
  };

  const connect = async (): Promise<void> => {
    const fresh = new pg.Client({
      connectionString: database.url,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: 10_000,
      keepAlive: true,
      application_name: 'scidex-watchdog cancel',
    });
    fresh.on('error', (error) => {
      if (client === fresh) drop(error);
    });
    fresh.on('end', () => {
      if (client === fresh) drop(new Error('the connection to PostgreSQL closed'));
    });
    fresh.on('notification', (message) => {
      if (message.channel === CANCEL_CHANNEL && message.payload === host) pass();
    });
    try {
      await fresh.connect();
      await ensureSchema(fresh, database);
      await fresh.query(`LISTEN ${CANCEL_CHANNEL}`);
    } catch (error) {
      await fresh.end().catch(() => undefined);
      throw error;
    }
    if (closed) {
      await fresh.end().catch(() => undefined);
      return;
    }
    client = fresh;
    failures = 0;
  };

  /** One pass (connecting first when needed); a pass asked for during one runs right after it. */
  const pass = (): void => {
    if (closed) return;
    if (passing) {
      again = true;
      return;
    }
    passing = (async () => {
      do {
        again = false;
        try {
          if (!client) {
            if (Date.now() < nextConnectMs) return;
            await connect();
          }
          // A request asked while we were not listening is found here too.
          if (client) await deliverWith(client, stateDir);
        } catch (error) {
          drop(error);
        }
      } while (again && !closed);
    })().finally(() => (passing = undefined));
  };

  pass();
  const ready = passing ?? Promise.resolve();
  const timer = setInterval(pass, pollMs);
  // The daemon's own work keeps the process alive, never this timer.
  timer.unref();
  return {
    ready: ready.then(() => undefined),
    async close() {
      closed = true;
      clearInterval(timer);
      await passing;
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}
