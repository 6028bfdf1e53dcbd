import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { migrate, MIGRATIONS_TABLE, SchemaTooNewError } from '../../src/record/migrate.js';

const databaseUrl = inject('databaseUrl');
let db: pg.Client;
beforeAll(async () => {
  db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
});
afterAll(async () => {
  await db.end();
});

describe('schema migrations', () => {
  it('refuses, with a clear error, a database migrated by a newer scidex-run', async () => {
    await migrate(db);
    await db.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, run_on) VALUES ('9999999999999_from-the-future', now())`);
    try {
      await expect(migrate(db)).rejects.toThrow(SchemaTooNewError);
      await expect(migrate(db)).rejects.toThrow(/newer than this scidex-run.*9999999999999_from-the-future/);
    } finally {
      await db.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE name = '9999999999999_from-the-future'`);
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
