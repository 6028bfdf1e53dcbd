/**
 * --pushgateway against a stand-in Pushgateway on loopback: a node:http server that records each
 * request (method, path, body) and answers as the real one does (200), refuses (a closed port) or
 * never answers. The push must carry the run's figures and never change its exit status nor hang it.
 * Then against a real Pushgateway (Debian's prometheus-pushgateway, skipped where it is not
 * installed): the grouping key of every analysis id, `.`, `..`, `a/b` and the empty one included,
 * lands in the group of that very id.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupingOf, pushRunMetrics } from '../../src/report/pushgateway.js';
import { runEnd } from '../../src/report/run-end.js';
import { gone } from '../helpers/server-host.js';
import { ownedTag } from '../helpers/processes.js';
import { pushedGroups, pushgatewayBinary, startPushgateway, type RealPushgateway } from '../helpers/pushgateway.js';
import { EXAMPLES, journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();

interface Pushed {
  method: string;
  path: string;
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** Starts a stand-in Pushgateway on 127.0.0.1; `answer` false: it reads the request and never answers. */
/** `answer`: false never answers; a number answers every push with that HTTP status. */
async function standIn(answer: boolean | number = true): Promise<{ url: string; pushes: Pushed[] }> {
  const pushes: Pushed[] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (body += chunk));
    request.on('end', () => {
      pushes.push({ method: request.method ?? '', path: request.url ?? '', body });
      if (!answer) return;
      if (typeof answer === 'number') return void response.writeHead(answer, { location: '/elsewhere' }).end('moved\u001b[31m');
      const accepted = (request.method === 'PUT' || request.method === 'POST') && request.url?.startsWith('/metrics/job/');
      response.writeHead(accepted ? 200 : 400).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pushes };
}

