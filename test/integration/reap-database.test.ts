import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { execa } from 'execa';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { readStat } from '../../src/proc/stat.js';
import { bootId } from '../../src/proc/system.js';
import { migrate } from '../../src/record/migrate.js';
import { writeRecords } from '../../src/record/sql.js';
import { sharedClient } from '../helpers/database.js';
import { ownDatabase } from '../helpers/own-database.js';
import { aliveWith, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { BIN, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';
import type { RunRecord } from '../../src/record/types.js';

const tag = ownedTag();
const database = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');

describe('scidex-watchdog reap over PostgreSQL', () => {
  it('finishes running rows of this host with no marker: kills by cookie, or only marks after a reboot', async () => {
    await migrate(database.client());
    const scratch = newStateDir();
    const dead = forgeRun(scratch, { host: hostname(), boot_id: bootId() });
    const rebooted = forgeRun(scratch, { host: hostname(), boot_id: '00000000-0000-0000-0000-000000000000' });
    const elsewhere = forgeRun(scratch, { host: 'another-host' });
    for (const run of [dead, rebooted, elsewhere]) await writeRecords(database.client(), { runs: [run] });
    // Their markers gone, as after a wiped state directory: a marked run is its marker reapers' to finish.
    rmSync(join(scratch, 'running'), { recursive: true, force: true });
    const leftover = foreignSleep({ SCIDEX_RUN_ID: dead.id, SCIDEX_TEST_TAG: tag });
    try {
      const result = await execa(WATCHDOG, ['reap', '--json', '--state-dir', newStateDir(), '--database-url', database.url]);
      const outcomes = result.stdout.split('\n').map((line) => JSON.parse(line));
      expect(outcomes).toContainEqual(expect.objectContaining({ runId: dead.id, verdict: 'lost', killed: 1 }));
      expect(outcomes).toContainEqual(expect.objectContaining({ runId: rebooted.id, verdict: 'lost', killed: 0 }));
      expect(outcomes.some((outcome) => outcome.runId === elsewhere.id)).toBe(false);
      await until('the leftover to be killed', () => !aliveWith(leftover.pid, leftover.starttime), 3000);
      const rows = await database.client().query('SELECT id, status, reason FROM watchdog_runs WHERE id = ANY($1)', [[dead.id, rebooted.id, elsewhere.id]]);
      const byId = Object.fromEntries(rows.rows.map((row) => [row.id, row]));
      expect(byId[dead.id]).toMatchObject({ status: 'lost', reason: 'wrapper_gone' });
      expect(byId[rebooted.id]).toMatchObject({ status: 'lost', reason: 'host_rebooted' });
      expect(byId[elsewhere.id]).toMatchObject({ status: 'running' });
      const events = await database.client().query(`SELECT kind FROM watchdog_events WHERE run_id = $1`, [dead.id]);
      expect(events.rows.map((row) => row.kind)).toEqual(expect.arrayContaining(['signal_sent', 'process_killed', 'run_lost']));
    } finally {
      leftover.stop();
    }
  });

  it("lets the wrapper's own ending replace a reaper's `lost`, never the other way round", async () => {
    await migrate(database.client());
    const run = forgeRun(newStateDir(), { host: 'elsewhere' });
    const write = (fields: object) => writeRecords(database.client(), { runs: [{ ...run, ...fields }] });
    const status = async () => (await database.client().query('SELECT status FROM watchdog_runs WHERE id = $1', [run.id])).rows[0].status;
    await write({ revision: 2, status: 'lost', ended_at: new Date().toISOString() });
    await write({ revision: 2, status: 'completed', ended_at: new Date().toISOString(), exit_status: 0 });
    expect(await status()).toBe('completed');
    // Nothing running replaces an ending, whatever its revision (run-version.ts standing).
    await write({ revision: 3, status: 'running', ended_at: null });
    expect(await status()).toBe('completed');
    await write({ revision: 4, status: 'lost', ended_at: new Date().toISOString() });
    expect(await status()).toBe('completed');
  });

  it('ships the whole continued journal of a marked run it reaps, marks it shipped, and warns of nothing', async () => {
    const stateDir = newStateDir();
    const run = forgeRun(stateDir);
    const result = await execa(WATCHDOG, ['reap', '--json', '--run', run.id, '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    // A reaper that took its own journal for incomplete waited its 5 s of shipping out, then warned that
    // records wait in the journal and left it unmarked: no warning and the shipped mark say it did not,
    // where a wall-clock bound would also catch a CLI start slowed by a loaded host.
    expect(result.stderr).not.toMatch(/warning/);
    expect(existsSync(join(stateDir, 'journal', `${run.id}.shipped`))).toBe(true);
    const rows = await database.client().query('SELECT status, revision FROM watchdog_runs WHERE id = $1', [run.id]);
    expect(rows.rows).toEqual([{ status: 'lost', revision: 2 }]);
  });

  it('ships, instead of marking lost, a run that ended while the database was down, from the journal its row names in another state directory', async () => {
    await migrate(database.client());
    const stateDir = newStateDir();
    const down = 'postgresql://postgres@127.0.0.1:1/test';
    const run = await startWrapper(['--quiet', '--analysis-id', `ended-unshipped-${tag}`, '--database-url', down, '--', 'sh', '-c', 'exit 5'], { tag, stateDir });
    expect(run.exitCode).toBe(5);
    // The database saw the start only (as when it went down mid-run).
    const started = journalOf(stateDir).runs.find((record) => record.revision === 1)!;
    expect(started.status).toBe('running');
    await writeRecords(database.client(), { runs: [started] });

    const result = await execa(WATCHDOG, ['reap', '--json', '--state-dir', newStateDir(), '--database-url', database.url], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).not.toContain(started.id);
    const rows = await database.client().query('SELECT status, exit_status FROM watchdog_runs WHERE id = $1', [started.id]);
    expect(rows.rows).toEqual([{ status: 'failed', exit_status: 5 }]);
    const events = await database.client().query('SELECT kind FROM watchdog_events WHERE run_id = $1', [started.id]);
    expect(events.rows.map((row) => row.kind)).not.toContain('run_lost');
  });

  it('is started by scidex-run with the --database-url of its command line: a dead run found by the start sweep is marked lost in PostgreSQL', async () => {
    await migrate(database.client());
    const stateDir = newStateDir();
    const dead = forgeRun(stateDir);
    await writeRecords(database.client(), { runs: [dead as RunRecord] });
    const result = await startWrapper(['--quiet', '--database-url', database.url, '--', 'true'], { tag, stateDir });
    expect(result.exitCode).toBe(0);
    const status = async () => (await database.client().query('SELECT status FROM watchdog_runs WHERE id = $1', [dead.id])).rows[0]?.status;
    await until('the run to be marked lost in PostgreSQL', async () => (await status()) === 'lost', 60_000, { every: 100 });
  });

  // On a database of its own: any `scidex-watchdog reap` of the test files alongside reaps every
  // marker-less running row of this host in the shared one, and would take the forged run from both.
  it('finishes a run once when two reapers meet it: the second, stopped after reading the rows, finds it taken', async () => {
    const own = ownDatabase('reap_twice');
    await own.create();
    const client = new pg.Client({ connectionString: own.url });
    try {
      await client.connect();
      await migrate(client);
      const forged = newStateDir();
      const run = forgeRun(forged, { host: hostname(), boot_id: bootId() });
      await writeRecords(client, { runs: [run as RunRecord] });
      rmSync(join(forged, 'running'), { recursive: true, force: true });
      const reap = (env: Record<string, string> = {}) =>
        execa(WATCHDOG, ['reap', '--json', '--run', run.id, '--state-dir', newStateDir(), '--database-url', own.url], {
          reject: false,
          env: { SCIDEX_TEST_TAG: tag, ...env },
        });
      const late = reap({ SCIDEX_FAILPOINTS: 'reap-rows-read' });
      await until('the reaper to reach its failpoint', () => readStat(late.pid!)?.state === 'T', 60_000);
      try {
        const first = await reap();
        expect(first.exitCode, first.stderr).toBe(0);
        expect(first.stdout, first.stderr).toContain('"verdict":"lost"');
      } finally {
        process.kill(late.pid!, 'SIGCONT');
      }
      const second = await late;
      expect(second.exitCode, second.stderr).toBe(0);
      expect(second.stdout).not.toContain('"verdict":"lost"');
      const events = await client.query(`SELECT kind FROM watchdog_events WHERE run_id = $1 AND kind = 'run_lost'`, [run.id]);
      expect(events.rowCount).toBe(1);
    } finally {
      await client.end().catch(() => undefined);
      await own.drop();
    }
  });

  it('leaves to its marker reapers a run marked in its own state directory, not in the reaper\'s', async () => {
    await migrate(database.client());
    const run = forgeRun(newStateDir(), { host: hostname(), boot_id: bootId() });
    await writeRecords(database.client(), { runs: [run] });
    const result = await execa(WATCHDOG, ['reap', '--json', '--run', run.id, '--state-dir', newStateDir(), '--database-url', database.url], { reject: false });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).not.toContain(run.id);
    const rows = await database.client().query('SELECT status FROM watchdog_runs WHERE id = $1', [run.id]);
    expect(rows.rows[0].status).toBe('running');
  });
});
