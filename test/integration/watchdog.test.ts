import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, inject, it } from 'vitest';
import { ownedTag } from '../helpers/processes.js';
import { startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const databaseUrl = inject('databaseUrl');
const tag = ownedTag();

const watchdog = (args: string[]) => execa(WATCHDOG, [...args, '--database-url', databaseUrl], { reject: false });

describe('scidex-watchdog', () => {
  it('migrate is idempotent', async () => {
    const first = await watchdog(['migrate']);
    expect(first.exitCode).toBe(0);
    const second = await watchdog(['migrate']);
    expect(second.exitCode).toBe(0);
    expect(second.stderr).toMatch(/up to date/);
  });

  it('runs and events print what was recorded as psql-style tables', async () => {
    const analysisId = `table-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--timeout', '500ms', '--grace', '1s', '--database-url', databaseUrl, '--', 'sleep', '30'], { tag });
    const runs = await watchdog(['runs', '--analysis-id', analysisId]);
    expect(runs.exitCode).toBe(0);
    expect(runs.stdout).toMatch(/^ id +\| analysis_id/);
    expect(runs.stdout).toContain('timeout');
    expect(runs.stdout).toMatch(/\(1 row\)$/);
    const events = await watchdog(['events', '--analysis-id', analysisId]);
    expect(events.stdout).toContain('limit_exceeded');
    expect(events.stdout).toContain('signal_sent');
    expect(events.stdout).toContain('SIGTERM');
  });

  it('says so in one line when the database is missing or down', async () => {
    const down = await execa(WATCHDOG, ['runs', '--database-url', 'postgresql://postgres@127.0.0.1:1/none'], { reject: false });
    expect(down.exitCode).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    const bad = await watchdog(['runs', '--run', 'not-a-uuid']);
    expect(bad.exitCode).toBe(125);
  });
});

describe('scidex-watchdog runs and events filters', () => {
  // A wrapper run and ten CLI runs one after the other, each seconds long on a host loaded by the suite.
  it('filter by status, host and --since, and print JSON lines with --json', { timeout: 240_000 }, async () => {
    const analysisId = `filters-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', databaseUrl, '--', 'sh', '-c', 'exit 2'], { tag });
    const json = async (args: string[]) => {
      const result = await watchdog([...args, '--analysis-id', analysisId, '--json']);
      expect(result.exitCode, result.stderr).toBe(0);
      return result.stdout === '' ? [] : result.stdout.split('\n').map((line) => JSON.parse(line));
    };
    // --json prints the raw records (src/record/types.ts), not the table's display columns.
    const [run, ...others] = await json(['runs', '--status', 'failed', '--since', '10m']);
    expect(others).toEqual([]);
    expect(run).toMatchObject({ status: 'failed', exit_status: 2, exit_code: 2, argv: ['sh', '-c', 'exit 2'], peak_rss_bytes: expect.any(Number) });
    expect(run).not.toHaveProperty('peak_rss');
    expect(await json(['runs', '--status', 'completed'])).toEqual([]);
    expect(await json(['runs', '--host', 'no-such-host'])).toEqual([]);
    expect(await json(['runs', '--since', '2999-01-01T00:00Z'])).toEqual([]);
    const events = await json(['events', '--host', (await import('node:os')).hostname()]);
    expect(events.map((event) => event.kind)).toEqual(expect.arrayContaining(['run_started', 'run_finished']));
    expect(events[0]).toMatchObject({ run_id: run.id, pids: expect.any(Array), elapsed_ms: expect.any(Number), detail: expect.any(Object) });
    expect((await watchdog(['runs', '--since', 'yesterday-ish'])).exitCode).toBe(125);
    expect((await json(['events', '--status', 'failed'])).length).toBe(events.length);
    expect(await json(['events', '--status', 'timeout'])).toEqual([]);
    const bogus = await watchdog(['runs', '--status', 'finished']);
    expect(bogus.exitCode).toBe(125);
    expect(bogus.stderr).toContain("invalid --status 'finished': expected running, completed");
  });
});
