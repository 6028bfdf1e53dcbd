/**
 * docs/operations.md, "The fleet view": `scidex-watchdog serve` answers `GET /fleet` with a page of
 * every host of the database, its data at `GET /fleet.json?analysis_id=X` (a FleetBody). Checked
 * in a real headless browser (Debian's chromium through playwright-core; skipped, saying why,
 * where it is missing).
 *
 * The first test runs two hosts on one database of the file's own: this one, and a second one made
 * of a UTS namespace with another hostname (test/helpers/second-host.ts; skipped, saying why, where
 * it cannot be made), each with its daemon, its state directory and a running run, and a timeout
 * kill on the second. The fleet page lists both hosts and both running runs, counts the kill,
 * filters by analysis id (kept in the URL), and a run's link lands on its run page. The second test
 * feeds the page FleetBodies of its own (playwright routes; nothing listens): the formats, the
 * daemon states, the chart's figures as text, HTML as text, the filter's request, and the 503 of a
 * daemon without a database.
 *
 * Every process started here carries the file's tag, the browser included, and is checked gone by
 * pid afterwards; every test keeps full-page screenshots in test-artifacts/screenshots/.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { FleetBody, FleetKillHour } from '../../src/query/fleet-body.js';
import { page as pageOf, FLEET_REFRESH_MS } from '../../src/watchdog/http/page.js';
import { FLEET_NEEDS_DATABASE } from '../../src/watchdog/http/server.js';
import { chromiumBinary } from '../helpers/browser.js';
import { htmlAnswer, jsonAnswer, keepScreenshot, serveRoutes, watchPage, withBrowser } from '../helpers/page-checks.js';
import { GiB } from '../helpers/page-fixtures.js';
import { ownDatabase } from '../helpers/own-database.js';
import { ownedTag } from '../helpers/processes.js';
import { asHost, secondHostUnavailable } from '../helpers/second-host.js';
import { serveForTest, type TestDaemon } from '../helpers/serve-daemon.js';
import { until } from '../helpers/until.js';
import { newStateDir, startWrapper } from '../helpers/wrapper.js';

const CHROMIUM = chromiumBinary();
const SKIP_REASON = 'skipped: chromium is not installed (neither `chromium` on PATH nor /usr/bin/chromium); .ci/run installs it';
const NO_SECOND_HOST = CHROMIUM ? secondHostUnavailable() : undefined;
const XSS = '<img src=x onerror=alert(1)>';

const database = ownDatabase('fleet_page');
const tag = ownedTag();

/**
 * The bound of every wait on the page or the daemon: a hang bound, not a speed target. A browser,
 * a daemon and their reads on a host loaded by the suite itself take many seconds where they take
 * milliseconds idle; what a test asserts is what the page shows, never how soon.
 */
const HANG_MS = 60_000;
const text = (page: Page, selector: string) => page.locator(selector).first().textContent({ timeout: HANG_MS });

