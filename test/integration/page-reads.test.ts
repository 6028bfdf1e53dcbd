/**
 * The daemon's page reads on PostgreSQL (docs/operations.md, "The pages and the database"): a real
 * `scidex-watchdog serve` on a database of the file's own, and a table locked by the test
 * (`LOCK TABLE ... IN ACCESS EXCLUSIVE MODE`, as a migration or a VACUUM FULL would) so that reads
 * wait where the test can count them in pg_stat_activity.
 *   - At most PAGE_READS_AT_ONCE reads hold a connection; the excess answers 503 JSON with
 *     Retry-After at once; identical /fleet.json reads share one; afterwards everything is 200.
 *   - withReadSnapshot (record/connect.ts): READ ONLY, the server's lock timeout, the deadline,
 *     and no backend of its application_name left once it has answered.
 *   - A /fleet.json on a locked table answers 503 within the page read's deadline, and leaves no
 *     backend of the daemon's page application_name behind.
 * The daemon is stopped by its pid and awaited (serve-daemon.ts); the file's tag is checked gone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_READ, readTimedOut, ReadDeadlineError, SchemaUncheckedError, withReadSnapshot } from '../../src/record/connect.js';
import { withSchema, withSchemaSnapshot } from '../../src/record/migrate.js';
import { PAGE_READS_AT_ONCE } from '../../src/watchdog/page-reads.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { serveForTest, type TestDaemon } from '../helpers/serve-daemon.js';
import { until } from '../helpers/until.js';
import { newStateDir } from '../helpers/wrapper.js';

const database = ownDatabase('page_reads');
const tag = ownedTag();
const scratch = mkdtempSync(join(tmpdir(), 'scidex-page-reads-'));
let admin: pg.Client;

beforeAll(async () => {
  await database.create();
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await database.drop();
  rmSync(scratch, { recursive: true, force: true });
});

/** The backends of the test's database, other than the test's own, waiting on a lock. */
async function waitingOnLocks(): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'",
  );
  return rows[0].n;
}

/** The backends of the test's database named `applicationName`. */
async function backendsOf(applicationName: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1', [applicationName]);
  return rows[0].n;
}

/** Holds `table` locked (ACCESS EXCLUSIVE, on a connection of its own) until the returned function is called. */
async function lockTable(table: string): Promise<() => Promise<void>> {
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  await holder.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return async () => {
    await holder.query('COMMIT');
    await holder.end();
  };
}

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { error?: string; generated_at?: string };
}

const ask = (url: string): Promise<Answer> =>
  fetch(url).then(async (response) => ({ status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Answer['body'] }));

/** A daemon of the test's database whose schema is in place (its first sweep migrated it). */
async function daemonWithSchema(): Promise<TestDaemon> {
  const daemon = await serveForTest({ stateDir: newStateDir(), databaseUrl: database.url, tag, scratch });
  await until('the daemon to migrate the schema', async () => (await admin.query("SELECT to_regclass('watchdog_samples') AS t")).rows[0].t !== null, 60_000, { every: 100 });
  await until('/fleet.json to answer 200', async () => (await ask(`${daemon.base}/fleet.json`)).status === 200, 60_000, { every: 100 });
  return daemon;
}