/** A loopback port with nothing listening: a server is bound, its port noted, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The value of `name{labels}` in a text exposition body, or undefined. */
function sample(body: string, name: string, labels = ''): string | undefined {
  const line = body.split('\n').find((text) => text.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line?.split(' ')[1];
}

describe('--pushgateway', () => {
  it('pushes the figures of a completed run, grouped by analysis id', async () => {
    const gateway = await standIn();
    const stateDir = newStateDir();
    const result = await startWrapper(['--pushgateway', gateway.url, '--analysis-id', 'wordfreq', '--', 'python3', '-c', 'import time; x = bytearray(30 << 20); time.sleep(0.5)'], {
      tag,
      stateDir,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).not.toMatch(/pushgateway/);
    expect(gateway.pushes).toHaveLength(1);
    const [push] = gateway.pushes;
    expect(push.method).toBe('POST');
    expect(push.path).toBe('/metrics/job/scidex_run/analysis_id/wordfreq');
    const run = journalOf(stateDir).runs.at(-1)!;
    expect(push.body).toContain('# TYPE scidex_run_last_exit_status gauge');
    expect(sample(push.body, 'scidex_run_last_exit_status', 'status="completed"')).toBe('0');
    expect(sample(push.body, 'scidex_run_last_killed')).toBe('0');
    expect(Number(sample(push.body, 'scidex_run_last_peak_rss_bytes'))).toBe(run.peak_rss_bytes);
    expect(run.peak_rss_bytes).toBeGreaterThan(30 << 20);
    expect(Number(sample(push.body, 'scidex_run_last_cpu_seconds'))).toBeCloseTo(run.cpu_seconds, 5);
    const duration = Number(sample(push.body, 'scidex_run_last_duration_seconds'));
    expect(duration).toBeCloseTo((Date.parse(run.ended_at!) - Date.parse(run.started_at)) / 1000, 3);
    expect(duration).toBeGreaterThanOrEqual(0.5);
    expect(Number(sample(push.body, 'scidex_run_last_success_timestamp_seconds'))).toBeCloseTo(Date.parse(run.ended_at!) / 1000, 3);
    // PSS is read only over the memory limit: NaN says "not read" without leaving an older figure.
    expect(sample(push.body, 'scidex_run_last_peak_pss_bytes')?.toLowerCase()).toBe('nan');
    // Bounded labels: the run id never becomes one.
    expect(push.body + push.path).not.toContain(run.id);
  });

  it('pushes a timeout with its status, the kill, and no success timestamp; grouped by instance without an analysis id', async () => {
    const gateway = await standIn();
    const result = await startWrapper(
      ['--quiet', '--pushgateway', gateway.url, '--timeout', '1s', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'outlive_timeout.py')],
      { tag, env: { SCIDEX_ANALYSIS_ID: undefined } },
    );
    expect(result.exitCode).toBe(124);
    expect(gateway.pushes).toHaveLength(1);
    const [push] = gateway.pushes;
    expect(push.path).toMatch(/^\/metrics\/job\/scidex_run\/instance\/[^/]+$/);
    expect(sample(push.body, 'scidex_run_last_exit_status', 'status="timeout"')).toBe('124');
    expect(sample(push.body, 'scidex_run_last_killed', 'reason="timeout"')).toBe('1');
    expect(push.body).not.toContain('scidex_run_last_success_timestamp_seconds');
  });

  it('pushes the memory kill with the PSS read, and the analysis id base64-encoded when it holds a slash', async () => {
    const gateway = await standIn();
    // 8 MiB per step: the scan (100 ms near the limit) catches it well before the kernel backstop, 64 MiB above.
    const result = await startWrapper(
      ['--quiet', '--pushgateway', gateway.url, '--analysis-id', 'lab/balloon', '--memory-limit', '128MiB', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '8', '1024'],
      { tag },
    );
    expect(result.exitCode).toBe(137);
    const [push] = gateway.pushes;
    expect(push.path).toBe(`/metrics/job/scidex_run/analysis_id%40base64/${Buffer.from('lab/balloon').toString('base64url')}`);
    expect(sample(push.body, 'scidex_run_last_exit_status', 'status="out_of_memory"')).toBe('137');
    expect(sample(push.body, 'scidex_run_last_killed', 'reason="memory"')).toBe('1');
    expect(Number(sample(push.body, 'scidex_run_last_peak_pss_bytes'))).toBeGreaterThan(128 << 20);
  });

  it('sends the analysis ids ., .. and a/b base64-encoded, so that no URL resolution drops or splits them', async () => {
    const gateway = await standIn();
    for (const id of ['.', '..', 'a/b']) {
      const result = await startWrapper(['--quiet', '--pushgateway', gateway.url, '--analysis-id', id, '--', 'true'], { tag });
      expect(result.exitCode).toBe(0);
      expect(result.stderr).toBe('');
    }
    // base64url of '.', '..', 'a/b' (RFC 4648 section 5, no padding); prom-client URI-encodes the `@`.
    expect(gateway.pushes.map((push) => push.path)).toEqual(
      ['Lg', 'Li4', 'YS9i'].map((value) => `/metrics/job/scidex_run/analysis_id%40base64/${value}`),
    );
  });

  it('sends an empty value as = under @base64 (no command line gives one: the push is made directly)', async () => {
    const gateway = await standIn();
    const stateDir = newStateDir();
    expect((await startWrapper(['--quiet', '--analysis-id', 'then-emptied', '--', 'true'], { tag, stateDir })).exitCode).toBe(0);
    const record = { ...journalOf(stateDir).runs.at(-1)!, analysis_id: '' };
    const warnings: string[] = [];
    expect(await pushRunMetrics(gateway.url, runEnd(record, new Set()), (line) => warnings.push(line))).toBe(true);
    expect(warnings).toEqual([]);
    expect(gateway.pushes.map((push) => push.path)).toEqual(['/metrics/job/scidex_run/analysis_id%40base64/%3D']);
  });

  it('keeps a value of unreserved characters as is, and encodes every other one', () => {
    expect(groupingOf('wordfreq-2.1_a~b')).toEqual({ analysis_id: 'wordfreq-2.1_a~b' });
    expect(groupingOf('...')).toEqual({ analysis_id: '...' });
    expect(groupingOf('')).toEqual({ 'analysis_id@base64': '=' });
    expect(groupingOf('.')).toEqual({ 'analysis_id@base64': 'Lg' });
    expect(groupingOf('..')).toEqual({ 'analysis_id@base64': 'Li4' });
    expect(groupingOf('a/b')).toEqual({ 'analysis_id@base64': 'YS9i' });
    expect(groupingOf('lab 42')).toEqual({ 'analysis_id@base64': Buffer.from('lab 42').toString('base64url') });
    expect(groupingOf('Προμηθεύς')).toEqual({ 'analysis_id@base64': 'zqDPgc6_zrzOt864zrXPjc-C' });
    expect(groupingOf(null, 'node-1')).toEqual({ instance: 'node-1' });
  });

  it('a Pushgateway that refuses the connection: the exit status is unchanged, one warning', async () => {
    const port = await closedPort();
    const result = await startWrapper(['--pushgateway', `http://127.0.0.1:${port}`, '--', 'sh', '-c', 'exit 3'], { tag });
    expect(result.exitCode).toBe(3);
    const warnings = result.stderr.split('\n').filter((line) => /pushgateway/.test(line));
    expect(warnings).toEqual([`scidex-run: warning: pushgateway http://127.0.0.1:${port} unreachable (ECONNREFUSED): metrics not pushed`]);
  });

  it('a Pushgateway that never answers: the wrapper gives the push up at its own deadline and exits, status unchanged', async () => {
    const gateway = await standIn(false);
    const result = await startWrapper(['--pushgateway', gateway.url, '--', 'true'], {
      tag,
      env: { SCIDEX_RUN_PUSHGATEWAY: undefined },
    });
    // The stand-in never answers and keeps the connection open: that the wrapper exited at all says it
    // gave the push up, and the warning says it was one of its own deadlines (the request's socket
    // timeout, its abort signal or the race around both). How soon is for a benchmark, not this test.
    expect(result.exitCode).toBe(0);
    expect(gateway.pushes).toHaveLength(1);
    expect(result.stderr).toMatch(/warning: pushgateway http:\/\/127\.0\.0\.1:\d+ unreachable \((no answer within 3000 ms|Pushgateway request timed out)\): metrics not pushed/);
    expect(result.stderr.split('\n').filter((line) => /pushgateway/.test(line))).toHaveLength(1);
  });

  it('a Pushgateway that redirects or fails: one warning with the status, no control characters, status unchanged', async () => {
    for (const status of [307, 500]) {
      const gateway = await standIn(status);
      const result = await startWrapper(['--pushgateway', gateway.url, '--', 'sh', '-c', 'exit 2'], { tag, env: { SCIDEX_RUN_PUSHGATEWAY: undefined } });
      expect(result.exitCode).toBe(2);
      const warnings = result.stderr.split('\n').filter((line) => /pushgateway/.test(line));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`unreachable \\((HTTP|push failed with status) ${status}`));
      expect(result.stderr).not.toContain('\u001b');
    }
  });

  it('takes the URL from SCIDEX_RUN_PUSHGATEWAY', async () => {
    const gateway = await standIn();
    const result = await startWrapper(['--quiet', '--analysis-id', 'from-env', '--', 'true'], { tag, env: { SCIDEX_RUN_PUSHGATEWAY: gateway.url } });
    expect(result.exitCode).toBe(0);
    expect(gateway.pushes.map((push) => push.path)).toEqual(['/metrics/job/scidex_run/analysis_id/from-env']);
  });

  it.each([['ftp://127.0.0.1:9091'], ['127.0.0.1:9091'], ['not a url'], ['file:///tmp/x']])(
    'a malformed URL (%s) is bad input: 125, one line, nothing spawned',
    async (url) => {
      const stateDir = newStateDir();
      const marker = join(stateDir, 'spawned');
      const result = await startWrapper(['--pushgateway', url, '--', 'touch', marker], { tag, stateDir });
      expect(result.exitCode).toBe(125);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^scidex-run: invalid --pushgateway .*: expected an http:\/\/ or https:\/\/ URL/);
      const { existsSync } = await import('node:fs');
      expect(existsSync(marker)).toBe(false);
    },
  );
});

