import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';

/** A client on the test run's database, connected before the file's tests and closed after them. */
export function sharedClient(): { readonly url: string; client: () => pg.Client } {
  const url = inject('databaseUrl');
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });
  return { url, client: () => client };
}

/** One query on a connection of its own (opened and closed here): for a database other than the shared one. */
export async function queryOnce<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
