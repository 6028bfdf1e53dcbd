/**
 * Upgrading a database that holds records: a schema of the first release with rows in it is brought
 * up to date by the real `scidex-watchdog migrate`, taken down step by step and up again, and
 * migrated by two processes at once. Each case works in a fresh database of its own on the test
 * server, dropped at the end.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { BIN } from '../helpers/wrapper.js';

const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
const MIGRATIONS_TABLE = 'watchdog_migrations';
/** Every migration of this build, oldest first; the first is the schema of the first release. */
const MIGRATIONS = readdirSync(MIGRATIONS_DIR)
  .filter((name) => name.endsWith('.sql'))
  .map((name) => name.slice(0, -'.sql'.length))
  .sort();
const TABLES = ['watchdog_runs', 'watchdog_events', 'watchdog_processes'] as const;
type Table = (typeof TABLES)[number];
const ORDER: Record<Table, string> = { watchdog_runs: 'id', watchdog_events: 'id', watchdog_processes: 'run_id, pid, starttime' };

const adminUrl = inject('databaseUrl');
const created: string[] = [];

/** Creates an empty database on the test server, dropped after the file; returns its URL. */
async function freshDatabase(): Promise<string> {
  const name = `scidex_upgrade_${process.pid}_${created.length}_${Date.now()}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  created.push(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

afterAll(async () => {
  await withClient(adminUrl, async (client) => {
    for (const name of created) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
});

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The real `scidex-watchdog migrate`; never rejects. */
function watchdogMigrate(url: string, ...args: string[]) {
  return execa(WATCHDOG, ['migrate', '--database-url', url, ...args], { reject: false });
}

/** The migration names a `migrate` printed as applied or undone (`applied a, b`), else []. */
function namesIn(stderr: string): string[] {
  const match = /scidex-watchdog: (?:applied|undid) (.+)$/m.exec(stderr);
  return match ? match[1].split(', ') : [];
}

async function tableExists(client: pg.Client, table: string): Promise<boolean> {
  const result = await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
  return result.rows[0].present;
}

async function columnsOf(client: pg.Client, table: string): Promise<string[]> {
  const result = await client.query(
    `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name`,
    [table],
  );
  return result.rows.map((row) => row.column_name);
}

/** Every row of each existing table of the first schema, as JSON, in key order. */
async function snapshot(client: pg.Client): Promise<Partial<Record<Table, Record<string, unknown>[]>>> {
  const rows: Partial<Record<Table, Record<string, unknown>[]>> = {};
  for (const table of TABLES) {
    if (!(await tableExists(client, table))) continue;
    const result = await client.query(`SELECT row_to_json(t) AS row FROM ${table} t ORDER BY ${ORDER[table]}`);
    rows[table] = result.rows.map((row) => row.row);
  }
  return rows;
}

/** Rows cut down to the columns of `like` (the first schema's), so that added columns do not count. */
function project(rows: Record<string, unknown>[], like: Record<string, unknown>[]): Record<string, unknown>[] {
  const columns = Object.keys(like[0]);
  return rows.map((row) => Object.fromEntries(columns.map((column) => [column, row[column]])));
}

async function insert(client: pg.Client, table: Table, row: Record<string, unknown>): Promise<void> {
  const columns = Object.keys(row);
  const values = columns.map((_, index) => `$${index + 1}`).join(', ');
  await client.query(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${values})`, Object.values(row));
}

