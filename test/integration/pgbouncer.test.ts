/**
 * docs/records.md, "Behind PgBouncer": shipping works through PgBouncer in transaction and in session pooling
 * mode, with many wrappers sharing a pool of a few server connections; only `scidex-watchdog
 * migrate` must go to PostgreSQL itself. Each describe starts a pgbouncer of its own (pool of 3)
 * in front of the test database, migrates directly, and points the wrappers at the pool only.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/record/migrate.js';
import { sharedClient } from '../helpers/database.js';
import { pgbouncerBinary, startPgbouncer, type Pgbouncer } from '../helpers/pgbouncer.js';
import { gone } from '../helpers/server-host.js';
import { ownedTag } from '../helpers/processes.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const PGBOUNCER = pgbouncerBinary();
const SKIP_REASON = 'skipped: pgbouncer is not installed (neither on PATH nor at /usr/sbin/pgbouncer); .ci/run installs it';

const tag = ownedTag();
const database = sharedClient();

const sorted = (values: Iterable<string>) => [...values].sort();

describe.skipIf(!PGBOUNCER).each([
  { mode: 'transaction' as const, runs: 30 },
  { mode: 'session' as const, runs: 10 },
])(`shipping through PgBouncer in $mode mode${PGBOUNCER ? '' : ` (${SKIP_REASON})`}`, ({ mode, runs }) => {
  let bouncer: Pgbouncer | undefined;
  const analysisId = (n: number) => `bouncer-${mode}-${tag}-${n}`;

  beforeAll(async () => {
    // The schema goes in directly: node-pg-migrate's session-level advisory lock needs PostgreSQL itself.
    await migrate(database.client());
    bouncer = await startPgbouncer(database.url, { poolMode: mode, poolSize: 3 });
  });

  afterAll(async () => {
    if (!bouncer) return;
    const { pid, starttime } = bouncer;
    expect(pid).toBeGreaterThan(1);
    expect(gone(pid, starttime)).toBe(false);
    await bouncer.stop();
    // Gone: no such process, or the number now belongs to another process (other starttime).
    expect(gone(pid, starttime)).toBe(true);
  });

  it(`ships every record of ${runs} concurrent runs through a pool of 3 server connections`, async () => {
    const server = bouncer as Pgbouncer;
    const ours = (rows: Record<string, unknown>[]) => rows.find((row) => row.database === server.database);
    const xacts = async () => Number(ours(await server.admin('SHOW STATS'))?.total_xact_count ?? 0);
    const xactsBefore = await xacts();
    const stateDirs = Array.from({ length: runs }, () => newStateDir());
    const results = await Promise.all(
      stateDirs.map((stateDir, n) =>
        startWrapper(
          ['--quiet', '--analysis-id', analysisId(n), '--heartbeat-interval', '300ms', '--sample-interval', '200ms',
            '--database-url', server.url, '--', 'sleep', '1'],
          { tag, stateDir },
        ),
      ),
    );
    for (const [n, result] of results.entries()) {
      expect({ n, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ n, exitCode: 0, stderr: expect.not.stringMatching(/warning/i) });
    }

    // Everything is in PostgreSQL (read directly, not through the pool) without a `scidex-watchdog ship`.
    const client = database.client();
    // How many samples a run of one second takes depends on the load (two cores, many wrappers).
    let sampleCount = 0;
    for (const [n, stateDir] of stateDirs.entries()) {
      const journal = journalOf(stateDir);
      const run = journal.runs.at(-1);
      expect(run).toMatchObject({ analysis_id: analysisId(n), status: 'completed', exit_status: 0 });
      const rows = await client.query('SELECT * FROM watchdog_runs WHERE analysis_id = $1', [analysisId(n)]);
      expect(rows.rows).toHaveLength(1);
      expect(rows.rows[0]).toMatchObject({ id: run?.id, status: 'completed', exit_status: 0, exit_code: 0 });
      expect(rows.rows[0].ended_at).not.toBeNull();

      const events = await client.query('SELECT id, kind FROM watchdog_events WHERE run_id = $1', [run?.id]);
      expect(sorted(events.rows.map((row) => row.id))).toEqual(sorted(journal.events.map((event) => event.id)));
      expect(events.rows.map((row) => row.kind)).toEqual(expect.arrayContaining(['run_started', 'run_finished']));

      const samples = await client.query('SELECT id FROM watchdog_samples WHERE run_id = $1', [run?.id]);
      sampleCount += journal.samples.length;
      expect(sorted(samples.rows.map((row) => row.id))).toEqual(sorted(journal.samples.map((sample) => sample.id)));

      const processes = await client.query('SELECT pid, starttime FROM watchdog_processes WHERE run_id = $1', [run?.id]);
      expect(sorted(processes.rows.map((row) => `${row.pid}/${row.starttime}`))).toEqual(
        sorted(journal.processes.map((process) => `${process.pid}/${process.starttime}`)),
      );

      // The wrapper itself marked its journal shipped.
      const journalDir = join(stateDir, 'journal');
      expect(readdirSync(journalDir).filter((name) => name.endsWith('.shipped'))).toHaveLength(1);
    }

    expect(sampleCount).toBeGreaterThanOrEqual(runs);

    // The shipments did go through this pgbouncer (its transaction count), which holds no more than its pool of 3.
    expect((await xacts()) - xactsBefore).toBeGreaterThanOrEqual(runs * 2);
    const servers = (await server.admin('SHOW SERVERS')).filter((row) => row.database === server.database);
    expect(servers.length).toBeLessThanOrEqual(3);
    expect(server.log()).not.toMatch(/unsupported startup parameter|prepared statement|ERROR/i);
  }, 120_000);

  it('answers `scidex-watchdog runs` and `events` through the pool', async () => {
    const server = bouncer as Pgbouncer;
    const env = { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_TEST_TAG: tag };
    const listed = await execa(WATCHDOG, ['runs', '--analysis-id', analysisId(0), '--json', '--database-url', server.url], { reject: false, env });
    expect({ exitCode: listed.exitCode, stderr: listed.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const rows = listed.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ analysis_id: analysisId(0), status: 'completed', exit_status: 0 });

    const table = await execa(WATCHDOG, ['runs', '--analysis-id', analysisId(1), '--database-url', server.url], { reject: false, env });
    expect(table.exitCode).toBe(0);
    expect(table.stdout).toContain(analysisId(1));

    const events = await execa(WATCHDOG, ['events', '--analysis-id', analysisId(0), '--json', '--database-url', server.url], { reject: false, env });
    expect({ exitCode: events.exitCode, stderr: events.stderr }).toEqual({ exitCode: 0, stderr: '' });
    const kinds = events.stdout.trim().split('\n').map((line) => JSON.parse(line).kind);
    expect(kinds).toEqual(expect.arrayContaining(['run_started', 'run_finished']));
  });
});
