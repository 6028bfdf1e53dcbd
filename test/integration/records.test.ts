import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { PYTHON } from '../helpers/zoo.js';

const tag = ownedTag();
const database = sharedClient();
const databaseUrl = database.url;

describe('records in PostgreSQL', () => {
  it('match what happened: run row, kill events with full context, processes', async () => {
    const analysisId = `records-${tag}`;
    const args = ['--quiet', '--tracking', 'subreaper', '--analysis-id', analysisId, '--timeout', '1s', '--grace', '1s', '--database-url', databaseUrl,
      '--', 'sh', '-c', 'sleep 300 & sleep 300'];
    const result = await startWrapper(args, { tag });
    expect(result.exitCode).toBe(124);
    const runs = await database.client().query('SELECT * FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toHaveLength(1);
    const run = runs.rows[0];
    expect(run).toMatchObject({ status: 'timeout', exit_status: 124, reason: 'timeout', tracking_backend: 'subreaper' });
    expect(run.ended_at).not.toBeNull();
    expect(run.pid).toBe(run.pgid);
    // `at` has millisecond resolution: the start and the end may share theirs with another event.
    const events = await database.client().query(
      `SELECT * FROM watchdog_events WHERE run_id = $1 ORDER BY at, kind = 'run_finished', kind <> 'run_started'`, [run.id]);
    const kinds = events.rows.map((event) => event.kind);
    expect(kinds[0]).toBe('run_started');
    expect(kinds).toContain('limit_exceeded');
    expect(kinds.at(-1)).toBe('run_finished');
    const sent = events.rows.find((event) => event.kind === 'signal_sent');
    expect(sent).toMatchObject({ analysis_id: analysisId, reason: 'timeout', signal: 'SIGTERM', pid: run.pid });
    expect(sent.pids).toHaveLength(3);
    expect(Number(sent.rss_bytes)).toBeGreaterThan(0);
    expect(Number(sent.elapsed_ms)).toBeGreaterThanOrEqual(1000);
    const killed = events.rows.filter((event) => event.kind === 'process_killed');
    expect(killed).toHaveLength(3);
    const processes = await database.client().query('SELECT * FROM watchdog_processes WHERE run_id = $1', [run.id]);
    expect(processes.rows).toHaveLength(3);
  });

  it('stores a hostile analysis id verbatim and harms nothing', async () => {
    const analysisId = "x'); drop table watchdog_runs; --";
    const result = await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', databaseUrl, '--', 'true'], { tag });
    expect(result.exitCode).toBe(0);
    const runs = await database.client().query('SELECT analysis_id FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toEqual([{ analysis_id: analysisId }]);
  });

  it('takes an analysis id of 256 characters outside the BMP (512 UTF-16 units), as PostgreSQL counts them', async () => {
    const analysisId = `${tag.slice(0, 8)}${'🧪'.repeat(248)}`;
    const result = await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', databaseUrl, '--', 'true'], { tag });
    expect(result.exitCode, result.stderr).toBe(0);
    const runs = await database.client().query('SELECT char_length(analysis_id) AS length FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toEqual([{ length: 256 }]);
  });

  it('redacts secrets in argv before storing them', async () => {
    const analysisId = `secret-${tag}`;
    const args = ['--quiet', '--analysis-id', analysisId, '--database-url', databaseUrl, '--', 'sh', '-c', 'true',
      '--password=hunter2', 'postgresql://u:pw@h/db', '--token', 'abc'];
    await startWrapper(args, { tag });
    const runs = await database.client().query('SELECT argv FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows[0].argv).toEqual(['sh', '-c', 'true', '--password=***', 'postgresql://u:***@h/db', '--token', '***']);
  });
});

describe('a running run', () => {
  it('updates heartbeat_at while it goes on and ships its samples, every one of them once', async () => {
    const stateDir = newStateDir();
    const analysisId = `heartbeat-${tag}`;
    const release = join(stateDir, 'release');
    const args = ['--quiet', '--analysis-id', analysisId, '--heartbeat-interval', '400ms', '--sample-interval', '300ms',
      '--poll-interval', '100ms', '--database-url', databaseUrl, '--', PYTHON, '-c', `import os, time\nwhile not os.path.exists(${JSON.stringify(release)}): time.sleep(0.05)`];
    // PYTHON, the interpreter itself: pyenv's python3 shim forks on its way to it, and every sample must see one process.
    const run = startWrapper(args, { tag, stateDir });
    const heartbeats = new Set<string>();
    let ended = false;
    void run.then(() => (ended = true));
    // The run goes on until the heartbeats and samples asserted below were seen (ended early, it fails below).
    for (; !ended; await sleep(150)) {
      const rows = await database.client().query(`SELECT heartbeat_at FROM watchdog_runs WHERE analysis_id = $1 AND status = 'running'`, [analysisId]);
      for (const row of rows.rows) heartbeats.add((row.heartbeat_at as Date).toISOString());
      if (heartbeats.size >= 3 && (journalSoFar(stateDir)?.samples.length ?? 0) >= 5) writeFileSync(release, '');
    }
    expect((await run).exitCode).toBe(0);
    // Seen while the run went on: the start's row and at least two heartbeats after it.
    expect(heartbeats.size).toBeGreaterThanOrEqual(3);
    const { samples } = journalOf(stateDir);
    expect(samples.length).toBeGreaterThanOrEqual(5);
    const stored = await database.client().query(
      'SELECT s.id FROM watchdog_samples s JOIN watchdog_runs r ON r.id = s.run_id WHERE r.analysis_id = $1 ORDER BY s.at', [analysisId]);
    expect(stored.rows.map((row) => row.id)).toEqual(samples.map((sample) => sample.id));
    expect(samples.every((sample) => sample.process_count === 1 && sample.rss_bytes > 0)).toBe(true);
  });
});

describe('without a reachable database', () => {
  // Three wrapper runs per backend, up to a dozen one after the other: a trivial one took 12 s on a host loaded by the suite.
  it('records a leader that exits at once, under every backend (a zombie is no longer in cgroup.procs)', { timeout: 300_000 }, async () => {
    for (const backend of await availableBackends()) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const stateDir = newStateDir();
        const result = await startWrapper(['--quiet', '--tracking', backend, '--', 'sh', '-c', 'exit 3'], { tag, stateDir });
        expect(result.exitCode).toBe(3);
        expect(journalOf(stateDir).processes.map((process) => [process.found_by, process.fate])).toEqual([['leader', 'exited']]);
      }
    }
  });

  it('keeps the journal alone when no database is configured, files 0600 in a 0700 directory', async () => {
    const stateDir = newStateDir();
    const result = await startWrapper(['--analysis-id', 'journal-only', '--', 'sh', '-c', 'exit 5'], { tag, stateDir });
    expect(result.exitCode).toBe(5);
    expect(result.stderr).toMatch(/no database configured: records are kept in the journal/);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'failed', exit_status: 5, analysis_id: 'journal-only' });
    expect(events.map((event) => event.kind)).toEqual(['run_started', 'run_finished']);
    const journalDir = join(stateDir, 'journal');
    expect(statSync(journalDir).mode & 0o777).toBe(0o700);
    for (const name of readdirSync(journalDir)) expect(statSync(join(journalDir, name)).mode & 0o777).toBe(0o600);
  });

  it('does not change the exit status when the database is unreachable, and says where the records wait', async () => {
    const stateDir = newStateDir();
    const args = ['--database-url', 'postgresql://postgres@127.0.0.1:1/none', '--', 'sh', '-c', 'exit 4'];
    const result = await startWrapper(args, { tag, stateDir });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toMatch(/warning: database .* unavailable .*records wait in the journal/);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'failed', exit_status: 4 });
  });

  it("prints a library's process warning (pg on sslmode=require) as one line of its own", async () => {
    const url = new URL(databaseUrl);
    url.searchParams.set('sslmode', 'require');
    const result = await startWrapper(['--database-url', url.toString(), '--', 'sh', '-c', 'exit 4'], { tag, stateDir: newStateDir() });
    expect(result.exitCode).toBe(4);
    const lines = result.stderr.trim().split('\n');
    expect(lines.every((line) => line.startsWith('scidex-run: ')), result.stderr).toBe(true);
    expect(lines.filter((line) => line.includes('SECURITY WARNING'))).toHaveLength(1);
  });
});