const PUSHGATEWAY = pushgatewayBinary();
const SKIP_REASON = 'skipped: no Pushgateway installed (prometheus-pushgateway or pushgateway on PATH); .ci/run installs Debian\'s';

describe.skipIf(!PUSHGATEWAY)(`--pushgateway against a real Pushgateway${PUSHGATEWAY ? '' : ` (${SKIP_REASON})`}`, () => {
  let gateway: RealPushgateway | undefined;

  beforeAll(async () => {
    gateway = await startPushgateway();
  });

  afterAll(async () => {
    if (!gateway) return;
    const { pid, starttime } = gateway;
    expect(pid).toBeGreaterThan(1);
    expect(gone(pid, starttime)).toBe(false);
    await gateway.stop();
    expect(gone(pid, starttime)).toBe(true);
  });

  it('files each analysis id, ., .., a/b and empty included, under its very own grouping key', async () => {
    const { url } = gateway!;
    const ids = ['.', '..', 'a/b', 'plain-id', 'lab 42/Προμηθεύς'];
    const stateDirs = ids.map(() => newStateDir());
    const results = await Promise.all(
      ids.map((id, n) => startWrapper(['--pushgateway', url, '--analysis-id', id, '--', 'sh', '-c', `exit ${n}`], { tag, stateDir: stateDirs[n] })),
    );
    for (const [n, result] of results.entries()) {
      expect({ id: ids[n], exitCode: result.exitCode, warning: result.stderr.match(/.*pushgateway.*/)?.[0] }).toEqual({ id: ids[n], exitCode: n, warning: undefined });
    }
    // The empty id: no command line gives one (an empty --analysis-id is bad input), so that push is made directly.
    const record = { ...journalOf(stateDirs[0]).runs.at(-1)!, analysis_id: '' };
    const warnings: string[] = [];
    expect(await pushRunMetrics(url, runEnd(record, new Set()), (line) => warnings.push(line))).toBe(true);
    expect(warnings).toEqual([]);

    const groups = (await pushedGroups(url)).filter((group) => group.labels.job === 'scidex_run');
    // One group per id, nothing else: no push fell into a group of a mangled key (a dropped `.`, a split `a/b`).
    expect(groups.map((group) => group.labels).sort((a, b) => a.analysis_id.localeCompare(b.analysis_id))).toEqual(
      ['', ...ids].map((id) => ({ job: 'scidex_run', analysis_id: id })).sort((a, b) => a.analysis_id.localeCompare(b.analysis_id)),
    );
    for (const [n, id] of ids.entries()) {
      const group = groups.find((candidate) => candidate.labels.analysis_id === id)!;
      expect(group.metrics.scidex_run_last_exit_status).toEqual([
        { labels: { job: 'scidex_run', analysis_id: id, instance: '', status: n === 0 ? 'completed' : 'failed' }, value: String(n) },
      ]);
      const run = journalOf(stateDirs[n]).runs.at(-1)!;
      expect(Number(group.metrics.scidex_run_last_peak_rss_bytes[0].value)).toBe(run.peak_rss_bytes);
    }
    const empty = groups.find((candidate) => candidate.labels.analysis_id === '')!;
    expect(empty.metrics.scidex_run_last_exit_status[0]).toMatchObject({ labels: { analysis_id: '', status: 'completed' }, value: '0' });
  });
});
