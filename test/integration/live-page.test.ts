/**
 * docs/operations.md, "The live page": `scidex-watchdog serve` answers `GET /` with a page that reads
 * `GET /status` every 2 s and re-renders in place. Checked end to end in a real headless browser
 * (Debian's chromium through playwright-core; `.ci/run` installs it, and the tests are skipped,
 * saying why, where it is missing).
 *
 * The first test drives the real daemon and real runs: a running analysis appears with its memory
 * and time left, a timeout kill shows up among the recent events without a reload, an analysis id
 * and a command made of HTML stay text, and stopping the daemon raises the "daemon unreachable"
 * banner. Daemon and runs use a database of their own: the daemon reaps every `running` row of this
 * host and takes its cancel requests, which on the shared database belong to other test files.
 * The second feeds the page a /status of its own (playwright routes; nothing listens) to check what
 * live runs cannot show on demand: the formats, the grace badge, limits that are off, and which
 * event kinds are marked as kills.
 *
 * Every process started here carries the file's tag, the browser included; the browser's whole
 * tree is recorded before it is closed and checked gone afterwards, by pid.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { KILL_KINDS } from '../../src/record/event-kinds.js';
import type { EventKind } from '../../src/record/types.js';
import { livePage } from '../../src/watchdog/http/page.js';
import type { HostStatus } from '../../src/watchdog/status-body.js';
import { chromiumBinary, type TestBrowser } from '../helpers/browser.js';
import { keepScreenshot, watchPage as watch, withBrowser as withBrowserOf } from '../helpers/page-checks.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const CHROMIUM = chromiumBinary();
const SKIP_REASON = 'skipped: chromium is not installed (neither `chromium` on PATH nor /usr/bin/chromium); .ci/run installs it';
const XSS = '<img src=x onerror=alert(1)>';

const database = ownDatabase('live_page');
const tag = ownedTag();

/** The real daemon, its output appended to the file descriptor `log`; the caller awaits it (it never rejects). */
function startServe(port: number, stateDir: string, logFd: number) {
  // A file descriptor, not a pipe: execa's promise would wait for any grandchild holding a pipe.
  // (execa takes any fd at run time; its types accept only literal ones.)
  const log = logFd as 3;
  return execa(
    WATCHDOG,
    ['serve', '--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', stateDir, '--database-url', database.url],
    { reject: false, stdin: 'ignore', stdout: log, stderr: log, env: { SCIDEX_RUN_STATE_DIR: stateDir, SCIDEX_TEST_TAG: tag } },
  );
}

/** Every event kind, once: exhaustive over EventKind, so a kind added to the records must be added here. */
const EVERY_KIND: Record<EventKind, true> = {
  run_started: true,
  failed_to_start: true,
  limit_exceeded: true,
  cancel_requested: true,
  signal_forwarded: true,
  signal_sent: true,
  process_killed: true,
  orphan_found: true,
  run_finished: true,
  run_lost: true,
  kill_refused: true,
  kill_failed: true,
  kernel_oom_kill: true,
  released: true,
};

/** A browser of this file's tag for one test. */
const withBrowser = (body: (browser: TestBrowser) => Promise<void>) => withBrowserOf(CHROMIUM!, tag, body);

/**
 * The bound of every wait on the page or the daemon: a hang bound, not a speed target. A browser,
 * a daemon and their reads on a host loaded by the suite itself take many seconds where they take
 * milliseconds idle; what a test asserts is what the page shows, never how soon.
 */
const HANG_MS = 60_000;
const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: HANG_MS });

