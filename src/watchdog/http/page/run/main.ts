/**
 * The run page's script (`GET /runs/<id>`; docs/operations.md, "The run page"): one run's header,
 * its tree memory over time with the limit and the kill, its processes and its events, and, while
 * it runs on this host, its live figures. It reads `<id>.json` beside its own URL (GET
 * /runs/<id>.json, a RunView of src/query/run-view-body.ts) and, while the run is `running`,
 * again every RUN_REFRESH_MS, redrawing in place; an ended run is read once. A run the daemon does
 * not know (404), or a read that failed, shows in the #error banner (role=alert); a failed read is
 * tried again, a 404 is not.
 *
 * Stable hooks for tests and scrapers: body[data-status] (the run's status, once read), #error,
 * #updated, and those of header.ts, memory.ts, tables.ts and live.ts.
 *
 * scripts/build-page.mjs bundles this file (uPlot included) into the page's one inline script,
 * which the page's Content-Security-Policy allows by its sha256, with connections to its own
 * origin only. Everything of the records is drawn as text (dom.ts).
 */
import type { RunView } from '../../../../query/run-view-body.js';
import { setText, showError } from '../dom.js';
import { readJson, ReadError, whyFailed } from '../fetch.js';
import { clock } from '../../../../query/words/format.js';
import { RUN_REFRESH_MS } from '../refresh.js';
import { renderHeader } from './header.js';
import { renderLive } from './live.js';
import { renderMemory } from './memory.js';
import { renderTables } from './tables.js';

/** A read that has not answered by then has failed, in ms. */
const FETCH_TIMEOUT_MS = 2 * RUN_REFRESH_MS;

/** The run id: the last segment of the page's path, as the server matched it. */
const runId = decodeURIComponent(location.pathname.slice(location.pathname.lastIndexOf('/') + 1));
const url = `${encodeURIComponent(runId)}.json`;

/** One read and redraw; the next is scheduled only once this one is over, and only while the run runs. */
async function refresh(): Promise<void> {
  let again = true;
  try {
    const view = await readJson<RunView>(url, FETCH_TIMEOUT_MS);
    showError(null);
    renderHeader(view);
    renderLive(view.live);
    renderMemory(view);
    renderTables(view);
    again = view.run.status === 'running';
    setText('updated', again ? `updated ${clock(new Date().toISOString())}, every ${RUN_REFRESH_MS / 1000} s while it runs` : `read ${clock(new Date().toISOString())}; the run has ended`);
  } catch (error) {
    if (error instanceof ReadError && error.status === 404) {
      again = false;
      showError(`no such run: ${runId}`);
      setText('status', 'not found');
    } else {
      showError(`cannot read the run: ${whyFailed(error, url, FETCH_TIMEOUT_MS)}`);
    }
  }
  if (again) setTimeout(() => void refresh(), RUN_REFRESH_MS);
}

void refresh();
