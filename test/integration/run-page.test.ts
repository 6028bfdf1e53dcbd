/**
 * docs/operations.md, "The run page": `scidex-watchdog serve` answers `GET /runs/<id>` with a page
 * per run, its data at `GET /runs/<id>.json` (a RunView). Checked in a real headless browser
 * (Debian's chromium through playwright-core; skipped, saying why, where it is missing).
 *
 * The first test drives the real daemon and real runs on a database of the file's own: a memory
 * kill (a balloon over 256 MiB) and a timeout kill, each run page opened from the live page's
 * links or directly, and checked against the run's /runs/<id>.json: the header, the chart's data
 * (its text table and data attributes), the processes (biggest first) and the events (oldest
 * first); a running run's page shows its live figures and then its end, without a reload. The
 * second feeds the page RunViews of its own (playwright routes; nothing listens): the formats, the
 * reason in words, the ticks, HTML as text, the empty states, a 404.
 *
 * Every process started here carries the file's tag, the browser included, and is checked gone by
 * pid afterwards; every test keeps full-page screenshots in test-artifacts/screenshots/.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { RunView } from '../../src/query/run-view-body.js';
import { readJournal } from '../../src/record/journal.js';
import type { RunRecord } from '../../src/record/types.js';
import { page as pageOf } from '../../src/watchdog/http/page.js';
import { SHOWN_CHARACTERS } from '../../src/watchdog/http/page/dom.js';
import { killMoment } from '../../src/watchdog/http/page/run/kill-moment.js';
import { chromiumBinary } from '../helpers/browser.js';
import { htmlAnswer, jsonAnswer, keepScreenshot, serveRoutes, textsOf, watchPage, withBrowser } from '../helpers/page-checks.js';
import { fixtureEvent, fixtureProcess, fixtureRun, fixtureSample, GiB, MiB } from '../helpers/page-fixtures.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { serveForTest, type TestDaemon } from '../helpers/serve-daemon.js';
import { until } from '../helpers/until.js';
import { EXAMPLES, newStateDir, startWrapper } from '../helpers/wrapper.js';

const CHROMIUM = chromiumBinary();
const SKIP_REASON = 'skipped: chromium is not installed (neither `chromium` on PATH nor /usr/bin/chromium); .ci/run installs it';
const XSS = '<img src=x onerror=alert(1)>';

const database = ownDatabase('run_page');
const tag = ownedTag();

/**
 * The bound of every wait on the page or the daemon: a hang bound, not a speed target. A browser,
 * a daemon and their reads on a host loaded by the suite itself take many seconds where they take
 * milliseconds idle; what a test asserts is what the page shows, never how soon.
 */
const HANG_MS = 60_000;
const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: HANG_MS });

/** The id of the run of `analysisId` among the journals of `stateDir`. */
function runIdOf(stateDir: string, analysisId: string): string {
  const dir = join(stateDir, 'journal');
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.jsonl'))) {
    const run = readJournal(join(dir, name)).entries.find((entry) => entry.table === 'runs' && entry.record.analysis_id === analysisId);
    if (run) return (run.record as RunRecord).id;
  }
  throw new Error(`no run of analysis ${analysisId} in ${dir}`);
}

/**
 * Checks what the run page of `view` shows against the view itself: header, the chart's data and
 * its table, the processes (biggest peak first) and the events (oldest first).
 */