describe.skipIf(!CHROMIUM)(`the live page in a real browser${CHROMIUM ? '' : ` (${SKIP_REASON})`}`, () => {
  // A daemon's start, several wrapper runs and a browser, each slow on a host loaded by the suite (a
  // trivial wrapper run took 12 s there); the runs that wait on the test have a timeout of minutes,
  // only a hang bound, below this one.
  it('shows the runs of the real daemon, a timeout kill without a reload, HTML as text, and a banner once the daemon is gone', { timeout: 900_000 }, async () => {
    const stateDir = newStateDir();
    const port = await freeLoopbackPort();
    const base = `http://127.0.0.1:${port}`;
    const scratch = mkdtempSync(join(tmpdir(), 'scidex-live-page-'));
    const logFile = join(scratch, 'serve.log');
    const log = openSync(logFile, 'a');
    const serveLog = () => readFileSync(logFile, 'utf8');
    let daemon: ReturnType<typeof startServe> | undefined;
    await database.create();
    try {
      const serving = startServe(port, stateDir, log);
      daemon = serving;
      // Up: /status answers (or the daemon died, and its log says why).
      const status = await until(
        () => `serve to answer on ${base}/status, its log:\n${serveLog()}`,
        () => {
          expect(serving.exitCode ?? serving.signalCode, `serve exited early:\n${serveLog()}`).toBeNull();
          // Up and swept once: last_sweep is null until the first sweep has ended.
          return fetch(`${base}/status`)
            .then((response) => (response.ok ? (response.json() as Promise<{ daemon?: { last_sweep?: unknown } }>) : undefined))
            .then((body) => (body?.daemon?.last_sweep ? (body as Record<string, unknown>) : undefined))
            .catch(() => undefined);
        },
        HANG_MS,
        { every: 100 },
      );
      expect(status).toMatchObject({
        host: expect.any(String),
        daemon: { pid: daemon.pid, started_at: expect.any(String), database: 'ok', last_sweep: expect.anything() },
        monitored_count: expect.any(Number),
        grace_count: expect.any(Number),
        kills_last_24h: expect.any(Number),
        runs: expect.any(Array),
        recent_events: expect.any(Array),
      });
      const index = await fetch(`${base}/`);
      expect(index.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await index.text()).toBe(livePage());

      await withBrowser(async ({ browser }) => {
        const page = await browser.newPage();
        const seen = watch(page);
        await page.goto(`${base}/`);
        await page.evaluate(() => Object.assign(window, { notReloaded: true }));
        await page.waitForFunction(() => document.getElementById('updated')?.textContent?.startsWith('updated'), undefined, { timeout: HANG_MS });
        expect(await text(page, '#host')).toBe(status.host);
        expect(await text(page, '#database')).toBe('ok');

        // A running analysis, and one whose id and command are HTML. Both run until the page has
        // shown them (the file `release` appears), however slow the host; the timeout is only a backstop.
        const release = join(scratch, 'release');
        const wrapperArgs = ['--quiet', '--state-dir', stateDir, '--database-url', database.url, '--sample-interval', '200ms'];
        const script = 'import os, sys, time; x=bytearray(64<<20)\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.1)';
        const running = startWrapper([...wrapperArgs, '--analysis-id', `page-${tag}`, '--timeout', '10min', '--', 'python3', '-c', script, release], { tag, stateDir });
        const hostileId = `xss-${tag} ${XSS}`;
        const hostileCommand = `while [ ! -e ${release} ]; do sleep 0.1; done # <script>alert(2)</script><img src=y onerror=alert(3)>`;
        const hostile = startWrapper([...wrapperArgs, '--analysis-id', hostileId, '--timeout', '10min', '--', 'sh', '-c', hostileCommand], { tag, stateDir });

        const row = page.locator(`#runs-body tr[data-analysis-id="page-${tag}"]`);
        await row.waitFor({ timeout: HANG_MS });
        // The row may come before the run's first sample ("no sample yet"); the sample follows within 200 ms.
        await row.locator('.memory-text', { hasText: 'MiB' }).waitFor({ timeout: HANG_MS });
        expect(await row.locator('.memory-text').textContent()).toMatch(/^\d+(\.\d)? MiB of 2\.0 GiB, \d+ %$/);
        expect(await row.locator('.time-left').textContent()).toMatch(/^(\d+(\.\d)? s|\d+m \d\ds) left$/);
        await keepScreenshot(page, 'live-page-running');
        expect(await row.locator('.command').textContent()).toMatch(/^python3 -c .*bytearray\(64<<20\)/);
        expect(await row.locator('.run').textContent()).toMatch(/^[0-9a-f]{8}$/);
        expect(Number(await row.locator('.processes').textContent())).toBeGreaterThanOrEqual(1);

        const hostileRow = page.locator('#runs-body tr').filter({ has: page.locator('td.analysis', { hasText: hostileId }) });
        await hostileRow.waitFor({ timeout: HANG_MS });
        expect(await hostileRow.getAttribute('data-analysis-id')).toBe(hostileId);
        expect(await hostileRow.locator('.analysis').textContent()).toBe(hostileId);
        expect(await hostileRow.locator('.command').textContent()).toContain('<script>alert(2)</script><img src=y onerror=alert(3)>');
        writeFileSync(release, '');

        // A timeout kill, seen without a reload.
        const killed = await startWrapper([...wrapperArgs, '--analysis-id', `kill-${tag}`, '--timeout', '1s', '--grace', '1s', '--', 'sleep', '30'], { tag, stateDir });
        expect(killed.exitCode, killed.stderr).toBe(124);
        const killRow = page.locator(`#events-body tr[data-analysis-id="kill-${tag}"]`).filter({ has: page.locator('td.reason', { hasText: /^timeout$/ }) });
        await killRow.first().waitFor({ timeout: HANG_MS });
        expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);

        expect((await running).exitCode).toBe(0);
        expect((await hostile).exitCode).toBe(0);
        // The page took its HTML for text: no element was made of it, no script ran.
        expect(await page.evaluate(() => document.querySelectorAll('img').length)).toBe(0);
        expect(await page.evaluate(() => document.querySelectorAll('script').length)).toBe(1);
        await keepScreenshot(page, 'live-page-daemon');

        // The daemon goes away: the banner says so within a refresh or two.
        expect(daemon!.pid).toBeGreaterThan(1);
        process.kill(daemon!.pid!, 'SIGTERM');
        const stopped = await daemon!;
        expect(stopped.exitCode, serveLog()).toBe(0);
        const banner = page.locator('#unreachable');
        await banner.waitFor({ state: 'visible', timeout: HANG_MS });
        expect(await banner.textContent()).toMatch(/^daemon unreachable/);
        expect(await text(page, '#daemon-state')).toBe('unreachable');
        expect(seen).toEqual({ dialogs: [], errors: [] });
      });
    } finally {
      // A failed test may leave the daemon up: stop it by its pid (still our child), then wait.
      if (daemon?.pid !== undefined && daemon.pid > 1 && daemon.exitCode === null && daemon.signalCode === null) {
        process.kill(daemon.pid, 'SIGTERM');
        await daemon;
      }
      closeSync(log);
      rmSync(scratch, { recursive: true, force: true });
      await database.drop();
    }
  });

  // A browser's start and a dozen page loads and reads, each slow on a host loaded by the suite.
  it('renders a /status of its own: formats, grace badge, counts, HTML as text, unreachable banner', { timeout: 180_000 }, async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const GiB = 1024 ** 3;
    const MiB = 1024 ** 2;
    const status: HostStatus = {
      host: `node-${XSS}`,
      version: '0.1.0',
      daemon: {
        pid: 4242,
        started_at: iso(now - 3_600_000),
        uptime_seconds: 3600,
        heartbeat_at: iso(now),
        last_sweep: { at: iso(now - 1_000), ms: 12 },
        database: 'down',
      },
      monitored_count: 2,
      grace_count: 1,
      kills_last_24h: 7,
      runs: [
        {
          id: '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10',
          analysis_id: `A42 ${XSS}`,
          pid: 1000,
          wrapper_pid: 999,
          command: ['Rscript', 'fit.R', '--name', '<b>bold</b>'],
          started_at: iso(now - 90_000),
          elapsed_ms: 90_000,
          timeout_ms: 1_800_000,
          time_left_ms: 1_710_000,
          memory_limit_bytes: 2 * GiB,
          rss_bytes: 1.4 * GiB,
          pss_bytes: 1.2 * GiB,
          process_count: 5,
          in_grace: false,
          tracking_backend: 'cgroup',
        },
        {
          id: '00000000-0000-4000-8000-000000000001',
          analysis_id: 'B7',
          pid: 2000,
          wrapper_pid: 1999,
          command: ['python3', 'balloon.py'],
          started_at: iso(now - 5_000),
          elapsed_ms: 5_000,
          timeout_ms: 0,
          time_left_ms: null,
          memory_limit_bytes: 0,
          rss_bytes: 300 * MiB,
          pss_bytes: null,
          process_count: 1,
          in_grace: true,
          tracking_backend: 'pgroup',
        },
      ],
      recent_events: [
        { at: iso(now - 2_000), run_id: '00000000-0000-4000-8000-000000000001', analysis_id: 'B7', kind: 'limit_exceeded', reason: 'memory', signal: null, pid: 2000, rss_bytes: 300 * MiB, pss_bytes: 290 * MiB },
        { at: iso(now - 1_000), run_id: '00000000-0000-4000-8000-000000000001', analysis_id: `B7 ${XSS}`, kind: 'signal_sent', reason: 'memory', signal: 'SIGTERM', pid: null, rss_bytes: null, pss_bytes: null },
      ],
      pressure_guard: {
        enabled: true,
        min_available_bytes: 1.2 * GiB,
        max_memory_pressure: 40,
        pressure_duration_ms: 10_000,
        read_at: iso(now - 500),
        mem_available_bytes: 1.3 * GiB,
        mem_total_bytes: 24 * GiB,
        psi_full_avg10: 2.5,
        near: true,
        stops: 1,
        last_stop: {
          at: iso(now - 120_000),
          run_id: '00000000-0000-4000-8000-000000000002',
          analysis_id: `C3 ${XSS}`,
          threshold: 'min_available',
          crossed_at: iso(now - 120_050),
          mem_available_bytes: 1.1 * GiB,
          psi_full_avg10: 3,
          run_pss_bytes: 1.5 * GiB,
          candidates: 3,
          by: 'wrapper',
          reaction_ms: 50,
        },
      },
    };
    let reachable = true;
    await withBrowser(async ({ browser }) => {
      const page = await browser.newPage();
      const seen = watch(page);
      // Nothing listens: playwright answers for the origin, and refuses every other request.
      await page.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.origin !== 'http://scidex.test') return route.abort('blockedbyclient');
        if (url.pathname === '/') return route.fulfill({ contentType: 'text/html; charset=utf-8', body: livePage() });
        if (url.pathname === '/status' && reachable) return route.fulfill({ contentType: 'application/json', body: JSON.stringify(status) });
        return route.abort('connectionrefused');
      });
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.goto('http://scidex.test/');
      await page.locator('#runs-body tr[data-run-id]').nth(1).waitFor({ timeout: HANG_MS });

      expect(await text(page, '#host')).toBe(status.host);
      expect(await text(page, '#daemon-state')).toMatch(/^up for 1h 00m \(pid 4242\)$/);
      expect(await text(page, '#sweep')).toMatch(/^(just now|\d s ago) \(took 12 ms\)$/);
      expect(await text(page, '#database')).toBe('down');
      expect(await page.locator('#database').getAttribute('class')).toBe('bad');
      expect(await text(page, '#count-monitored')).toBe('2');
      expect(await text(page, '#count-grace')).toBe('1');
      expect(await text(page, '#count-kills')).toBe('7');
      expect(await page.locator('#counts').getAttribute('aria-live')).toBe('polite');
      expect(await text(page, '#host-memory')).toBe('1.3 GiB available of 24.0 GiB (floor 1.2 GiB), PSI full 2.5 %');
      expect(await page.locator('#host-memory').getAttribute('class')).toBe('stale');
      const guard = (await text(page, '#guard')) ?? '';
      // The analysis id drawn as text, never as HTML (the header's img check below counts no element).
      expect(guard.startsWith('1 stop; last ') && guard.endsWith(`: C3 ${XSS} (tree PSS 1.5 GiB)`), guard).toBe(true);
      expect(await page.locator('#runs thead th').allTextContents()).toEqual(['Analysis', 'Run', 'Command', 'Memory (tree)', 'Elapsed', 'Processes']);
      expect(await page.locator('#unreachable').isHidden()).toBe(true);

      const first = page.locator('#runs-body tr[data-run-id="3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10"]');
      expect(await first.getAttribute('data-analysis-id')).toBe(`A42 ${XSS}`);
      expect(await first.locator('.analysis').textContent()).toBe(`A42 ${XSS}`);
      expect(await first.locator('.run').textContent()).toBe('3f1c9a52');
      expect(await first.locator('.command').textContent()).toBe("Rscript fit.R --name '<b>bold</b>'");
      expect(await first.locator('.memory-text').textContent()).toBe('1.2 GiB of 2.0 GiB, 60 %');
      expect(await first.locator('.pss-text').textContent()).toBe('RSS 1.4 GiB · PSS 1.2 GiB');
      expect(await first.locator('.memory [role=progressbar]').getAttribute('aria-valuenow')).toBe('60');
      expect(await first.locator('.elapsed-text').textContent()).toBe('1m 30s of 30m 00s');
      expect(await first.locator('.time-left').textContent()).toBe('28m 30s left');
      expect(await first.locator('.processes').textContent()).toBe('5');
      expect(await first.locator('.badge-grace').count()).toBe(0);

      const second = page.locator('#runs-body tr[data-run-id="00000000-0000-4000-8000-000000000001"]');
      expect(await second.locator('.badge-grace').textContent()).toBe('grace');
      expect(await second.locator('.memory-text').textContent()).toBe('300.0 MiB (no limit)');
      expect(await second.locator('.pss-text').textContent()).toBe('RSS 300.0 MiB');
      expect(await second.locator('.time-left').textContent()).toBe('no timeout');
      expect(await second.locator('.command').textContent()).toBe('python3 balloon.py');

      const events = page.locator('#events-body tr[data-kind]');
      expect(await events.count()).toBe(2);
      expect(await events.nth(0).locator('td').allTextContents()).toEqual([
        expect.stringMatching(/\d\d:\d\d:\d\d/), 'B7', 'limit_exceeded', 'memory', '–', '2000', 'RSS 300.0 MiB · PSS 290.0 MiB',
      ]);
      expect(await events.nth(1).locator('td').allTextContents()).toEqual([
        expect.stringMatching(/\d\d:\d\d:\d\d/), `B7 ${XSS}`, 'signal_sent', 'memory', 'SIGTERM', '–', '–',
      ]);
      expect(await page.evaluate(() => document.querySelectorAll('img, tbody b, #host *, #guard *').length)).toBe(0);
      await keepScreenshot(page, 'live-page-routed');

      // It keeps reading /status, never reloading and never asking for anything but /status.
      const before = requests.filter((url) => url.endsWith('/status')).length;
      const statusReads = () => requests.filter((url) => url.endsWith('/status')).length;
      await until('the page to read /status again', () => statusReads() > before, HANG_MS, { every: 100 });
      expect(requests.every((url) => url === 'http://scidex.test/' || url === 'http://scidex.test/status')).toBe(true);

      reachable = false;
      await page.locator('#unreachable').waitFor({ state: 'visible', timeout: HANG_MS });
      expect(await text(page, '#unreachable')).toMatch(/^daemon unreachable: .* — showing data from (\d+ s ago|just now)$/);
      // The last data stays on screen.
      expect(await page.locator('#runs-body tr[data-run-id]').count()).toBe(2);
      reachable = true;
      await page.locator('#unreachable').waitFor({ state: 'hidden', timeout: HANG_MS });

      // An event of every kind: the rows of exactly the kill kinds are marked as kills.
      status.recent_events = (Object.keys(EVERY_KIND) as EventKind[]).map((kind, i) => ({ ...status.recent_events[0], at: iso(now - i), kind }));
      await page.locator('#events-body tr[data-kind="kill_refused"]').waitFor({ timeout: HANG_MS });
      const kills = await page.locator('#events-body tr.kill').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-kind')));
      expect(kills.sort()).toEqual([...KILL_KINDS].sort());
      // The kernel's OOM kill is told apart from ours.
      expect(await page.locator('#events-body tr[data-kind="kernel_oom_kill"] td.kind').getAttribute('title')).toMatch(/kernel's OOM killer/);
      expect(seen).toEqual({ dialogs: [], errors: [] });
    });
  });
});
