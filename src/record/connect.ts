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

/**
 * Opens a client, runs `work` with it, and closes it whatever happens.
 * @throws whatever connecting or `work` throws (pg errors carry `code`)
 */
export async function withClient<T>(database: DatabaseConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({
    connectionString: database.url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: 'scidex-run',
  });
  client.on('error', () => {
    // A server that goes away between queries surfaces as the next query's rejection.
  });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