describe.skipIf(!CHROMIUM)(`the fleet view in a real browser${CHROMIUM ? '' : ` (${SKIP_REASON})`}`, () => {
  // A daemon's start, several wrapper runs and a browser, each slow on a host loaded by the suite (a
  // trivial wrapper run took 12 s there); the runs that wait on the test have a timeout of minutes,
  // only a hang bound, below this one.
  it.skipIf(NO_SECOND_HOST !== undefined)(`lists the runs of two hosts and links each to its run page${NO_SECOND_HOST ? ` (skipped: ${NO_SECOND_HOST})` : ''}`, { timeout: 900_000 }, async () => {
    const second = `scidex-fleet-${randomBytes(3).toString('hex')}`;
    const stateA = newStateDir();
    const stateB = newStateDir();
    const scratch = mkdtempSync(join(tmpdir(), 'scidex-fleet-page-'));
    const release = join(scratch, 'release');
    const daemons: TestDaemon[] = [];
    const runs: ReturnType<typeof startWrapper>[] = [];
    await database.create();
    try {
      daemons.push(await serveForTest({ stateDir: stateA, databaseUrl: database.url, tag, scratch }));
      daemons.push(await serveForTest({ stateDir: stateB, databaseUrl: database.url, tag, scratch, via: asHost(second) }));
      const [{ base }, { port: portB }] = daemons;
      const serveLog = () => daemons.map((daemon) => daemon.log()).join('\n');
      const wrapperArgs = ['--quiet', '--database-url', database.url, '--sample-interval', '200ms'];
      const wait = ['--timeout', '10min', '--', 'sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.1; done', release];
      runs.push(startWrapper([...wrapperArgs, '--state-dir', stateA, '--analysis-id', `fleet-a-${tag}`, ...wait], { tag, stateDir: stateA }));
      runs.push(startWrapper([...wrapperArgs, '--state-dir', stateB, '--analysis-id', `fleet-b-${tag}`, ...wait], { tag, stateDir: stateB, via: asHost(second) }));
      const killed = await startWrapper([...wrapperArgs, '--state-dir', stateB, '--analysis-id', `fleet-kill-${tag}`, '--timeout', '1s', '--grace', '1s', '--', 'sleep', '30'], { tag, stateDir: stateB, via: asHost(second) });
      expect(killed.exitCode, killed.stderr).toBe(124);

      // Both daemons up in the database, both runs running: the fleet's data says so.
      const fleet = await until(
        () => `/fleet.json to list both hosts up and both runs, the daemons' log:\n${serveLog()}`,
        async () => {
          for (const { process } of daemons) expect(process.exitCode ?? process.signalCode, `serve exited early:\n${serveLog()}`).toBeNull();
          const body = (await fetch(`${base}/fleet.json`).then((r) => (r.ok ? r.json() : undefined)).catch(() => undefined)) as FleetBody | undefined;
          const up = body?.hosts.filter((h) => (h.host === hostname() || h.host === second) && h.daemon === 'up').length;
          const running = body?.running.filter((r) => r.analysis_id?.endsWith(tag)).length;
          return up === 2 && running === 2 ? body : undefined;
        },
        30_000,
        { every: 200 },
      );
      expect(fleet.hosts.find((h) => h.host === second)).toMatchObject({ running: 1, kills_24h: 1, listen: `127.0.0.1:${portB}` });
      const runB = fleet.running.find((r) => r.analysis_id === `fleet-b-${tag}`)!;
      expect(runB.host).toBe(second);

      await withBrowser(CHROMIUM!, tag, async ({ browser }) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const seen = watchPage(page);
        await page.goto(`${base}/fleet`);
        for (const host of [hostname(), second]) await page.locator(`#hosts-body tr[data-host="${host}"][data-daemon="up"]`).waitFor({ timeout: HANG_MS });
        expect(await page.locator(`#hosts-body tr[data-host="${second}"] td.kills`).textContent()).toBe('1');
        expect(await page.locator(`#hosts-body tr[data-host="${second}"] td.listen`).textContent()).toBe(`127.0.0.1:${portB}`);
        for (const who of ['a', 'b']) await page.locator(`#running-body tr[data-analysis-id="fleet-${who}-${tag}"]`).waitFor({ timeout: HANG_MS });
        expect(await page.locator(`#running-body tr[data-analysis-id="fleet-a-${tag}"]`).getAttribute('data-host')).toBe(hostname());
        expect(await page.locator(`#running-body tr[data-analysis-id="fleet-b-${tag}"]`).getAttribute('data-host')).toBe(second);
        // The chart's figures as text: the second host's kill in one of its hours.
        expect((await page.locator('#kills-chart').getAttribute('data-series'))?.split('\n')).toEqual(expect.arrayContaining([hostname(), second]));
        const kills = await page.locator(`#kills-body td.kills[data-host="${second}"]`).evaluateAll((tds) => tds.map((td) => Number(td.getAttribute('data-kills'))));
        expect(kills.reduce((a, b) => a + b, 0)).toBe(1);
        await keepScreenshot(page, 'fleet-page-two-hosts');

        // The filter, kept in the URL.
        await page.fill('#analysis-filter', `fleet-b-${tag}`);
        await page.click('#filter button[type=submit]');
        await until('the filter to apply', async () => (await page.locator('#running-body tr[data-run-id]').count()) === 1, HANG_MS, { every: 100 });
        expect(new URL(page.url()).searchParams.get('analysis_id')).toBe(`fleet-b-${tag}`);
        expect(await page.locator('#running-body tr[data-run-id]').getAttribute('data-analysis-id')).toBe(`fleet-b-${tag}`);
        await keepScreenshot(page, 'fleet-page-filtered');

        // A run's link lands on its run page: the second host's run, read from the database.
        const link = page.locator(`#running-body tr[data-run-id="${runB.id}"] td.run a`);
        expect(await link.getAttribute('href')).toBe(`runs/${runB.id}`);
        await link.click();
        await page.waitForURL(`${base}/runs/${runB.id}`);
        await page.locator('body[data-status="running"]').waitFor({ timeout: HANG_MS });
        expect(await text(page, '#host')).toBe(second);
        expect(await text(page, '#analysis')).toBe(`fleet-b-${tag}`);
        await keepScreenshot(page, 'fleet-page-run-of-second-host');
        expect(seen).toEqual({ dialogs: [], errors: [] });
      });
      writeFileSync(release, '');
      for (const run of runs) expect((await run).exitCode).toBe(0);
    } finally {
      writeFileSync(release, '');
      await Promise.all(runs);
      for (const daemon of daemons) await daemon.stop();
      rmSync(scratch, { recursive: true, force: true });
      await database.drop();
    }
  });

  // A browser's start and a dozen page loads and reads, each slow on a host loaded by the suite.
  it('renders FleetBodies of its own: daemon states, the kills as a chart and as text, HTML as text, the filter, and 503 without a database', { timeout: 180_000 }, async () => {
    const now = Date.now();
    const hour = Math.floor(now / 3_600_000) * 3_600_000;
    const hosts = ['node1', `node2 ${XSS}`];
    const kills: FleetKillHour[] = hosts.flatMap((host, h) =>
      Array.from({ length: 24 }, (_, i) => ({ host, hour: new Date(hour - (23 - i) * 3_600_000).toISOString(), kills: i === 20 ? 2 + h : i === 22 && h === 0 ? 1 : 0 })),
    );
    const body: FleetBody = {
      generated_at: new Date(now).toISOString(),
      analysis_id: null,
      hosts: [
        { host: 'node1', daemon: 'up', daemon_pid: 4242, version: '0.1.0', heartbeat_at: new Date(now - 3000).toISOString(), heartbeat_age_ms: 3000, interval_ms: 10_000, listen: '10.0.0.1:9464', running: 1, kills_24h: 3 },
        { host: `node2 ${XSS}`, daemon: 'stale', daemon_pid: 77, version: '0.1.0', heartbeat_at: new Date(now - 125_000).toISOString(), heartbeat_age_ms: 125_000, interval_ms: 10_000, listen: null, running: 1, kills_24h: 3 },
        { host: 'node3', daemon: 'none', daemon_pid: null, version: null, heartbeat_at: null, heartbeat_age_ms: null, interval_ms: null, listen: null, running: 0, kills_24h: 0 },
      ],
      running: [
        { id: '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10', host: 'node1', analysis_id: `A42 ${XSS}`, pid: 1000, argv: ['Rscript', 'fit.R', '<b>x</b>'], username: 'ana', started_at: new Date(now - 90_000).toISOString(), elapsed_ms: 90_000, heartbeat_at: new Date(now).toISOString(), timeout_ms: 1_800_000, memory_limit_bytes: 2 * GiB, peak_rss_bytes: 1.5 * GiB, rss_bytes: 1.2 * GiB, process_count: 5, adopted: false },
        { id: '00000000-0000-4000-8000-000000000001', host: `node2 ${XSS}`, analysis_id: null, pid: 2000, argv: ['python3', 'b.py'], username: 'bo', started_at: new Date(now - 5000).toISOString(), elapsed_ms: 5000, heartbeat_at: new Date(now).toISOString(), timeout_ms: 0, memory_limit_bytes: 0, peak_rss_bytes: 0, rss_bytes: null, process_count: 1, adopted: true },
      ],
      // More running than the daemon lists (query/fleet.ts FLEET_RUNNING_SHOWN): the heading says so.
      running_total: 750,
      kills,
    };
    let database = true;
    const asked: (string | null)[] = [];
    await withBrowser(CHROMIUM!, tag, async ({ browser }) => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const seen = watchPage(page);
      await serveRoutes(page, 'http://scidex.test', (url) => {
        if (url.pathname === '/fleet') return htmlAnswer(pageOf('fleet'));
        if (url.pathname !== '/fleet.json') return undefined;
        if (!database) return jsonAnswer({ error: FLEET_NEEDS_DATABASE }, 503);
        const analysisId = url.searchParams.get('analysis_id');
        asked.push(analysisId);
        const running = body.running.filter((run) => analysisId === null || run.analysis_id === analysisId);
        return jsonAnswer({ ...body, analysis_id: analysisId, running, running_total: analysisId === null ? body.running_total : running.length });
      });
      await page.goto('http://scidex.test/fleet');
      await page.locator('#hosts-body tr[data-host]').nth(2).waitFor({ timeout: HANG_MS });
      expect(await page.locator('#hosts-body tr[data-host="node1"] td').allTextContents()).toEqual(['node1', 'up', '3 s ago', '0.1.0', '10.0.0.1:9464', '1', '3']);
      expect(await page.locator('#hosts-body tr[data-daemon="stale"] td').allTextContents()).toEqual([`node2 ${XSS}`, 'stale: no heartbeat for 3 intervals', '2m 05s ago', '0.1.0', '–', '1', '3']);
      expect(await page.locator('#hosts-body tr[data-host="node3"] td').allTextContents()).toEqual(['node3', 'no daemon recorded', '–', '–', '–', '0', '0']);

      const first = page.locator('#running-body tr[data-run-id="3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10"]');
      expect(await first.locator('td.analysis').textContent()).toBe(`A42 ${XSS}`);
      expect(await first.locator('td.run a').getAttribute('href')).toBe('runs/3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10');
      expect(await first.locator('td.command').textContent()).toBe("Rscript fit.R '<b>x</b>'");
      expect(await first.locator('.memory-text').textContent()).toBe('RSS 1.2 GiB of 2 GiB');
      expect(await first.locator('.elapsed-text').textContent()).toBe('1m 30s of 30 min');
      const second = page.locator('#running-body tr[data-run-id="00000000-0000-4000-8000-000000000001"]');
      expect(await second.getAttribute('data-host')).toBe(`node2 ${XSS}`);
      expect(await second.locator('.memory-text').textContent()).toBe('no sample yet');
      expect(await second.locator('.elapsed-text').textContent()).toBe('5.0 s, no timeout');
      expect(await text(page, '#running-shown')).toBe('(the 2 oldest of 750)');

      // The chart and its figures: 24 hours, a series per host, the same counts as text.
      expect(await page.locator('#kills-chart').getAttribute('data-points')).toBe('24');
      expect(await page.locator('#kills-chart').getAttribute('data-series')).toBe(hosts.join('\n'));
      expect(await page.locator('#kills-chart canvas').count()).toBeGreaterThan(0);
      expect(await page.locator('#kills-head th[data-host]').allTextContents()).toEqual(hosts);
      const table = await page.locator('#kills-body tr[data-hour]').evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-hour'), ...[...tr.querySelectorAll('td.kills')].map((td) => Number(td.textContent))]),
      );
      expect(table).toEqual(Array.from({ length: 24 }, (_, i) => [kills[i].hour, kills[i].kills, kills[24 + i].kills]));
      expect(await page.evaluate(() => document.querySelectorAll('img, b').length)).toBe(0);
      await keepScreenshot(page, 'fleet-page-routed');

      // The filter: asked of the server and kept in the URL.
      await page.fill('#analysis-filter', `A42 ${XSS}`);
      await page.click('#filter button[type=submit]');
      await until('the filtered read', async () => (await page.locator('#running-body tr[data-run-id]').count()) === 1, HANG_MS, { every: 100 });
      expect(asked).toContain(`A42 ${XSS}`);
      expect(new URL(page.url()).searchParams.get('analysis_id')).toBe(`A42 ${XSS}`);
      expect(await text(page, '#filter-note')).toBe(`of analysis A42 ${XSS}`);
      expect(await text(page, '#running-shown')).toBe('');
      await page.click('#filter-clear');
      await until('the filter to be cleared', async () => (await page.locator('#running-body tr[data-run-id]').count()) === 2, HANG_MS, { every: 100 });
      expect(new URL(page.url()).search).toBe('');

      // A filter in the URL is applied from the first read.
      await page.goto(`http://scidex.test/fleet?analysis_id=nothing-runs`);
      await page.locator('#running-body tr.empty', { hasText: 'no run of this analysis is running' }).waitFor({ timeout: HANG_MS });
      expect(await page.inputValue('#analysis-filter')).toBe('nothing-runs');

      // Submitted several times quickly, the filter cancels the read it replaces: reads never overlap.
      const held: (() => void)[] = [];
      await page.route('**/fleet.json*', async (route) => {
        await new Promise<void>((resolve) => held.push(resolve));
        await route.fallback().catch(() => undefined); // the page may have cancelled it meanwhile
      });
      const cancelled: (string | null)[] = [];
      page.on('requestfailed', (request) => {
        if (new URL(request.url()).pathname === '/fleet.json') cancelled.push(new URL(request.url()).searchParams.get('analysis_id'));
      });
      for (const id of ['B1', 'B2', 'B3']) {
        await page.fill('#analysis-filter', id);
        await page.click('#filter button[type=submit]');
      }
      // Well before the reads' own timeout (FLEET_REFRESH_MS), which would cancel them too.
      await until('the replaced reads to be cancelled', () => ['B1', 'B2'].every((id) => cancelled.includes(id)) || undefined, FLEET_REFRESH_MS / 2, { every: 50 });
      await page.unroute('**/fleet.json*');
      for (const release of held) release();
      await page.locator('#filter-note', { hasText: 'of analysis B3' }).waitFor({ timeout: HANG_MS });
      expect(cancelled).not.toContain('B3');

      // A busy daemon (503 with Retry-After) is said in the banner, and the page reads again: it stops only without a database.
      let busy = true;
      await page.route('**/fleet.json*', (route) =>
        busy
          ? route.fulfill({ status: 503, contentType: 'application/json', headers: { 'Retry-After': '2' }, body: JSON.stringify({ error: 'the daemon is busy: try again' }) })
          : route.fallback(),
      );
      await page.goto('http://scidex.test/fleet');
      await page.locator('#error', { hasText: 'the daemon is busy: try again' }).waitFor({ timeout: HANG_MS });
      busy = false;
      await page.locator('#error').waitFor({ state: 'hidden', timeout: HANG_MS });
      await page.unroute('**/fleet.json*');

      // A daemon without a database: the page says what it needs.
      database = false;
      await page.goto('http://scidex.test/fleet');
      // A read cut off by its timeout under load is said as such and tried again (CI saw one): wait for the sentence.
      await page.locator('#error', { hasText: FLEET_NEEDS_DATABASE }).waitFor({ timeout: HANG_MS });
      expect(await text(page, '#error')).toBe('the fleet view needs a database (--database-url)');
      expect(await text(page, '#updated')).toBe('not updated');
      await keepScreenshot(page, 'fleet-page-routed-no-database');
      expect(seen).toEqual({ dialogs: [], errors: [] });
    });
  });
});
