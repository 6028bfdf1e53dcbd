/**
 * Connections to PostgreSQL. A connection is opened for one piece of work and closed after it: a
 * wrapper must not hold a server connection for the hours its analysis runs.
 */
import pg from 'pg';
import type { DatabaseConfig } from '../config/database.js';

/** How long a connection attempt may take before the database counts as unreachable, milliseconds. */
export const CONNECT_TIMEOUT_MS = 3000;
/**
 * Upper bound for one query, milliseconds (a wedged server must not wedge the wrapper). Kept on the
 * client side: a `statement_timeout` startup parameter is refused by PgBouncer.
 */
const QUERY_TIMEOUT_MS = 10_000;

/** A client not yet connected, named `applicationName` in pg_stat_activity. */
function newClient(database: DatabaseConfig, applicationName: string): pg.Client {
  const client = new pg.Client({
    connectionString: database.url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: applicationName,
  });
  client.on('error', () => {
    // A server that goes away between queries surfaces as the next query's rejection.
  });
  return client;
}

/**
 * Opens a client, runs `work` with it, and closes it whatever happens.
 * @throws whatever connecting or `work` throws (pg errors carry `code`)
 */
export async function withClient<T>(database: DatabaseConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = newClient(database, 'scidex-run');
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** How a bounded read (withReadSnapshot) runs. */
export interface ReadSnapshotOptions {
  /**
   * The whole read's bound, connecting included, milliseconds: past it the read rejects with
   * ReadDeadlineError and its connection is ended. The server's own bounds are derived from it:
   * `lock_timeout` a quarter of it, `statement_timeout` half of it.
   */
  deadlineMs: number;
  /** Its application_name in pg_stat_activity (the daemon's page reads: 'scidex-watchdog-page'). */
  applicationName: string;
}

/**
 * How each read of the daemon's pages runs (withReadSnapshot): done or given up within 3 s, under
 * the pages' fetch timeout (4 s for the run and live pages), so a page says "the database is busy"
 * rather than "no answer"; named in pg_stat_activity so an operator can tell them from the rest.
 */
export const PAGE_READ: ReadSnapshotOptions = { deadlineMs: 3000, applicationName: 'scidex-watchdog-page' };

/** A bounded read that did not end within its deadline. */
export class ReadDeadlineError extends Error {
  override name = 'ReadDeadlineError';
}

/** A page read refused because this process has not yet checked the database's schema (migrate.ts withSchemaSnapshot): try again. */
export class SchemaUncheckedError extends Error {
  override name = 'SchemaUncheckedError';
}

/** SQLSTATEs of a statement the server ended for its time: query_canceled (statement_timeout) and lock_not_available (lock_timeout). */
const TIMED_OUT_STATES = new Set(['57014', '55P03']);

/** Whether `error` is a bounded read that ran out of time (its deadline, or the server's statement or lock timeout): the database is busy, try later. */
export function readTimedOut(error: unknown): boolean {
  return error instanceof ReadDeadlineError || error instanceof SchemaUncheckedError || TIMED_OUT_STATES.has(String((error as { code?: unknown } | null)?.code));
}

/**
 * Runs `work` in a READ ONLY transaction at REPEATABLE READ (one snapshot) on a connection of its
 * own, bounded three ways so that a slow or locked database costs a reader seconds, not a backend
 * left waiting: `SET LOCAL lock_timeout` and `SET LOCAL statement_timeout` make the server itself
 * end a statement that waits (a `LOCK TABLE ... ACCESS EXCLUSIVE` held elsewhere) or runs too long
 * (SET LOCAL, unlike a startup parameter, works behind PgBouncer's transaction pooling and ends
 * with the transaction); and past `deadlineMs` overall (a connection that hangs) the read rejects
 * and the connection is ended. No schema check: a READ ONLY transaction cannot migrate (migrate.ts
 * withSchemaSnapshot reads only a schema already checked).
 * @throws ReadDeadlineError past the deadline; pg errors (57014, 55P03 for the server's timeouts: readTimedOut)
 */
export async function withReadSnapshot<T>(database: DatabaseConfig, options: ReadSnapshotOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = newClient(database, options.applicationName);
  const read = (async () => {
    await client.connect();
    await client.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = ${Math.ceil(options.deadlineMs / 4)}; ` +
        `SET LOCAL statement_timeout = ${Math.ceil(options.deadlineMs / 2)}`,
    );
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  })();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ReadDeadlineError(`the database did not answer within ${options.deadlineMs / 1000} s`)), options.deadlineMs);
  });
  try {
    return await Promise.race([read, deadline]);
  } finally {
    clearTimeout(timer);
    // The read lost the race or failed: its rejection is the deadline's, or already thrown.
    read.catch(() => undefined);
    // With a query still out this destroys the socket rather than wait for it (pg's end()).
    await client.end().catch(() => undefined);
  }
}
