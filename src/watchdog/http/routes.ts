/**
 * What each request path of `scidex-watchdog serve` asks for (server.ts answers it): the pages
 * (`/`, `/runs/<run id>`, `/fleet`), their data (`/status`, `/runs/<run id>.json`,
 * `/fleet.json?analysis_id=X`) and `/metrics`. A path is matched exactly; a run id must be one
 * (config/run-id.ts: a lower-case UUID), so a malformed one is no route (404), and nothing of a
 * path reaches the records but a checked run id, or an analysis id that `scidex-run --analysis-id`
 * would take (anything else is a bad request: 400).
 */
import { analysisIdProblem } from '../../config/run-config.js';
import { RUN_ID_PATTERN } from '../../config/run-id.js';

/** A request the server knows. */
export type Route =
  | { kind: 'live-page' }
  | { kind: 'status' }
  | { kind: 'metrics' }
  | { kind: 'run-page'; runId: string }
  | { kind: 'run-view'; runId: string }
  | { kind: 'fleet-page' }
  /** `analysisId`: the `analysis_id` query parameter, null when absent or empty. */
  | { kind: 'fleet'; analysisId: string | null }
  /** A known path asked with a parameter scidex-run would refuse (an analysis id with a NUL): `error` says why. */
  | { kind: 'bad-request'; error: string };

const RUN_PATH = new RegExp(`^/runs/(${RUN_ID_PATTERN})(\\.json)?$`);

/**
 * The route of a request's URL (path and query, as the request line has it), or undefined for a
 * path the server does not serve.
 */
export function matchRoute(url: string): Route | undefined {
  // The path as sent, never normalised (no dot segments resolved, nothing decoded): exact or nothing.
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (path === '/') return { kind: 'live-page' };
  if (path === '/status') return { kind: 'status' };
  if (path === '/metrics') return { kind: 'metrics' };
  if (path === '/fleet') return { kind: 'fleet-page' };
  if (path === '/fleet.json') {
    const analysisId = (query < 0 ? null : new URLSearchParams(url.slice(query + 1)).get('analysis_id')) || null;
    // The rule of `scidex-run --analysis-id`: no id it would refuse reaches the database (a NUL is PostgreSQL's error).
    const problem = analysisId === null ? null : analysisIdProblem(analysisId);
    if (problem !== null) return { kind: 'bad-request', error: `invalid analysis_id: ${problem}` };
    return { kind: 'fleet', analysisId };
  }
  const run = RUN_PATH.exec(path);
  if (run) return run[2] ? { kind: 'run-view', runId: run[1] } : { kind: 'run-page', runId: run[1] };
  return undefined;
}
