/**
 * What each request path of `scidex-watchdog serve` asks for (server.ts answers it): the pages
 * (`/`, `/runs/<run id>`, `/fleet`), their data (`/status`, `/runs/<run id>.json`,
 * `/fleet.json?analysis_id=X`) and `/metrics`. A path is matched exactly; a run id must be one
 * (config/run-id.ts: a lower-case UUID), so a malformed one is no route (404), and nothing of a
 * path reaches the records but a checked run id.
 */
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
  | { kind: 'fleet'; analysisId: string | null };

const RUN_PATH = new RegExp(`^/runs/(${RUN_ID_PATTERN})(\\.json)?$`);

/**
 * The route of a request's URL (path and query, as the request line has it), or undefined for a
 * path the server does not serve.
 */
export function matchRoute(url: string): Route | undefined {
  let parsed: URL;
  try {
    // The base only completes an origin-relative request target; it is never contacted.
    parsed = new URL(url, 'http://request.invalid');
  } catch {
    return undefined;
  }
  const path = parsed.pathname;
  if (path === '/') return { kind: 'live-page' };
  if (path === '/status') return { kind: 'status' };
  if (path === '/metrics') return { kind: 'metrics' };
  if (path === '/fleet') return { kind: 'fleet-page' };
  if (path === '/fleet.json') return { kind: 'fleet', analysisId: parsed.searchParams.get('analysis_id') || null };
  const run = RUN_PATH.exec(path);
  if (run) return run[2] ? { kind: 'run-view', runId: run[1] } : { kind: 'run-page', runId: run[1] };
  return undefined;
}