async function checkRunPage(page: Page, view: RunView): Promise<void> {
  const { run } = view;
  expect(await text(page, '#run-id')).toBe(run.id);
  expect(await text(page, '#status')).toBe(run.status);
  expect(await text(page, '#analysis')).toBe(run.analysis_id);
  expect(await text(page, '#host')).toBe(run.host);
  expect(await text(page, '#user')).toBe(run.username);
  expect(await text(page, '#exit-status')).toBe(run.exit_status === null ? '–' : String(run.exit_status));
  const chart = page.locator('#memory-chart');
  const samples = [...view.samples].sort((a, b) => a.elapsed_ms - b.elapsed_ms);
  expect(Number(await chart.getAttribute('data-points'))).toBe(samples.length);
  expect((await chart.getAttribute('data-series'))?.split('\n')).toEqual(
    ['RSS', ...(samples.some((s) => s.pss_bytes !== null) ? ['PSS'] : []), ...(run.memory_limit_bytes > 0 ? ['limit'] : [])],
  );
  if (samples.length > 0) expect(await chart.locator('canvas').count()).toBeGreaterThan(0);
  const kill = killMoment(view.events);
  expect(await chart.getAttribute('data-mark-x')).toBe(kill ? String(kill.elapsed_ms / 1000) : null);
  const rows = page.locator('#samples-body tr[data-elapsed-ms]');
  expect(await rows.evaluateAll((trs) => trs.map((tr) => [Number(tr.getAttribute('data-elapsed-ms')), Number(tr.getAttribute('data-rss-bytes'))]))).toEqual(
    samples.map((s) => [s.elapsed_ms, s.rss_bytes]),
  );
  const processes = [...view.processes].sort((a, b) => b.peak_rss_bytes - a.peak_rss_bytes || a.pid - b.pid);
  expect(await page.locator('#processes-body tr[data-pid]').evaluateAll((trs) => trs.map((tr) => [Number(tr.getAttribute('data-pid')), tr.getAttribute('data-fate')]))).toEqual(
    processes.map((p) => [p.pid, p.fate]),
  );
  const events = [...view.events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  expect(await page.locator('#events-body tr[data-kind]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind')))).toEqual(events.map((e) => e.kind));
}

