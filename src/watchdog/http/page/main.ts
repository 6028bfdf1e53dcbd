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
import type { HostStatus } from '../../status-body.js';
import { renderEvents } from './events.js';
import { renderHeader, tick, type Reading } from './header.js';
import { PAGE_REFRESH_MS } from './refresh.js';
import { renderRuns } from './runs.js';

/** A read of /status that has not answered by then has failed, in ms: two refresh periods. */
const FETCH_TIMEOUT_MS = 2 * PAGE_REFRESH_MS;

/** How often the ages on the page move on between reads, in ms. */
const TICK_MS = 1000;

const reading: Reading = { status: null, atMs: 0, error: null };

/** Reads /status. @throws when it does not answer in time, answers other than 200, or not with a JSON object */
async function readStatus(): Promise<HostStatus> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
  try {
    const response = await fetch('/status', { cache: 'no-store', headers: { accept: 'application/json' }, signal: controller.signal });
    if (!response.ok) throw new Error(`/status answered HTTP ${response.status}`);
    const body: unknown = await response.json();
    if (body === null || typeof body !== 'object') throw new Error('/status is not a JSON object');
    return body as HostStatus;
  } finally {
    clearTimeout(timer);
  }
}

/** Why a read failed, in the words of the banner. */
function whyFailed(error: unknown): string {
  if (error instanceof DOMException && error.name === 'AbortError') return `no answer within ${FETCH_TIMEOUT_MS / 1000} s`;
  if (error instanceof SyntaxError) return '/status is not JSON';
  return (error instanceof Error && error.message) || 'fetch failed';
}

/** One read and redraw; the next is scheduled only once this one is over, so reads never pile up. */
async function refresh(): Promise<void> {
  try {
    const status = await readStatus();
    Object.assign(reading, { status, atMs: Date.now(), error: null });
    renderHeader(status);
    renderRuns(status.runs);
    renderEvents(status.recent_events);
  } catch (error) {
    reading.error = whyFailed(error);
  }
  tick(reading);
  setTimeout(() => void refresh(), PAGE_REFRESH_MS);
}

setInterval(() => tick(reading), TICK_MS);
void refresh();
