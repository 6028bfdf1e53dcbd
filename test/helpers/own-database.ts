/**
 * A database of a test file's own on the test server, for what acts on every row of this host: a
 * `scidex-watchdog serve` daemon reaps every run still `running` and takes every cancel request of
 * the host, so on the shared database it would reap the forged rows and take the cancel requests
 * of the test files running alongside.
 */
import pg from 'pg';
import { inject } from 'vitest';

export interface OwnDatabase {
  /** The database's URL; it exists between create() and drop(). */
  readonly url: string;
  create(): Promise<void>;
  /** Drops it even while something is still connected (WITH (FORCE)), so a failed test cannot keep it. */
  drop(): Promise<void>;
}

/** A fresh name, scidex_<prefix>_<pid>_<now>, next to the shared database; `prefix` is a plain SQL identifier. */
export function ownDatabase(prefix: string): OwnDatabase {
  const adminUrl = inject('databaseUrl');
  const name = `scidex_${prefix}_${process.pid}_${Date.now()}`;
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    url: url.toString(),
    create: () => admin(`CREATE DATABASE ${name}`),
    drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
