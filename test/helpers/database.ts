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