describe.skipIf(!CHROMIUM)(`the run page in a real browser${CHROMIUM ? '' : ` (${SKIP_REASON})`}`, () => {
  // A daemon's start, several wrapper runs and a browser, each slow on a host loaded by the suite (a
  // trivial wrapper run took 12 s there); the runs that wait on the test have a timeout of minutes,
  // only a hang bound, below this one.
  it('shows a memory kill, a timeout kill and a running run of the real daemon, as their /runs/<id>.json says', { timeout: 900_000 }, async () => {
    const stateDir = newStateDir();
    const scratch = mkdtempSync(join(tmpdir(), 'scidex-run-page-'));
    let daemon: TestDaemon | undefined;
    await database.create();
    try {
      daemon = await serveForTest({ stateDir, databaseUrl: database.url, tag, scratch });
      const { base } = daemon;
      const wrapperArgs = ['--quiet', '--state-dir', stateDir, '--database-url', database.url, '--sample-interval', '200ms'];
      // A memory kill: 8 MiB steps, so that the scan decides well before any kernel backstop (memory.test.ts).
      const memory = await startWrapper([...wrapperArgs, '--analysis-id', `mem-${tag}`, '--memory-limit', '256MiB', '--grace', '2s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '8', '4096'], { tag, stateDir });
      expect(memory.exitCode, memory.stderr).toBe(137);
      // A timeout of a parent and two workers, so that the page has a tree to show.
      const timeout = await startWrapper([...wrapperArgs, '--analysis-id', `timeout-${tag}`, '--timeout', '2s', '--grace', '1s', '--', 'python3', join(EXAMPLES, 'outlive_timeout.py'), '30'], { tag, stateDir });
      expect(timeout.exitCode, timeout.stderr).toBe(124);
      const memoryId = runIdOf(stateDir, `mem-${tag}`);
      const timeoutId = runIdOf(stateDir, `timeout-${tag}`);

      // The routes: JSON with no-store, 404 for no such run and a malformed id, 405 for other methods.
      const json = await fetch(`${base}/runs/${memoryId}.json`);
      expect(json.status).toBe(200);
      expect(json.headers.get('content-type')).toMatch(/^application\/json/);
      expect(json.headers.get('cache-control')).toBe('no-store');
      const unknown = await fetch(`${base}/runs/00000000-0000-4000-8000-000000000000.json`);
      expect([unknown.status, await unknown.json()]).toEqual([404, { error: 'no such run: 00000000-0000-4000-8000-000000000000' }]);
      expect((await fetch(`${base}/runs/not-a-run`)).status).toBe(404);
      expect((await fetch(`${base}/runs/${memoryId}`, { method: 'POST' })).status).toBe(405);
      const page200 = await fetch(`${base}/runs/${memoryId}`);
      expect(page200.headers.get('content-security-policy') ?? (await page200.text())).toMatch(/connect-src 'self'/);

      await withBrowser(CHROMIUM!, tag, async ({ browser }) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const seen = watchPage(page);

        // From the live page: the memory kill's event links to its run page.
        await page.goto(`${base}/`);
        const link = page.locator(`#events-body tr[data-analysis-id="mem-${tag}"] td.analysis a`).first();
        await link.waitFor({ timeout: HANG_MS });
        expect(await link.getAttribute('href')).toBe(`runs/${memoryId}`);
        await link.click();
        await page.waitForURL(`${base}/runs/${memoryId}`);
        await page.locator('body[data-status="out_of_memory"]').waitFor({ timeout: HANG_MS });
        const memoryView = (await (await fetch(`${base}/runs/${memoryId}.json`)).json()) as RunView;
        await checkRunPage(page, memoryView);
        expect(await text(page, '#reason')).toMatch(/^killed: tree memory \((PSS|RSS) \d+(\.\d)? MiB\) exceeded its 256 MiB limit$/);
        expect(await text(page, '#memory-limit')).toBe('256 MiB (tree PSS)');
        expect(await text(page, '#command')).toMatch(/^python3 \S*balloon\.py 8 4096$/);
        expect(memoryView.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['run_started', 'limit_exceeded', 'signal_sent', 'run_finished']));
        expect(memoryView.samples.length).toBeGreaterThan(0);
        expect(memoryView.processes.length).toBeGreaterThan(0);
        await keepScreenshot(page, 'run-page-memory-kill');

        await page.goto(`${base}/runs/${timeoutId}`);
        await page.locator('body[data-status="timeout"]').waitFor({ timeout: HANG_MS });
        const timeoutView = (await (await fetch(`${base}/runs/${timeoutId}.json`)).json()) as RunView;
        await checkRunPage(page, timeoutView);
        expect(await text(page, '#reason')).toBe('killed: ran past its 2 s timeout');
        expect(await text(page, '#timeout')).toBe('2 s');
        expect(timeoutView.processes.filter((p) => p.fate === 'terminated').length).toBe(3);
        expect(await text(page, '#exit-status')).toBe('124');
        expect(timeoutView.events.find((e) => e.kind === 'limit_exceeded')?.reason).toBe('timeout');
        await keepScreenshot(page, 'run-page-timeout');

        // A running run: its live figures, then its end, without a reload.
        const release = join(scratch, 'release');
        const script = 'import os, sys, time; x=bytearray(64<<20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.1)';
        const running = startWrapper([...wrapperArgs, '--analysis-id', `live-${tag}`, '--timeout', '10min', '--', 'python3', '-c', script, release], { tag, stateDir });
        try {
          const liveId = await until('the running run to have a journal', () => {
            try {
              return runIdOf(stateDir, `live-${tag}`);
            } catch {
              return undefined;
            }
          }, HANG_MS, { every: 100 });
          // Its journal is written before its row reaches PostgreSQL: the daemon knows it once its data answers.
          await until('the daemon to know the running run', () => fetch(`${base}/runs/${liveId}.json`).then((r) => r.ok), HANG_MS, { every: 100 });
          await page.goto(`${base}/runs/${liveId}`);
          await page.evaluate(() => Object.assign(window, { notReloaded: true }));
          await page.locator('body[data-status="running"]').waitFor({ timeout: HANG_MS });
          await page.locator('#live').waitFor({ state: 'visible', timeout: HANG_MS });
          await page.locator('#live-memory', { hasText: 'MiB' }).waitFor({ timeout: HANG_MS });
          expect(Number(await text(page, '#live-processes'))).toBeGreaterThanOrEqual(1);
          expect(await page.locator('#live-body tr[data-pid]').count()).toBeGreaterThanOrEqual(1);
          expect(await text(page, '#reason')).toBe('running');
          await keepScreenshot(page, 'run-page-running');
          writeFileSync(release, '');
          expect((await running).exitCode).toBe(0);
          await page.locator('body[data-status="completed"]').waitFor({ timeout: HANG_MS });
          expect(await page.locator('#live').isHidden()).toBe(true);
          expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
        } finally {
          writeFileSync(release, '');
          await running;
        }
        expect(seen).toEqual({ dialogs: [], errors: [] });
      });
    } finally {
      await daemon?.stop();
      rmSync(scratch, { recursive: true, force: true });
      await database.drop();
    }
  });

  // A browser's start and a dozen page loads and reads, each slow on a host loaded by the suite.
  it('renders RunViews of its own: the reason in words, the chart and its figures, ticks, HTML as text, empty states, 404', { timeout: 180_000 }, async () => {
    const start = Date.now() - 60_000;
    const killedId = '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10';
    const run = fixtureRun(killedId, start, {
      analysis_id: `A42 ${XSS}`, argv: ['Rscript', 'fit.R', '--name', '<b>bold</b>'], status: 'out_of_memory', exit_status: 137, exit_code: null,
      signal: 'SIGTERM', reason: 'memory', peak_rss_bytes: 2.3 * GiB, peak_pss_bytes: 2.2 * GiB,
    });
    const killed: RunView = {
      run,
      processes: [
        fixtureProcess(run, 1000, 'Rscript', 300 * MiB, 'terminated'),
        fixtureProcess(run, 1002, `w ${XSS}`, 1.9 * GiB, 'killed'),
        fixtureProcess(run, 1001, 'sh', 2 * MiB, 'exited'),
      ],
      samples: [
        fixtureSample(run, 1000, 0.5 * GiB, { peak: true }),
        fixtureSample(run, 3000, 1.5 * GiB),
        fixtureSample(run, 5000, 2.2 * GiB, { pss_bytes: 2.1 * GiB, tick: true, top_processes: [{ pid: 1002, comm: `w ${XSS}`, rss_bytes: 1.9 * GiB }, { pid: 1000, comm: 'Rscript', rss_bytes: 300 * MiB }] }),
        fixtureSample(run, 5100, 2.3 * GiB, { pss_bytes: 2.15 * GiB, tick: true }),
      ],
      events: [
        fixtureEvent(run, 'run_started', 0),
        fixtureEvent(run, 'limit_exceeded', 5100, { reason: 'memory', rss_bytes: 2.3 * GiB, pss_bytes: 2.1 * GiB }),
        fixtureEvent(run, 'signal_sent', 5150, { reason: 'memory', signal: 'SIGTERM', pids: [1000, 1001, 1002] }),
        fixtureEvent(run, 'run_finished', 6000, { reason: 'memory' }),
      ],
      other_runs: 2,
      source: 'database',
      live: null,
    };
    const emptyId = '00000000-0000-4000-8000-000000000001';
    const empty: RunView = {
      run: fixtureRun(emptyId, start, { analysis_id: null, status: 'timeout', exit_status: 124, exit_code: null, reason: 'timeout', timeout_ms: 90_000, memory_limit_bytes: 0 }),
      processes: [], samples: [], events: [], other_runs: 0, source: 'journal', live: null,
    };
    const liveId = '00000000-0000-4000-8000-000000000002';
    const views = new Map([[killedId, killed], [emptyId, empty]]);
    await withBrowser(CHROMIUM!, tag, async ({ browser }) => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const seen = watchPage(page);
      await serveRoutes(page, 'http://scidex.test', (url) => {
        const match = /^\/runs\/([^/]+?)(\.json)?$/.exec(url.pathname);
        if (!match) return undefined;
        if (!match[2]) return htmlAnswer(pageOf('run'));
        const view = views.get(match[1]);
        return view ? jsonAnswer(view) : jsonAnswer({ error: `no such run: ${match[1]}` }, 404);
      });

      await page.goto(`http://scidex.test/runs/${killedId}`);
      await page.locator('body[data-status="out_of_memory"]').waitFor({ timeout: HANG_MS });
      await checkRunPage(page, killed);
      expect(await textsOf(page, ['#reason', '#command', '#timeout', '#memory-limit', '#peak', '#source', '#kill-at'])).toEqual({
        '#reason': 'killed: tree memory (PSS 2.1 GiB) exceeded its 2 GiB limit',
        '#command': "Rscript fit.R --name '<b>bold</b>'",
        '#timeout': '30 min',
        '#memory-limit': '2 GiB (tree PSS)',
        '#peak': 'RSS 2.3 GiB · PSS 2.2 GiB · 3 processes',
        '#source': 'PostgreSQL',
        '#kill-at': 'killed at 5.1 s (limit_exceeded)',
      });
      expect(await page.locator('#reason').getAttribute('class')).toBe('reason killed');
      expect(await page.locator('#analysis').getAttribute('title')).toBe('2 other runs of this analysis');
      expect(await page.locator('#live').isHidden()).toBe(true);
      // The chart's figures as text, ticks told apart, the row at the kill marked.
      const sampleCells = await page.locator('#samples-body tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].filter((td) => !td.classList.contains('at')).map((td) => td.textContent)));
      expect(sampleCells).toEqual([
        ['1.0 s', '512.0 MiB', '–', '3', 'peak', '–'],
        ['3.0 s', '1.5 GiB', '–', '3', 'sample', '–'],
        ['5.0 s', '2.2 GiB', '2.1 GiB', '3', 'tick', `w ${XSS} 1002 1.9 GiB, Rscript 1000 300.0 MiB`],
        ['5.1 s', '2.3 GiB', '2.1 GiB', '3', 'tick', '–'],
      ]);
      expect(await page.locator('#samples-body tr.at-kill').getAttribute('data-elapsed-ms')).toBe('5100');
      expect(await page.locator('#processes-body tr[data-pid="1002"] td').allTextContents()).toEqual([
        '1002', `w ${XSS}`, `'w <img src=x onerror=alert(1)>' --worker=1002`, '1.9 GiB', '1.5 s', 'killed (SIGKILL)', 'cgroup', expect.stringMatching(/–/),
      ]);
      expect(await page.locator('#events-body tr[data-kind="signal_sent"] td').allTextContents()).toEqual([
        expect.stringMatching(/\d\d:\d\d:\d\d/), '5.2 s', 'signal_sent', 'memory', 'SIGTERM', '3 processes', '–',
      ]);
      expect(await page.locator('#events-body tr.kill').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-kind')))).toEqual(['limit_exceeded', 'signal_sent']);
      expect(await page.evaluate(() => document.querySelectorAll('img, b, main script').length)).toBe(0);
      await keepScreenshot(page, 'run-page-routed-memory-kill');
      // The chart follows its container's width.
      const canvasWidth = () => page.locator('#memory-chart canvas').first().evaluate((canvas) => canvas.getBoundingClientRect().width);
      const wide = await canvasWidth();
      await page.setViewportSize({ width: 700, height: 900 });
      await until('the chart to narrow with the window', async () => (await canvasWidth()) < wide - 200, HANG_MS, { every: 100 });
      // A running run: its live figures, read again every RUN_REFRESH_MS until it has ended.
      const liveRun = fixtureRun(liveId, start, { status: 'running', ended_at: null, exit_status: null, exit_code: null });
      const running: RunView = {
        run: liveRun, processes: [], samples: [fixtureSample(liveRun, 1000, 300 * MiB)], events: [fixtureEvent(liveRun, 'run_started', 0)], other_runs: 0, source: 'database',
        live: {
          at: new Date().toISOString(), elapsed_ms: 61_000, time_left_ms: 1_739_000, rss_bytes: 310 * MiB, process_count: 2,
          processes: [
            { pid: 1000, ppid: 999, comm: 'python3', argv: ['python3', 'fit.py'], rss_bytes: 300 * MiB, found_by: 'leader' },
            { pid: 1003, ppid: 1000, comm: `x ${XSS}`, argv: ['sleep', '9'], rss_bytes: 10 * MiB, found_by: 'cgroup' },
          ],
        },
      };
      views.set(liveId, running);
      await page.goto(`http://scidex.test/runs/${liveId}`);
      await page.locator('body[data-status="running"]').waitFor({ timeout: HANG_MS });
      expect(await page.locator('#live').isVisible()).toBe(true);
      expect(await text(page, '#reason')).toBe('running');
      expect(await text(page, '#live-elapsed')).toBe('1m 01s');
      expect(await text(page, '#live-memory')).toBe('310.0 MiB');
      expect(await text(page, '#live-processes')).toBe('2');
      expect(await page.locator('#live-body tr[data-pid]').evaluateAll((trs) => trs.map((tr) => tr.querySelector('.comm')?.textContent))).toEqual(['python3', `x ${XSS}`]);
      expect(await text(page, '#processes-body')).toBe('recorded when the run ends (its processes now are above)');
      expect(await text(page, '#ended')).toBe('still running');
      await keepScreenshot(page, 'run-page-routed-running');
      views.set(liveId, { ...running, run: { ...liveRun, status: 'completed', ended_at: new Date().toISOString(), exit_status: 0, exit_code: 0 }, live: null });
      await page.locator('body[data-status="completed"]').waitFor({ timeout: HANG_MS });
      expect(await page.locator('#live').isHidden()).toBe(true);
      expect(await text(page, '#reason')).toBe('completed');

      await page.goto(`http://scidex.test/runs/${emptyId}`);
      await page.locator('body[data-status="timeout"]').waitFor({ timeout: HANG_MS });
      expect(await textsOf(page, ['#reason', '#memory-limit', '#analysis', '#source', '#samples-body', '#processes-body', '#events-body', '#kill-at'])).toEqual({
        '#reason': 'killed: ran past its 1 min 30 s timeout',
        '#memory-limit': 'none',
        '#analysis': '–',
        '#source': "this host's journals (no database)",
        '#samples-body': 'no sample was recorded',
        '#processes-body': 'no process was recorded',
        '#events-body': 'no event',
        '#kill-at': '',
      });
      expect(await page.locator('#memory-chart').getAttribute('data-points')).toBe('0');

      // A hostile argv and analysis id (a bidi override, a newline, an escape sequence) are shown written out, never
      // obeyed; a 20,000-character argument is cut at SHOWN_CHARACTERS, whole in the title; a kill after the last
      // sample is still drawn inside the plot.
      const hostileId = '00000000-0000-4000-8000-000000000003';
      const hostileRun = fixtureRun(hostileId, start, {
        analysis_id: 'A1\u202e\n\x1b[2Jfdp.txt', argv: ['sh', '-c', 'rm -rf ~ \u202etxt.gnp', 'a\nb\x1b[31m\u0085', 'x'.repeat(20_000)],
        status: 'timeout', exit_status: 124, exit_code: null, reason: 'timeout',
      });
      views.set(hostileId, {
        run: hostileRun, processes: [], samples: [fixtureSample(hostileRun, 120, 100 * MiB), fixtureSample(hostileRun, 1360, 200 * MiB)],
        events: [fixtureEvent(hostileRun, 'limit_exceeded', 3027, { reason: 'timeout' })], other_runs: 0, source: 'database', live: null,
      });
      await page.goto(`http://scidex.test/runs/${hostileId}`);
      await page.locator('body[data-status="timeout"]').waitFor({ timeout: HANG_MS });
      const wholeCommand = `sh -c $'rm -rf ~ \\u202etxt.gnp' $'a\\nb\\x1b[31m\\u0085' ${'x'.repeat(20_000)}`;
      expect(await text(page, '#command')).toBe(`${wholeCommand.slice(0, SHOWN_CHARACTERS)}\u2026`);
      expect(await page.locator('#command').getAttribute('title')).toBe(`${wholeCommand}\nin ${hostileRun.cwd}`);
      expect(await text(page, '#analysis')).toBe('A1\\u202e\\n\\x1b[2Jfdp.txt');
      expect(await page.title()).toBe('scidex-run \u00b7 A1\\u202e\\n\\x1b[2Jfdp.txt \u00b7 timeout');
      expect(await page.locator('#command').evaluate((node) => getComputedStyle(node).unicodeBidi)).toBe('isolate');
      const markChart = page.locator('#memory-chart[data-mark-left]');
      await markChart.waitFor({ timeout: HANG_MS });
      expect(await markChart.getAttribute('data-mark-x')).toBe('3.027');
      const plotWidth = await markChart.locator('.u-over').evaluate((over) => over.getBoundingClientRect().width);
      const markLeft = Number(await markChart.getAttribute('data-mark-left'));
      expect(markLeft).toBeGreaterThan(plotWidth / 2);
      expect(markLeft).toBeLessThanOrEqual(plotWidth);
      await keepScreenshot(page, 'run-page-routed-hostile-text');

      const missing = '00000000-0000-4000-8000-00000000dead';
      await page.goto(`http://scidex.test/runs/${missing}`);
      // A read cut off by its timeout under load is said as such and tried again: wait for the sentence.
      await page.locator('#error', { hasText: `no such run: ${missing}` }).waitFor({ timeout: HANG_MS });
      expect(await text(page, '#error')).toBe(`no such run: ${missing}`);
      expect(await text(page, '#status')).toBe('not found');
      await keepScreenshot(page, 'run-page-routed-not-found');
      expect(seen).toEqual({ dialogs: [], errors: [] });
    });
  });
});
