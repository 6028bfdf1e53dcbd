/**
 * Schema migrations: plain .sql files in migrations/, applied by node-pg-migrate under its advisory
 * lock (two hosts migrating at once serialise; the second finds nothing to do). The usual case, a
 * schema already current, costs one query and never loads node-pg-migrate.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/database.js';
import { SchemaUncheckedError, withClient, withReadSnapshot, type ReadSnapshotOptions } from './connect.js';
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

/** The databases (DatabaseConfig url, or display for libpq's variables) whose schema this process found current. */
const current = new Set<string>();

/**
 * PostgreSQL's SQLSTATE class 42 (syntax error or access rule violation: undefined_table 42P01,
 * undefined_column 42703, undefined_function 42883): the schema this process checked is not what it
 * was (a database made again, a `migrate --down`).
 */
const SCHEMA_CHANGED_CLASS = '42';

/**
 * Brings the schema of `database` up to date once per process: a daemon that opens a connection per
 * sweep, or a command that opens several, checks it on the first only. A newer scidex-run that
 * migrates the database later is noticed at the next start (migrations only add); a schema found
 * changed (an SQLSTATE of class 42: a table, column or function undefined) is checked again on the
 * next connection.
 * @throws SchemaTooNewError; pg errors
 */
export async function ensureSchema(client: pg.Client, database: DatabaseConfig): Promise<void> {
  const key = database.url ?? database.display;
  if (current.has(key)) return;
  await migrate(client);
  current.add(key);
}

/**
 * withClient (record/connect.ts) on a schema ensured current (ensureSchema).
 * @throws SchemaTooNewError; whatever connecting or `work` throws (pg errors carry `code`)
 */
export async function withSchema<T>(database: DatabaseConfig, work: (client: pg.Client) => Promise<T>): Promise<T> {
  return withClient(database, async (client) => {
    await ensureSchema(client, database);
    try {
      return await work(client);
    } catch (error) {
      if ((error as { code?: unknown }).code?.toString().startsWith(SCHEMA_CHANGED_CLASS)) current.delete(database.url ?? database.display);
      throw error;
    }
  });
}

/**
 * withReadSnapshot (record/connect.ts: one read-only snapshot under a deadline, for the daemon's
 * pages) on a schema this process has already ensured current (ensureSchema: the daemon's sweep
 * does it first). A page read never migrates: migrating waits on the migration lock with no server-
 * side bound, so a read given up at its deadline would leave its backend waiting behind a migration
 * held elsewhere. Before the schema is checked the read is refused as busy (503, try again).
 * @throws SchemaUncheckedError before the schema was checked; what withReadSnapshot throws
 */
export async function withSchemaSnapshot<T>(database: DatabaseConfig, options: ReadSnapshotOptions, work: (client: pg.Client) => Promise<T>): Promise<T> {
  if (!current.has(database.url ?? database.display)) throw new SchemaUncheckedError('the database schema has not been checked yet (the daemon\'s first sweep does it)');
  return withReadSnapshot(database, options, work);
}
