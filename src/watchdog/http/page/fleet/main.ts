/**
 * The fleet view's script (`GET /fleet`; docs/operations.md, "The fleet view"): every host with its
 * daemon's state, the running runs of all hosts (each linking to its run page) and the kills per
 * host and hour of the last 24 h, from PostgreSQL. It reads `fleet.json` beside its own URL (GET
 * /fleet.json, a FleetBody of src/query/fleet-body.ts) every FLEET_REFRESH_MS and redraws in place.
 * The analysis id filter (#filter: #analysis-filter, #filter-clear) is kept in the page's URL
 * (`?analysis_id=`), so a filtered view can be bookmarked and shared; #filter-note says what is
 * filtered; a filter submitted again while a read is under way cancels that read. A daemon without
 * a database answers 503 with the sentence shown in the #error banner (role=alert), and the page
 * stops reading; another failure (a busy daemon's 503 with Retry-After too) shows there and is
 * tried again.
 *
 * Stable hooks for tests and scrapers: body[data-generated-at] (the database's now of the last
 * read), #error, #updated, #filter-note, and those of hosts.ts, running.ts and kills.ts.
 *
 * scripts/build-page.mjs bundles this file (uPlot included) into the page's one inline script,
 * which the page's Content-Security-Policy allows by its sha256, with connections to its own
 * origin only. Everything read is drawn as text (dom.ts).
 */
import type { FleetBody } from '../../../../query/fleet-body.js';
import { hook, setText, showError } from '../dom.js';
import { readJson, ReadError, whyFailed } from '../fetch.js';
import { clock } from '../../../../query/words/format.js';
import { FLEET_REFRESH_MS } from '../refresh.js';
import { renderHosts } from './hosts.js';
import { renderKills } from './kills.js';
import { renderRunning } from './running.js';

/** A read that has not answered by then has failed, in ms. */
const FETCH_TIMEOUT_MS = FLEET_REFRESH_MS;

const input = hook('analysis-filter') as HTMLInputElement;
let timer: ReturnType<typeof setTimeout> | undefined;
/** Counts the reads started, so that an answer overtaken by a newer read (a filter changed meanwhile) is dropped. */
let generation = 0;
/** Cancels the read in flight: a newer one (the filter submitted again) replaces it rather than run beside it. */
let inFlight: AbortController | undefined;

/** The filter as the URL holds it; null for none. */
function analysisFilter(): string | null {
  return new URLSearchParams(location.search).get('analysis_id') || null;
}

/** One read and redraw; the next is scheduled once this one is over. */
async function refresh(): Promise<void> {
  clearTimeout(timer);
  inFlight?.abort();
  const cancel = (inFlight = new AbortController());
  const mine = ++generation;
  const filter = analysisFilter();
  const url = filter === null ? 'fleet.json' : `fleet.json?${new URLSearchParams({ analysis_id: filter })}`;
  let again = true;
  try {
    const body = await readJson<FleetBody>(url, FETCH_TIMEOUT_MS, cancel.signal);
    if (mine !== generation) return;
    showError(null);
    document.body.setAttribute('data-generated-at', body.generated_at);
    renderHosts(body.hosts);
    renderRunning(body.running, body.analysis_id !== null);
    renderKills(body.kills);
    setText('filter-note', body.analysis_id === null ? '' : `of analysis ${body.analysis_id}`);
    // The daemon lists a bounded number (query/fleet.ts FLEET_RUNNING_SHOWN); an older one sends no total.
    const total = body.running_total ?? body.running.length;
    setText('running-shown', total > body.running.length ? `(the ${body.running.length} oldest of ${total})` : '');
    setText('updated', `updated ${clock(body.generated_at)}, every ${FLEET_REFRESH_MS / 1000} s`);
  } catch (error) {
    if (mine !== generation) return;
    // A 503 for good (no database) stops the reads; one for now (Retry-After: the daemon or the database busy) does not.
    if (error instanceof ReadError && error.status === 503 && error.sentence !== null && !error.temporary) {
      again = false;
      showError(error.sentence);
      setText('updated', 'not updated');
    } else {
      showError(`cannot read the fleet: ${whyFailed(error, url, FETCH_TIMEOUT_MS)}`);
    }
  }
  if (again) timer = setTimeout(() => void refresh(), FLEET_REFRESH_MS);
}

/** Puts the filter in the URL (no reload: history.replaceState) and reads at once. */
function applyFilter(value: string): void {
  const url = new URL(location.href);
  if (value === '') url.searchParams.delete('analysis_id');
  else url.searchParams.set('analysis_id', value);
  history.replaceState(null, '', url);
  void refresh();
}

input.value = analysisFilter() ?? '';
hook('filter').addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilter(input.value.trim());
});
hook('filter-clear').addEventListener('click', () => {
  input.value = '';
  applyFilter('');
});
void refresh();