/** Two runs (one finished, one still running), their events and processes, in the first schema's columns. */
async function insertFirstSchemaRecords(client: pg.Client): Promise<void> {
  const started = new Date(Date.now() - 60_000).toISOString();
  const ended = new Date().toISOString();
  const run = (id: string, status: string) => ({
    id, revision: status === 'running' ? 1 : 3, analysis_id: `upgrade-${id.slice(0, 8)}`, parent_run_id: null, host: 'old-host',
    boot_id: 'b00t', wrapper_pid: 4242, wrapper_starttime: 987_654_321, pid: 4243, pgid: 4243, leader_starttime: 987_654_330,
    argv: ['python3', 'fit.py', '--token=[redacted]', 'a b'], cwd: '/srv/analyses', username: 'scidex', timeout_ms: 1_800_000,
    memory_limit_bytes: 2 ** 31, grace_ms: 10_000, orphan_policy: 'kill', tracking_backend: 'pgroup',
    journal_path: `/var/lib/scidex-run/journal/${id}.jsonl`, started_at: started, heartbeat_at: ended,
    ended_at: status === 'running' ? null : ended, status, exit_status: status === 'running' ? null : 137,
    exit_code: null, signal: status === 'running' ? null : 'SIGKILL', reason: status === 'running' ? null : 'memory',
    peak_rss_bytes: 3_000_000_000, peak_pss_bytes: status === 'running' ? null : 2_500_000_000, cpu_seconds: 12.75,
    peak_process_count: 3, process_count: 3,
  });
  const finished = randomUUID();
  const running = randomUUID();
  await insert(client, 'watchdog_runs', run(finished, 'out_of_memory'));
  await insert(client, 'watchdog_runs', run(running, 'running'));
  const event = (runId: string, kind: string, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(), run_id: runId, analysis_id: `upgrade-${runId.slice(0, 8)}`, at: ended, kind, elapsed_ms: 1234, ...extra,
  });
  await insert(client, 'watchdog_events', event(finished, 'run_started', { detail: { backend: 'pgroup', probes: [] } }));
  await insert(client, 'watchdog_events', event(finished, 'limit_exceeded', { reason: 'memory', rss_bytes: 3_000_000_000, pss_bytes: 2_500_000_000 }));
  await insert(client, 'watchdog_events', event(finished, 'signal_sent', { signal: 'SIGTERM', pids: [4243, 4244, 4245], detail: { largest: [{ pid: 4244 }] } }));
  await insert(client, 'watchdog_events', event(finished, 'run_finished', { reason: 'memory' }));
  await insert(client, 'watchdog_events', event(running, 'run_started'));
  for (const [pid, fate] of [[4243, 'killed'], [4244, 'terminated'], [4245, 'exited']] as const) {
    await insert(client, 'watchdog_processes', {
      run_id: finished, pid, starttime: 987_654_330 + pid, ppid: pid === 4243 ? 4242 : 4243, pgid: 4243, sid: 4243, comm: 'python3',
      argv: ['python3', 'fit.py'], found_by: pid === 4243 ? 'leader' : 'group', first_seen_at: started, last_seen_at: ended,
      peak_rss_bytes: 1_000_000_000, cpu_seconds: 4.25, fate,
    });
  }
}