describe('the page reads of the daemon on PostgreSQL', () => {
  // A daemon's start and its first sweep, then some 70 requests each a database round trip: slow on a host loaded by the suite.
  it(`holds at most ${PAGE_READS_AT_ONCE} connections for them, refuses the excess with 503 and Retry-After, shares identical reads`, { timeout: 180_000 }, async () => {
    const daemon = await daemonWithSchema();
    try {
      // The fleet's running runs join the samples: with them locked, each read waits holding its connection.
      let release = await lockTable('watchdog_samples');
      const answered: Answer[] = [];
      const asked = Array.from({ length: 30 }, (_, i) => ask(`${daemon.base}/fleet.json?analysis_id=A${i}`).then((answer) => (answered.push(answer), answer)));
      let most = 0;
      await until('the excess to be refused', async () => {
        most = Math.max(most, await waitingOnLocks());
        return answered.filter((answer) => answer.status === 503).length >= 30 - PAGE_READS_AT_ONCE;
      }, 60_000, { every: 20 });
      most = Math.max(most, await waitingOnLocks());
      await release();
      const answers = await Promise.all(asked);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(PAGE_READS_AT_ONCE);
      const refused = answers.filter((answer) => answer.status === 503);
      // The reads that held a slot answer 200, or 503 when the server's lock_timeout came first.
      expect(refused.length).toBeGreaterThanOrEqual(30 - PAGE_READS_AT_ONCE);
      expect(answers.every((answer) => answer.status === 200 || answer.status === 503)).toBe(true);
      for (const answer of refused) {
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
        expect(answer.body.error).toMatch(/busy|try again/);
      }
      // Identical reads in flight share one: ten of the same filter take one connection, and none is refused.
      release = await lockTable('watchdog_samples');
      const same = Array.from({ length: 10 }, () => ask(`${daemon.base}/fleet.json?analysis_id=same`));
      await until('the shared read to wait on the lock', async () => (await waitingOnLocks()) >= 1, 60_000, { every: 10 });
      expect(await waitingOnLocks()).toBe(1);
      await release();
      expect((await Promise.all(same)).filter((answer) => answer.status === 503 && /try again/.test(answer.body.error ?? ''))).toEqual([]);
      // Afterwards everything answers.
      for (let i = 0; i < 30; i++) expect((await ask(`${daemon.base}/fleet.json?analysis_id=A${i}`)).status).toBe(200);
    } finally {
      await daemon.stop();
    }
  });

  it('withReadSnapshot reads READ ONLY, gives up on a lock by itself and at its deadline, and leaves no backend behind', async () => {
    const place = { url: database.url, display: 'test' };
    const options = { deadlineMs: 2000, applicationName: 'scidex-test-snapshot' };
    await admin.query('CREATE TABLE IF NOT EXISTS snapshot_probe (n int)');
    expect(await withReadSnapshot(place, options, async (client) => (await client.query('SELECT 41 + 1 AS n')).rows[0].n)).toBe(42);
    await expect(withReadSnapshot(place, options, (client) => client.query('INSERT INTO snapshot_probe VALUES (1)'))).rejects.toMatchObject({ code: '25006' });
    const release = await lockTable('snapshot_probe');
    try {
      const locked = await withReadSnapshot(place, options, (client) => client.query('SELECT * FROM snapshot_probe')).catch((error: unknown) => error);
      expect(readTimedOut(locked)).toBe(true);
      expect((locked as { code?: string }).code).toBe('55P03');
      expect(await backendsOf(options.applicationName)).toBe(0);
      // Work that never ends ends at the deadline, its connection with it.
      const hung = await withReadSnapshot(place, options, () => new Promise<never>(() => undefined)).catch((error: unknown) => error);
      expect(hung).toBeInstanceOf(ReadDeadlineError);
      expect(readTimedOut(hung)).toBe(true);
      await until('the hung read\'s backend to be gone', async () => (await backendsOf(options.applicationName)) === 0, 60_000, { every: 20 });
    } finally {
      await release();
    }
  });

  it('withSchemaSnapshot reads only a schema this process has checked: before, it is busy and opens no connection', async () => {
    // A key of its own, so that no check by another test of this file counts.
    const place = { url: `${database.url}?application_name=scidex-test-unchecked`, display: 'test' };
    const before = await withSchemaSnapshot(place, PAGE_READ, async () => 'read').catch((error: unknown) => error);
    expect(before).toBeInstanceOf(SchemaUncheckedError);
    expect(readTimedOut(before)).toBe(true);
    expect(await backendsOf('scidex-test-unchecked')).toBe(0);
    await withSchema(place, async () => undefined);
    expect(await withSchemaSnapshot(place, PAGE_READ, async () => 'read')).toBe('read');
  });

  it(`answers a /fleet.json on a locked table with 503 within ${PAGE_READ.deadlineMs / 1000} s, and leaves no backend of its page reads`, async () => {
    const daemon = await daemonWithSchema();
    const release = await lockTable('watchdog_daemons');
    try {
      const answer = await ask(`${daemon.base}/fleet.json`);
      expect(answer.status).toBe(503);
      expect(answer.body.error).toMatch(/busy/);
      await until('no page read to be left in pg_stat_activity', async () => (await backendsOf(PAGE_READ.applicationName)) === 0, 60_000, { every: 20 });
    } finally {
      await release();
      await daemon.stop();
    }
  });
});
