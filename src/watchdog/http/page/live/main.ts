/**
 * The live page's script, for a person watching a host (README, "The live page"). It only reads
 * `GET /status` (relative URL, `cache: 'no-store'`) every PAGE_REFRESH_MS and redraws in place,
 * without reloading; when a read fails, the #unreachable banner shows over the last data read.
 * What it draws is in header.ts, runs.ts and events.ts, with the stable hooks tests and scrapers
 * use; how it touches the DOM (text, never HTML) in dom.ts.
 *
 * scripts/build-page.mjs bundles this file into the page's one inline script (an IIFE), which
 * the page's Content-Security-Policy allows by its sha256, with connections to its own origin only.
 */
import type { HostStatus } from '../../../status-body.js';
import { readJson, whyFailed } from '../fetch.js';
import { renderEvents } from './events.js';
import { renderHeader, tick, type Reading } from './header.js';
import { PAGE_REFRESH_MS } from '../refresh.js';
import { renderRuns } from './runs.js';

/** A read of /status that has not answered by then has failed, in ms: two refresh periods. */
const FETCH_TIMEOUT_MS = 2 * PAGE_REFRESH_MS;

/** How often the ages on the page move on between reads, in ms. */
const TICK_MS = 1000;

const reading: Reading = { status: null, atMs: 0, error: null };

/** One read and redraw; the next is scheduled only once this one is over, so reads never pile up. */
async function refresh(): Promise<void> {
  try {
    const status = await readJson<HostStatus>('/status', FETCH_TIMEOUT_MS);
    Object.assign(reading, { status, atMs: Date.now(), error: null });
    renderHeader(status);
    renderRuns(status.runs);
    renderEvents(status.recent_events);
  } catch (error) {
    reading.error = whyFailed(error, '/status', FETCH_TIMEOUT_MS);
  }
  tick(reading);
  setTimeout(() => void refresh(), PAGE_REFRESH_MS);
}

setInterval(() => tick(reading), TICK_MS);
void refresh();
