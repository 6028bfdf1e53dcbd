/**
 * `scidex-watchdog serve` for real: the daemon binary on a free loopback port with a state
 * directory and a PostgreSQL database of this file's own, real `scidex-run` wrappers writing to the
 * same state directory, and HTTP requests against it. The database is a fresh one on the test
 * server (ownDatabase, dropped afterwards): the daemon reaps every row of this host still
 * `running`, and it must not touch the forged rows other test files put in the shared database.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliveWith, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { queryOnce } from '../helpers/database.js';
import { ownDatabase } from '../helpers/own-database.js';
import { killSurvivors, newTag, ownedTag } from '../helpers/processes.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { nobodyRunner } from '../helpers/zoo.js';
import type { HostStatus } from '../../src/watchdog/status-body.js';

const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const tag = ownedTag();
// The daemon outlives single tests: a tag of its own, checked when the file is done.
const daemonTag = newTag();
const NO_DATABASE = { DATABASE_URL: undefined, SCIDEX_RUN_DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined };

/** A Prometheus text exposition as `name{labels}` -> value (HELP and TYPE lines skipped). */
function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a metrics line: ${line}`);
    samples.set(match[1], Number(match[2]));
  }
  return samples;
}

function startDaemon(args: string[], env: Record<string, string | undefined> = {}): ResultPromise<{ reject: false }> {
  return execa(WATCHDOG, ['serve', ...args], { reject: false, env: { ...NO_DATABASE, ...env, SCIDEX_TEST_TAG: daemonTag }, stdin: 'ignore' }) as ResultPromise<{ reject: false }>;
}

describe('scidex-watchdog serve: bad input is 125, one line, nothing started', () => {
  const expectRefused = async (args: string[], message: RegExp) => {
    const stateDir = newStateDir();
    const result = await execa(WATCHDOG, ['serve', '--state-dir', stateDir, ...args], { reject: false, env: NO_DATABASE, timeout: 60_000 });
    expect(result.exitCode, result.stderr).toBe(125);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(message);
    // Refused before the first sweep: no heartbeat was ever written.
    expect(existsSync(join(stateDir, 'watchdog.json'))).toBe(false);
  };

  it('a port in use', async () => {
    const port = await freeLoopbackPort();
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      await expectRefused(['--listen', `127.0.0.1:${port}`], /cannot listen on 127\.0\.0\.1:\d+: the address is already in use/);
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  // Seven CLI runs one after the other: up to 4 s each on a host loaded by the suite, too close to the default 60 s.
  it('an address that is not ours, a malformed --listen, a bad interval', { timeout: 240_000 }, async () => {
    await expectRefused(['--listen', '192.0.2.1:9464'], /cannot listen on 192\.0\.2\.1:9464/);
    await expectRefused(['--listen', 'localhost'], /invalid --listen 'localhost'/);
    await expectRefused(['--listen', '127.0.0.1:99999'], /invalid --listen/);
    await expectRefused(['--listen', '::1:9464'], /invalid --listen/);
    await expectRefused(['--interval', 'soon'], /invalid --interval 'soon'/);
    // Longer than a Node timer keeps (it would fire every millisecond), or a busy loop of sweeps.
    await expectRefused(['--interval', '25d'], /invalid --interval '25d': at most/);
    await expectRefused(['--interval', '1ms'], /invalid --interval '1ms': at least 100ms/);
  });

  it('a state directory that cannot be written', async () => {
    // Below a regular file (ENOTDIR): unwritable even for root.
    const file = join(newStateDir(), 'a-file');
    writeFileSync(file, '');
    const result = await execa(WATCHDOG, ['serve', '--state-dir', join(file, 'state'), '--listen', '127.0.0.1:0'], { reject: false, env: NO_DATABASE, timeout: 60_000 });
    expect(result.exitCode).toBe(125);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/state directory '.*\/a-file\/state' cannot be written \(ENOTDIR\)/);
  });

  it('status says so, exit 1, when no daemon ever ran with the state directory', async () => {
    const result = await execa(WATCHDOG, ['status', '--state-dir', newStateDir()], { reject: false, env: NO_DATABASE });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/down: no scidex-watchdog serve has run/);
  });

  it('status, for a user who cannot read the state directory, says it cannot tell (and why), never "down"', async ({ skip }) => {
    const nobody = await nobodyRunner();
    if (nobody.skip !== undefined) return skip(nobody.skip);
    const stateDir = newStateDir();
    writeFileSync(join(stateDir, 'watchdog.json'), '{}', { mode: 0o600 });
    const result = await execa('runuser', ['-u', 'nobody', '--', process.execPath, WATCHDOG, 'status', '--state-dir', stateDir], { reject: false, env: NO_DATABASE });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/cannot tell: .*watchdog\.json cannot be read \(EACCES\); the state directory belongs to uid 0, and this is uid \d+/);
    expect(result.stderr).not.toMatch(/no scidex-watchdog serve has run|down/);
  });
});

describe('scidex-watchdog serve', () => {
  const stateDir = newStateDir();
  const database = ownDatabase('serve');
  const databaseUrl = database.url;
  let port = 0;
  let base = '';
  let daemon: ResultPromise<{ reject: false }>;

  const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
  const status = async (): Promise<HostStatus> => (await get('/status')).json() as Promise<HostStatus>;
  const metrics = async () => parseMetrics(await (await get('/metrics')).text());
  /** Polls /status until `check` holds; returns the status that passed. */
  const statusWhen = async (check: (status: HostStatus) => boolean, timeoutMs: number): Promise<HostStatus> => {
    let current: HostStatus | undefined;
    return until(
      () => `/status to match (last: ${JSON.stringify(current)})`,
      async () => {
        current = await status();
        return check(current) ? current : undefined;
      },
      timeoutMs,
      { every: 100 },
    );
  };
  /** Scrapes /metrics until `check` holds; returns the samples that passed. */
  const metricsWhen = async (what: string, check: (samples: Map<string, number>) => boolean, timeoutMs: number): Promise<Map<string, number>> =>
    until(
      what,
      async () => {
        const samples = await metrics();
        return check(samples) ? samples : undefined;
      },
      timeoutMs,
      { every: 200 },
    );
  const watchdogStatus = () => execa(WATCHDOG, ['status', '--state-dir', stateDir], { reject: false, env: NO_DATABASE });

  beforeAll(async () => {
    await database.create();
    port = await freeLoopbackPort();
    base = `http://127.0.0.1:${port}`;
    daemon = startDaemon(['--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', stateDir, '--database-url', databaseUrl]);
    const up = await until('the daemon to write watchdog.json', () => existsSync(join(stateDir, 'watchdog.json')), 60_000, { onTimeout: 'return' });
    if (!up) throw new Error(`the daemon did not start: ${(await daemon.catch((error) => error)).stderr}`);
    await statusWhen((current) => current.daemon.last_sweep !== null && current.daemon.database === 'ok', 60_000);
  });

  afterAll(async () => {
    if (daemon?.pid && daemon.exitCode === null) {
      daemon.kill('SIGKILL'); // only when a test failed before stopping it: by its pid
      await daemon;
    }
    expect(await killSurvivors(daemonTag)).toEqual([]);
    await database.drop();
  });

  it('answers GET /, /status, /metrics with no-store; 404 for other paths, 405 for methods other than GET and HEAD', async () => {
    const page = await get('/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await page.text()).toMatch(/^<!doctype html>/i);
    const json = await get('/status');
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(json.headers.get('cache-control')).toBe('no-store');
    const body = (await json.json()) as HostStatus;
    expect(Object.keys(body).sort()).toEqual(['daemon', 'grace_count', 'host', 'kills_last_24h', 'monitored_count', 'pressure_guard', 'recent_events', 'runs', 'version'].sort());
    expect(body.daemon).toMatchObject({ pid: daemon.pid, database: 'ok' });
    expect(body.daemon.uptime_seconds).toBeGreaterThan(0);
    const scrape = await get('/metrics');
    expect(scrape.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scrape.headers.get('cache-control')).toBe('no-store');
    const missing = await get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const refused = await get('/status', { method });
      expect(refused.status).toBe(405);
      expect(refused.headers.get('allow')).toBe('GET, HEAD');
      expect(refused.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('serves a self-contained page whose Content-Security-Policy allows its own inline script and style, by sha256', async () => {
    const html = await (await get('/')).text();
    // One script and one style element, both inline; no element loads a URL (the icon is data:), and
    // the only links are to the daemon's own pages (relative paths: no scheme, no host).
    expect(html.match(/<script\b/gi)).toHaveLength(1);
    expect(html.match(/<style\b/gi)).toHaveLength(1);
    expect(html).not.toMatch(/\ssrc="(?!data:)/);
    expect(html).not.toMatch(/\shref="(?!data:)(?!(?!\/\/)[\w./-]*")/);
    expect(html).toContain('<a href="fleet">');
    const [, script] = /<script>([\s\S]*?)<\/script>/.exec(html) ?? [];
    const [, style] = /<style>([\s\S]*?)<\/style>/.exec(html) ?? [];
    const [, policy] = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html) ?? [];
    const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
    const directives = Object.fromEntries(policy.split('; ').map((directive) => [directive.split(' ')[0], directive.split(' ').slice(1)]));
    expect(directives).toEqual({
      'default-src': ["'none'"],
      'script-src': [sha256(script)],
      'style-src': [sha256(style)],
      'connect-src': ["'self'"],
      'img-src': ['data:'],
      'base-uri': ["'none'"],
      'form-action': ["'none'"],
    });
  });

  it('heartbeats: watchdog.json (0600) and a watchdog_daemons row; status exits 0', async () => {
    const file = JSON.parse(readFileSync(join(stateDir, 'watchdog.json'), 'utf8'));
    expect(file).toMatchObject({ pid: daemon.pid, interval_ms: 500, listen: `127.0.0.1:${port}` });
    expect(file.starttime).toBeGreaterThan(0);
    expect(file.last_sweep).toMatchObject({ reaped: 0 });
    expect(statSync(join(stateDir, 'watchdog.json')).mode & 0o777).toBe(0o600);
    const rows = await queryOnce<{ pid: number; interval_ms: string; listen: string }>(databaseUrl, 'SELECT pid, interval_ms, listen FROM watchdog_daemons');
    expect(rows).toEqual([{ pid: daemon.pid, interval_ms: '500', listen: `127.0.0.1:${port}` }]);
    const result = await watchdogStatus();
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^scidex-watchdog: up: pid \d+/);
    const all = await execa(WATCHDOG, ['status', '--state-dir', stateDir, '--json', '--database-url', databaseUrl], { reject: false });
    expect(all.exitCode).toBe(0);
    expect(JSON.parse(all.stdout)).toMatchObject({ up: true, daemons: [expect.objectContaining({ pid: daemon.pid, up: true })] });
  });

  it('lists a running run with its memory and time left', async () => {
    const env = { DATABASE_URL: databaseUrl };
    // It holds its 50 MiB until the test has seen them, however slowly the daemon's sweeps come round.
    const release = join(mkdtempSync(join(tmpdir(), 'scidex-gate-')), 'release');
    const script = 'import os, sys, time\nx = bytearray(50 << 20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.1)';
    const command = ['python3', '-c', script, release];
    const wrapper = startWrapper(['--quiet', '--analysis-id', 'serve-memory', '--timeout', '60s', '--sample-interval', '200ms', '--', ...command], { tag, stateDir, env });
    try {
      const seen = await statusWhen((current) => (current.runs[0]?.rss_bytes ?? 0) > 40 * 1024 * 1024, 60_000);
      expect(seen.monitored_count).toBe(1);
      expect(seen.grace_count).toBe(0);
      const [run] = seen.runs;
      expect(run).toMatchObject({ analysis_id: 'serve-memory', timeout_ms: 60_000, in_grace: false, memory_limit_bytes: 2 * 1024 ** 3 });
      expect(run.command).toEqual(command);
      expect(run.time_left_ms).toBeGreaterThan(0);
      expect(run.time_left_ms).toBeLessThan(60_000);
      expect(run.elapsed_ms).toBeGreaterThan(0);
      expect(run.process_count).toBeGreaterThanOrEqual(1);
      expect(run.pid).toBeGreaterThan(1);
      expect(run.wrapper_pid).toBe(wrapper.pid);
      const gauges = await metrics();
      expect(gauges.get('scidex_runs_running')).toBe(1);
      expect(gauges.get('scidex_running_tree_rss_bytes')).toBeGreaterThan(40 * 1024 * 1024);
    } finally {
      writeFileSync(release, '');
      expect((await wrapper).exitCode).toBe(0);
    }
    await statusWhen((current) => current.monitored_count === 0, 60_000);
  });

  it('shows a run in its grace period, then its kill in recent_events and the metrics', async () => {
    const began = Date.now();
    const env = { DATABASE_URL: databaseUrl };
    // A grace period longer than any status read under load; once seen, a second signal to the wrapper cuts it short.
    const wrapper = startWrapper(['--quiet', '--analysis-id', 'serve-grace', '--timeout', '2s', '--grace', '10min', '--', 'sh', '-c', 'trap "" TERM; sleep 3000'], { tag, stateDir, env });
    let runId = '';
    try {
      const grace = await statusWhen((current) => current.runs.some((run) => run.in_grace), 60_000);
      expect(grace.grace_count).toBe(1);
      expect(grace.monitored_count).toBe(1);
      runId = grace.runs[0].id;
      expect(grace.runs[0].time_left_ms).toBe(0);
    } finally {
      wrapper.kill('SIGTERM');
      expect((await wrapper).exitCode).toBe(124);
    }
    const after = await statusWhen((current) => current.monitored_count === 0 && current.recent_events.some((event) => event.run_id === runId && event.kind === 'run_finished'), 60_000);
    expect(after.grace_count).toBe(0);
    expect(after.kills_last_24h).toBe(1);
    expect(after.recent_events.length).toBeLessThanOrEqual(20);
    expect(after.recent_events).toContainEqual(expect.objectContaining({ run_id: runId, analysis_id: 'serve-grace', kind: 'signal_sent', reason: 'timeout', signal: 'SIGTERM' }));
    expect(after.recent_events).toContainEqual(expect.objectContaining({ run_id: runId, kind: 'signal_sent', signal: 'SIGKILL' }));
    // The completed run of the previous test is not an event worth showing; this one's end is.
    expect(after.recent_events.filter((event) => event.kind === 'run_finished').map((event) => event.run_id)).toEqual([runId]);
    for (const event of after.recent_events) {
      expect(Object.keys(event).sort()).toEqual(['analysis_id', 'at', 'kind', 'pid', 'pss_bytes', 'reason', 'rss_bytes', 'run_id', 'signal']);
    }

    const counted = await metricsWhen('the timeout to be counted', (samples) => samples.get('scidex_runs_finished_total{status="timeout"}') === 1, 60_000);
    expect(counted.get('scidex_runs_finished_total{status="completed"}')).toBe(1);
    expect(counted.get('scidex_runs_finished_total{status="timeout"}')).toBe(1);
    expect(counted.get('scidex_kills_total{reason="timeout"}')).toBe(1);
    expect(counted.get('scidex_kills_total{reason="memory"}')).toBe(0);
    expect(counted.get('scidex_run_duration_seconds_count')).toBe(2);
    expect(counted.get('scidex_run_peak_rss_bytes_bucket{le="67108864"}')).toBeGreaterThanOrEqual(1);
    expect(counted.get('scidex_runs_running')).toBe(0);
    expect(counted.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    // A sweep of this test's time (the one that counted its run), not one within some seconds of now:
    // a starved daemon sweeps late.
    expect(counted.get('scidex_last_sweep_timestamp_seconds')).toBeGreaterThanOrEqual(Math.floor(began / 1000));
    expect(counted.get('scidex_sweep_duration_seconds_count')).toBeGreaterThan(0);
    expect(counted.has('scidex_journal_backlog_journals')).toBe(true);
    // Never a run id or an analysis id as a label.
    const text = await (await get('/metrics')).text();
    expect(text).not.toContain(runId);
    expect(text).not.toContain('serve-grace');
    // The database has the kill too (the wrapper shipped it); the daemon read it there as well.
    const rows = await queryOnce(databaseUrl, `SELECT 1 FROM watchdog_events WHERE run_id = $1 AND kind = 'signal_sent'`, [runId]);
    expect(rows.length).toBeGreaterThan(0);
  });

  it("reaps a run whose wrapper is gone in its sweep, and counts it as lost", async () => {
    const run = forgeRun(stateDir);
    const leftover = foreignSleep({ SCIDEX_RUN_ID: run.id, SCIDEX_TEST_TAG: tag });
    try {
      await until('the leftover to be killed', () => !aliveWith(leftover.pid, leftover.starttime), 60_000);
      await until("the run's marker to be removed", () => !existsSync(join(stateDir, 'running', `${run.id}.json`)), 60_000);
      const final = await statusWhen((current) => current.recent_events.some((event) => event.run_id === run.id && event.kind === 'run_lost'), 60_000);
      expect(final.kills_last_24h).toBe(2);
      const counted = await metricsWhen('the lost run to be counted', (samples) => samples.get('scidex_kills_total{reason="lost"}') === 1, 60_000);
      expect(counted.get('scidex_kills_total{reason="lost"}')).toBe(1);
      expect(counted.get('scidex_runs_finished_total{status="lost"}')).toBe(1);
      const lost = await queryOnce<{ status: string }>(databaseUrl, 'SELECT status FROM watchdog_runs WHERE id = $1', [run.id]);
      expect(lost).toEqual([{ status: 'lost' }]);
    } finally {
      leftover.stop();
    }
    // The journals of the state directory: the forged run's says lost.
    expect(journalOfRun(stateDir, run.id)).toBe('lost');
  });

  it('stops on SIGTERM: exit 0, server closed, and status then says down (exit 1)', async () => {
    daemon.kill('SIGTERM');
    const result = await daemon;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('scidex-watchdog: stopped');
    if (process.env.SERVE_TEST_DEBUG) console.log(result.stderr);
    await expect(fetch(`${base}/status`)).rejects.toThrow();
    const down = await watchdogStatus();
    expect(down.exitCode).toBe(1);
    expect(down.stderr.trim().split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/down since .*: its process \(pid \d+\) is gone/);
  });
});

describe('scidex-watchdog serve against hostile journals and signals, without a database', () => {
  it('goes on past records of wrong types, keeps labels to the known statuses, refuses a second daemon, ignores SIGUSR1, stops on SIGHUP', async () => {
    const stateDir = newStateDir();
    const port = await freeLoopbackPort();
    const daemon = startDaemon(['--listen', `127.0.0.1:${port}`, '--interval', '200ms', '--state-dir', stateDir]);
    let log = '';
    daemon.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      await until('the daemon to write watchdog.json', () => existsSync(join(stateDir, 'watchdog.json')), 60_000);
      const second = await execa(WATCHDOG, ['serve', '--listen', '127.0.0.1:0', '--state-dir', stateDir], { reject: false, env: NO_DATABASE, timeout: 60_000 });
      expect(second.exitCode).toBe(125);
      expect(second.stderr.trim()).toBe(`scidex-watchdog: another scidex-watchdog serve (pid ${daemon.pid}) runs with state directory '${stateDir}'`);

      // Numbers written as strings (PostgreSQL would cast them; prom-client throws) and a status of no one's.
      const now = new Date().toISOString();
      const forged = (status: string) => {
        const id = randomUUID();
        const record = { id, revision: 1, status, started_at: now, ended_at: now, peak_rss_bytes: '123', peak_pss_bytes: '1' };
        writeFileSync(join(stateDir, 'journal', `${id}.jsonl`), JSON.stringify({ table: 'runs', record }) + '\n', { mode: 0o600 });
      };
      forged('pwned_status_label');
      forged('completed');
      const metricsText = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const counted = async () => {
        const body = await metricsText();
        return /scidex_runs_finished_total\{status="completed"\} 1\n/.test(body) ? body : undefined;
      };
      const body = await until('the completed run to be counted', counted, 60_000, { every: 100 });
      expect(body).not.toContain('pwned');
      expect(body).toMatch(/scidex_run_peak_rss_bytes_count 0\n/);
      expect(daemon.exitCode).toBeNull();

      daemon.kill('SIGUSR1');
      // Handled, not merely sent: then alive and answering (and alive until the SIGHUP below, whose log line is checked).
      await until(() => `the daemon to log that it ignored SIGUSR1, in:\n${log}`, () => log.includes('SIGUSR1 ignored'));
      expect(daemon.exitCode).toBeNull();
      expect((await fetch(`http://127.0.0.1:${port}/status`)).status).toBe(200);
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGHUP');
    }
    const result = await daemon;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('SIGUSR1 ignored');
    expect(result.stderr).not.toContain('Debugger listening');
    expect(result.stderr).toContain('SIGHUP: finishing the sweep under way, then stopping');
    expect(result.stderr).not.toMatch(/sweep failed/);
    expect(await killSurvivors(daemonTag)).toEqual([]);
  });
});

