import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { migrate, MIGRATIONS_TABLE, SchemaTooNewError } from '../../src/record/migrate.js';

const database = sharedClient();
const databaseUrl = database.url;

describe('schema migrations', () => {
  it('refuses, with a clear error, a database migrated by a newer scidex-run', async () => {
    await migrate(database.client());
    await database.client().query(`INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES ('9999999999999_from-the-future', now())`);
    try {
      await expect(migrate(database.client())).rejects.toThrow(SchemaTooNewError);
      await expect(migrate(database.client())).rejects.toThrow(/newer than this scidex-run.*9999999999999_from-the-future/);
    } finally {
      await database.client().query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = '9999999999999_from-the-future'`);
    }
  });

  it('migrates concurrently from several clients without error', async () => {
    const clients = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = new pg.Client({ connectionString: databaseUrl });
        await client.connect();
        return client;
      }),
    );
    try {
      await Promise.all(clients.map((client) => migrate(client)));
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });
});
