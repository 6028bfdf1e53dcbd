/**
 * The daemon's HTTP answers for the pages (src/watchdog/http/server.ts), on a real listener on
 * loopback with endpoints of the test's own: the run page and its data (404 JSON for no such run,
 * 404 for a malformed id, 500 JSON when the reading fails), the fleet view and its data (503 with
 * the sentence without a database, the analysis id passed on, 400 for one scidex-run would refuse),
 * HEAD as GET, 405 for other methods, no-store, the pages' policy headers, 503 with Retry-After.
 */
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetBody } from '../../src/query/fleet-body.js';
import type { RunView } from '../../src/query/run-view-body.js';
import { closeServer, FLEET_NEEDS_DATABASE, listenOn, Unavailable, type Endpoints } from '../../src/watchdog/http/server.js';
import { page } from '../../src/watchdog/http/page.js';

const KNOWN = '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10';
const BROKEN = '00000000-0000-4000-8000-00000000beef';
const BUSY = '00000000-0000-4000-8000-00000000b05e';
const view = { run: { id: KNOWN } } as unknown as RunView;
const fleetAsked: (string | null)[] = [];

const endpoints: Endpoints = {
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
  status: () => ({}),
  runView: async (runId) => {
    if (runId === BROKEN) throw new Error('database down');
    if (runId === BUSY) throw new Unavailable('all busy', 7);
    return runId === KNOWN ? view : undefined;
  },
  fleet: async (analysisId) => {
    fleetAsked.push(analysisId);
    return { analysis_id: analysisId } as FleetBody;
  },
};

const servers: Server[] = [];
let withDatabase = '';
let withoutDatabase = '';

beforeAll(async () => {
  const a = await listenOn({ host: '127.0.0.1', port: 0 }, endpoints);
  const b = await listenOn({ host: '127.0.0.1', port: 0 }, { ...endpoints, fleet: undefined });
  servers.push(a.server, b.server);
  withDatabase = `http://127.0.0.1:${a.address.port}`;
  withoutDatabase = `http://127.0.0.1:${b.address.port}`;
});

afterAll(async () => {
  for (const server of servers) await closeServer(server);
});

const answer = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, init);
  return { status: response.status, type: response.headers.get('content-type'), cache: response.headers.get('cache-control'), body: await response.text() };
};

describe('the pages on the daemon listener', () => {
  it('serves the run page and its data, 404 JSON for no such run, 500 JSON for a failed reading, 404 for a malformed id', async () => {
    expect(await answer(`${withDatabase}/runs/${KNOWN}`)).toEqual({ status: 200, type: 'text/html; charset=utf-8', cache: 'no-store', body: page('run') });
    expect(await answer(`${withDatabase}/runs/${KNOWN}.json`)).toEqual({ status: 200, type: 'application/json; charset=utf-8', cache: 'no-store', body: `${JSON.stringify(view)}\n` });
    const missing = '00000000-0000-4000-8000-000000000000';
    expect(await answer(`${withDatabase}/runs/${missing}.json`)).toMatchObject({ status: 404, type: 'application/json; charset=utf-8', body: `${JSON.stringify({ error: `no such run: ${missing}` })}\n` });
    expect(await answer(`${withDatabase}/runs/${BROKEN}.json`)).toMatchObject({ status: 500, body: `${JSON.stringify({ error: 'database down' })}\n` });
    expect((await answer(`${withDatabase}/runs/NOT-A-RUN`)).status).toBe(404);
    expect((await answer(`${withDatabase}/runs/${KNOWN}`, { method: 'POST' })).status).toBe(405);
  });

  it('serves the fleet view and its data with the analysis id, and 503 with its sentence without a database', async () => {
    expect(await answer(`${withDatabase}/fleet`)).toMatchObject({ status: 200, body: page('fleet') });
    expect(JSON.parse((await answer(`${withDatabase}/fleet.json?analysis_id=A%2042`)).body)).toEqual({ analysis_id: 'A 42' });
    expect(JSON.parse((await answer(`${withDatabase}/fleet.json`)).body)).toEqual({ analysis_id: null });
    expect(fleetAsked).toEqual(['A 42', null]);
    expect(await answer(`${withoutDatabase}/fleet.json`)).toMatchObject({ status: 503, cache: 'no-store', body: `${JSON.stringify({ error: FLEET_NEEDS_DATABASE })}\n` });
    expect(FLEET_NEEDS_DATABASE).toBe('the fleet view needs a database (--database-url)');
    // The page itself is served either way: it says the sentence.
    expect((await answer(`${withoutDatabase}/fleet`)).status).toBe(200);
  });

  it('gives each page a policy of its own script and style, with connections to its origin only', () => {
    for (const name of ['live', 'run', 'fleet'] as const) {
      const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page(name))?.[1] ?? '';
      expect(csp).toMatch(/^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-[A-Za-z0-9+/=]+'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'$/);
      expect(page(name).match(/<script>/g)).toHaveLength(1);
    }
  });

  it('sends each page its policy as a header too, with frame-ancestors none and X-Frame-Options DENY', async () => {
    for (const [path, name] of [['/', 'live'], [`/runs/${KNOWN}`, 'run'], ['/fleet', 'fleet']] as const) {
      const response = await fetch(`${withDatabase}${path}`);
      await response.text();
      const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page(name))?.[1];
      expect(response.headers.get('content-security-policy')).toBe(`${meta}; frame-ancestors 'none'`);
      expect(response.headers.get('x-frame-options')).toBe('DENY');
    }
    // The data are not pages: no policy to send.
    expect((await fetch(`${withDatabase}/fleet.json`)).headers.get('x-frame-options')).toBeNull();
  });

  it('answers HEAD as GET without a body, 400 JSON for an analysis id scidex-run would refuse, 503 with Retry-After when busy', async () => {
    for (const path of ['/', '/status', '/metrics', `/runs/${KNOWN}`, `/runs/${KNOWN}.json`, '/fleet', '/fleet.json']) {
      const get = await fetch(`${withDatabase}${path}`);
      const head = await fetch(`${withDatabase}${path}`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-type'), head.headers.get('content-length'), await head.text()]).toEqual(
        [200, get.headers.get('content-type'), String(Buffer.byteLength(await get.text())), ''],
      );
    }
    expect(await answer(`${withDatabase}/fleet`, { method: 'DELETE' })).toMatchObject({ status: 405 });
    expect((await fetch(`${withDatabase}/fleet`, { method: 'PUT' })).headers.get('allow')).toBe('GET, HEAD');
    const asked = fleetAsked.length;
    expect(await answer(`${withDatabase}/fleet.json?analysis_id=%00`)).toMatchObject({
      status: 400, type: 'application/json; charset=utf-8', body: `${JSON.stringify({ error: 'invalid analysis_id: it contains control characters' })}\n`,
    });
    expect(await answer(`${withDatabase}/fleet.json?analysis_id=${'a'.repeat(257)}`)).toMatchObject({
      status: 400, body: `${JSON.stringify({ error: 'invalid analysis_id: 257 characters, at most 256' })}\n`,
    });
    expect(fleetAsked.length).toBe(asked);
    expect(JSON.parse((await answer(`${withDatabase}/fleet.json?analysis_id=${'a'.repeat(256)}`)).body)).toEqual({ analysis_id: 'a'.repeat(256) });
    const busy = await fetch(`${withDatabase}/runs/${BUSY}.json`);
    expect([busy.status, busy.headers.get('retry-after'), await busy.json()]).toEqual([503, '7', { error: 'all busy' }]);
  });
});
