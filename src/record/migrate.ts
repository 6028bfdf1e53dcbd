/**
 * Schema migrations: plain .sql files in migrations/, applied by node-pg-migrate under its advisory
 * lock (two hosts migrating at once serialise; the second finds nothing to do). The usual case, a
 * schema already current, costs one query and never loads node-pg-migrate.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { appliedMigrations } from './sql.js';

/** The table where node-pg-migrate keeps the names of applied migrations. */
export const MIGRATIONS_TABLE = 'watchdog_migrations';

/** Where the .sql files are: <package>/migrations, two levels above this module in dist/. */
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

/** The database has migrations this code does not know: it was migrated by a newer scidex-run. */
export class SchemaTooNewError extends Error {
  override name = 'SchemaTooNewError';
}

function knownMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith('.sql'))
    .map((name) => name.slice(0, -'.sql'.length))
    .sort();
}

/**
 * Brings the schema up to date (or, with direction 'down', undoes the last migration).
 * @returns the names of the migrations applied now (empty when already current)
 * @throws SchemaTooNewError when the database knows migrations this code does not; pg errors
 */
export async function migrate(client: pg.Client, direction: 'up' | 'down' = 'up'): Promise<string[]> {
  const known = knownMigrations();
  const applied = await appliedMigrations(client, MIGRATIONS_TABLE);
  const unknown = applied.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new SchemaTooNewError(
      `the database schema is newer than this scidex-run (unknown migration ${unknown.join(', ')}): upgrade scidex-run`,
    );
  }
  if (direction === 'up' && known.every((name) => applied.includes(name))) return [];
  const { runner } = await import('node-pg-migrate');
  const ran = await runner({
    dbClient: client,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction,
    count: direction === 'up' ? Infinity : 1,
    checkOrder: true,
    singleTransaction: true,
    advisoryLockMode: 'wait',
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return ran.map((migration) => migration.name);
}
