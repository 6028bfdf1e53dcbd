/** The daemon's request paths (src/watchdog/http/routes.ts): exact matches, checked run ids, the fleet's filter. */
import { describe, expect, it } from 'vitest';
import { matchRoute } from '../../src/watchdog/http/routes.js';

const ID = '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10';

describe('matchRoute', () => {
  it('knows the pages, their data and /metrics', () => {
    expect(matchRoute('/')).toEqual({ kind: 'live-page' });
    expect(matchRoute('/?x=1')).toEqual({ kind: 'live-page' });
    expect(matchRoute('/status')).toEqual({ kind: 'status' });
    expect(matchRoute('/metrics')).toEqual({ kind: 'metrics' });
    expect(matchRoute(`/runs/${ID}`)).toEqual({ kind: 'run-page', runId: ID });
    expect(matchRoute(`/runs/${ID}.json`)).toEqual({ kind: 'run-view', runId: ID });
    expect(matchRoute('/fleet')).toEqual({ kind: 'fleet-page' });
    expect(matchRoute('/fleet.json')).toEqual({ kind: 'fleet', analysisId: null });
    expect(matchRoute('/fleet.json?analysis_id=')).toEqual({ kind: 'fleet', analysisId: null });
    expect(matchRoute('/fleet.json?analysis_id=A%2042%20%3Cb%3E')).toEqual({ kind: 'fleet', analysisId: 'A 42 <b>' });
  });

  it('serves nothing else: malformed run ids, other paths, traversal', () => {
    for (const url of [
      '/runs/',
      '/runs/xyz',
      `/runs/${ID.toUpperCase()}`,
      `/runs/${ID}/`,
      `/runs/${ID}.jsonx`,
      `/runs/${ID}.html`,
      `/runs/../status`.replace('..', '%2e%2e'),
      `/runs/${ID}%00`,
      '/fleet/',
      '/fleet.json/x',
      '/status/',
      '/index.html',
      '//evil.example/status',
    ]) {
      expect(matchRoute(url), url).toBeUndefined();
    }
  });
});