describe('scidex-watchdog serve on IPv6 loopback, without a database', () => {
  it('listens on [::1]:PORT and reports database none', async () => {
    const port = await freeLoopbackPort();
    const stateDir = newStateDir();
    const daemon = startDaemon(['--listen', `[::1]:${port}`, '--interval', '500ms', '--state-dir', stateDir]);
    try {
      // A host without IPv6 on loopback refuses the bind and the daemon exits: that, not a time, ends
      // the wait (a daemon starting on a loaded host can take longer than any short bound).
      const answer = await until<HostStatus | 'exited'>(
        `/status on [::1]:${port}, or the daemon to exit`,
        () =>
          daemon.exitCode !== null
            ? 'exited'
            : fetch(`http://[::1]:${port}/status`).then((response) => response.json() as Promise<HostStatus>, () => undefined),
        60_000,
        { every: 100 },
      );
      if (answer === 'exited') {
        const failed = await daemon;
        // A host without IPv6 on loopback: the bind is refused as bad input, and that is all we can check.
        expect(failed.exitCode).toBe(125);
        return;
      }
      expect(answer.daemon.database).toBe('none');
    } finally {
      if (daemon.exitCode === null) daemon.kill('SIGTERM');
      expect((await daemon).exitCode).toBeOneOf([0, 125]);
      expect(await killSurvivors(daemonTag)).toEqual([]);
    }
  });
});

/** The final status of a run in the state directory's journals (the reaper appends to the run's own). */
function journalOfRun(stateDir: string, runId: string): string | undefined {
  const path = join(stateDir, 'journal', `${runId}.jsonl`);
  const runs = readFileSync(path, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((entry) => entry.table === 'runs');
  return runs.at(-1)?.record.status;
}
