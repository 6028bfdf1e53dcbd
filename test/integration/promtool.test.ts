/**
 * `promtool check metrics` (Prometheus' own linter: metric names, unit suffixes, `_total` on
 * counters and only on counters, HELP text, ...) finds nothing to report on what we expose: the
 * /metrics of a real `scidex-watchdog serve` with runs of every kind recorded (finished, failed,
 * killed for the timeout and for memory, one still running), and the body scidex-run pushes to a
 * Pushgateway. promtool is Debian's (package `prometheus`); the file is skipped without it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import which from 'which';
import { killSurvivors, newTag, ownedTag } from '../helpers/processes.js';
import { runsOfEveryKind, startServe, stopServe } from '../helpers/metrics-runs.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { newStateDir, startWrapper } from '../helpers/wrapper.js';

const PROMTOOL = which.sync('promtool', { nothrow: true, path: [process.env.PATH ?? '', '/usr/bin'].join(delimiter) }) ?? undefined;
const SKIP_REASON = "skipped: promtool is not installed (Debian's package prometheus); .ci/run installs it";

const tag = ownedTag();
// The daemon outlives single tests: a tag of its own, checked when the file is done.
const daemonTag = newTag();

/** What promtool says of an exposition text: its exit status and everything it printed. */
async function promtoolCheck(text: string): Promise<{ exitCode: number | undefined; output: string }> {
  const result = await execa(PROMTOOL!, ['check', 'metrics'], { input: text, reject: false, all: true, timeout: 30_000 });
  return { exitCode: result.exitCode, output: result.all ?? '' };
}

/** The value of an unlabelled sample, or the sum of a labelled one's samples, in an exposition text. */
function total(text: string, name: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe.skipIf(!PROMTOOL)(`promtool check metrics${PROMTOOL ? '' : ` (${SKIP_REASON})`}`, () => {
  const stateDir = newStateDir();
  let base = '';
  let daemon: ResultPromise<{ reject: false }> | undefined;

  const scrape = async () => (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  /** Scrapes until `check` holds; returns the text that passed. */
  const scrapeWhen = async (check: (text: string) => boolean, timeoutMs: number): Promise<string> => {
    let text = '';
    return until(
      () => `/metrics to match, last scraped:\n${text}`,
      async () => {
        text = await scrape().catch(() => '');
        return text && check(text) ? text : undefined;
      },
      timeoutMs,
      { every: 100 },
    );
  };

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    base = `http://127.0.0.1:${port}`;
    daemon = startServe(stateDir, port, daemonTag);
    await scrapeWhen((text) => text.includes('scidex_runs_finished_total'), 60_000);
  });

  afterAll(async () => {
    expect(await stopServe(daemon)).toBe(0);
    expect(await killSurvivors(daemonTag)).toEqual([]);
  });

  // Five wrapper runs, the daemon's sweeps and two promtool runs, each slow on a host loaded by the suite.
  it("reports nothing on a real daemon's /metrics with runs finished, killed and running", { timeout: 180_000 }, async () => {
    const { exitCodes, running, release } = await runsOfEveryKind(stateDir, tag);
    try {
      expect(exitCodes).toEqual([0, 3, 124, 137]);
      // Every kind of series has samples: counters past 0, each histogram observed, the running gauges up.
      const text = await scrapeWhen(
        (current) =>
          total(current, 'scidex_runs_finished_total') === 4 &&
          total(current, 'scidex_runs_running') === 1 &&
          total(current, 'scidex_running_tree_rss_bytes') > 0,
        60_000,
      );
      expect(total(text, 'scidex_kills_total')).toBe(2);
      expect(total(text, 'scidex_run_peak_pss_bytes_count')).toBe(1);
      expect(total(text, 'scidex_sweeps_total')).toBeGreaterThan(0);
      expect(await promtoolCheck(text)).toEqual({ exitCode: 0, output: '' });
    } finally {
      release();
    }
    expect((await running).exitCode).toBe(0);
    const after = await scrapeWhen((current) => total(current, 'scidex_runs_finished_total') === 5 && total(current, 'scidex_runs_running') === 0, 60_000);
    expect(await promtoolCheck(after)).toEqual({ exitCode: 0, output: '' });
  });

  it('reports nothing on what scidex-run pushes to a Pushgateway', async () => {
    const bodies: string[] = [];
    const server: Server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        bodies.push(body);
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // A completed run (with the success timestamp) and a killed one (with the kill's reason).
      expect((await startWrapper(['--quiet', '--pushgateway', url, '--analysis-id', 'promtool-push', '--', 'true'], { tag })).exitCode).toBe(0);
      expect((await startWrapper(['--quiet', '--pushgateway', url, '--timeout', '300ms', '--grace', '1s', '--', 'sleep', '30'], { tag })).exitCode).toBe(124);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(bodies).toHaveLength(2);
    expect(bodies[0]).toContain('scidex_run_last_success_timestamp_seconds');
    expect(bodies[1]).toContain('scidex_run_last_killed{reason="timeout"} 1');
    for (const body of bodies) expect(await promtoolCheck(body)).toEqual({ exitCode: 0, output: '' });
  });
});