describe('upgrading a database that holds records', () => {
  it('migrates a first-release schema with rows in it: every row intact, the new columns and tables present, then up to date', async () => {
    const url = await freshDatabase();
    const [first, ...later] = MIGRATIONS;
    expect(first).toBe('1763769600000_initial-schema');
    const ran = await runner({
      databaseUrl: url, dir: MIGRATIONS_DIR, migrationsTable: MIGRATIONS_TABLE, direction: 'up', count: 1, checkOrder: true, log: () => undefined,
    });
    expect(ran.map((migration) => migration.name)).toEqual([first]);
    await withClient(url, async (client) => {
      expect(await columnsOf(client, 'watchdog_runs')).not.toContain('cgroup_path');
      await insertFirstSchemaRecords(client);
    });
    const before = await withClient(url, snapshot);

    const upgrade = await watchdogMigrate(url);
    expect(upgrade.exitCode, upgrade.stderr).toBe(0);
    expect(namesIn(upgrade.stderr)).toEqual(later);

    await withClient(url, async (client) => {
      const after = await snapshot(client);
      // Rows written before roles belong to no role (docs/roles.md): only operators may cancel them.
      // Runs of older versions were all spawned by scidex-run: adopted is false.
      expect(after.watchdog_runs).toEqual(before.watchdog_runs!.map((row) => ({ ...row, cgroup_path: null, pid_ns: null, db_role: null, slurm_job_id: null, slurm_step_id: null, adopted: false })));
      expect(after.watchdog_events).toEqual(before.watchdog_events);
      expect(after.watchdog_processes).toEqual(before.watchdog_processes);
      expect(await columnsOf(client, 'watchdog_runs')).toEqual(expect.arrayContaining(['cgroup_path', 'pid_ns', 'db_role', 'slurm_job_id', 'slurm_step_id', 'adopted']));
      expect(await columnsOf(client, 'watchdog_cancel_requests')).toContain('requested_role');
      expect(await tableExists(client, 'watchdog_samples')).toBe(true);
      const applied = await client.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
      expect(applied.rows.map((row) => row.name)).toEqual(MIGRATIONS);
    });

    const again = await watchdogMigrate(url);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain('scidex-watchdog: schema is up to date');
  });

  // A migrate CLI run per migration and a few more, one after the other (a dozen and more), each up to
  // seconds long on a host loaded by the suite: too close to the default 60 s there.
  it('undoes the migrations one by one down to nothing, keeping the rows of the tables that remain, and migrates up again', { timeout: 300_000 }, async () => {
    const url = await freshDatabase();
    await runner({ databaseUrl: url, dir: MIGRATIONS_DIR, migrationsTable: MIGRATIONS_TABLE, direction: 'up', count: 1, log: () => undefined });
    await withClient(url, insertFirstSchemaRecords);
    const original = await withClient(url, snapshot);
    const firstColumns = await withClient(url, (client) => columnsOf(client, 'watchdog_runs'));
    expect((await watchdogMigrate(url)).exitCode).toBe(0);

    for (const name of [...MIGRATIONS].reverse()) {
      const down = await watchdogMigrate(url, '--down');
      expect(down.exitCode, down.stderr).toBe(0);
      expect(namesIn(down.stderr)).toEqual([name]);
      await withClient(url, async (client) => {
        const applied = await client.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY id`);
        expect(applied.rows.map((row) => row.name)).toEqual(MIGRATIONS.slice(0, MIGRATIONS.indexOf(name)));
        const now = await snapshot(client);
        if (name === MIGRATIONS[0]) {
          expect(now).toEqual({});
          return;
        }
        for (const table of TABLES) expect(project(now[table]!, original[table]!), table).toEqual(original[table]);
        if (name.endsWith('_roles')) {
          expect(await columnsOf(client, 'watchdog_runs')).not.toContain('db_role');
          // The role belongs to the cluster: other databases may use it, so undoing the migration leaves it.
          expect((await client.query(`SELECT 1 FROM pg_roles WHERE rolname = 'scidex_operator'`)).rowCount).toBe(1);
        }
        if (name === MIGRATIONS[1]) expect(await columnsOf(client, 'watchdog_runs')).toEqual(firstColumns);
      });
    }
    await withClient(url, async (client) => {
      for (const table of [...TABLES, 'watchdog_samples']) expect(await tableExists(client, table), table).toBe(false);
    });

    const nothingLeft = await watchdogMigrate(url, '--down');
    expect(nothingLeft.exitCode, nothingLeft.stderr).toBe(0);
    expect(namesIn(nothingLeft.stderr)).toEqual([]);

    const up = await watchdogMigrate(url);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(namesIn(up.stderr)).toEqual(MIGRATIONS);
    await withClient(url, async (client) => {
      for (const table of [...TABLES, 'watchdog_samples']) expect(await tableExists(client, table), table).toBe(true);
      expect(await snapshot(client)).toEqual({ watchdog_runs: [], watchdog_events: [], watchdog_processes: [] });
    });
  });

  it('two migrate processes started at once on an empty database both succeed, and each migration is applied once', async () => {
    for (let round = 0; round < 3; round++) {
      const url = await freshDatabase();
      const results = await Promise.all([watchdogMigrate(url), watchdogMigrate(url)]);
      for (const result of results) expect(result.exitCode, result.stderr).toBe(0);
      // Between them they applied every migration once: one did the work, or they shared it.
      expect(results.flatMap((result) => namesIn(result.stderr)).sort()).toEqual(MIGRATIONS);
      await withClient(url, async (client) => {
        const applied = await client.query(`SELECT name, count(*)::int AS times FROM ${MIGRATIONS_TABLE} GROUP BY name ORDER BY name`);
        expect(applied.rows).toEqual(MIGRATIONS.map((name) => ({ name, times: 1 })));
      });
    }
  });
});
