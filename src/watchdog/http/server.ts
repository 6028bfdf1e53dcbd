/**
 * The HTTP side of `scidex-watchdog serve`, on node:http alone: `GET /metrics` (Prometheus text),
 * `GET /status` (JSON), `GET /` (the live page of page.ts), `GET /runs/<id>` (the run page) and
 * its data `GET /runs/<id>.json` (a RunView; 404 with `{error}` for a run there is no record of),
 * `GET /fleet` (the fleet view) and its data `GET /fleet.json?analysis_id=X` (a FleetBody; 503 with
 * `{error}` when the daemon has no database; 400 with `{error}` for an analysis id scidex-run would
 * refuse). The paths are routes.ts's; any other path is 404 (a malformed run id too); HEAD answers
 * as GET without the body, any other method 405. Every answer carries `Cache-Control: no-store`:
 * each is a reading of now; a page carries its policy as headers too (page.ts pageHeaders). A JSON
 * route's failure is a JSON `{error}` too, so its page can show why: 503 with Retry-After when the
 * daemon is busy (Unavailable: its page reads are all taken) or the database is (a read past its
 * time, connect.ts readTimedOut), else 500.
 *
 * The listener is bound before anything else of the daemon starts (listenOn), so a port in use or
 * an address that is not ours is bad input, reported before the first sweep.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { UsageError } from '../../config/errors.js';
import type { FleetBody } from '../../query/fleet-body.js';
import { readTimedOut } from '../../record/connect.js';
import { describeDatabaseError } from '../../record/db-error.js';
import type { RunView } from '../../query/run-view-body.js';
import { page, pageHeaders, type PageName } from './page.js';
import { matchRoute, type Route } from './routes.js';

/** Where to listen. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** What the server serves; each function is called per request. */
export interface Endpoints {
  /** The Prometheus exposition text and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The /status object. */
  status(): unknown;
  /** One run's view (GET /runs/<id>.json); undefined when there is no record of it. @throws Unavailable; the database's or the state directory's errors */
  runView(runId: string): Promise<RunView | undefined>;
  /** The fleet's view (GET /fleet.json), filtered by analysis id; absent when the daemon has no database. @throws Unavailable; the database's errors */
  fleet?: (analysisId: string | null) => Promise<FleetBody>;
}

/** A reading refused for now (503): the answer says why and when to ask again. */
export class Unavailable extends Error {
  override name = 'Unavailable';
  constructor(
    message: string,
    /** When to ask again, seconds (Retry-After). */
    readonly retryAfterS: number,
  ) {
    super(message);
  }
}

/** When to ask again after a database read that ran out of time, seconds. */
const BUSY_RETRY_AFTER_S = 5;

/** What /fleet.json answers (503) and the fleet page shows when the daemon has no database. */
export const FLEET_NEEDS_DATABASE = 'the fleet view needs a database (--database-url)';

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` (e.g. `[::1]:9464`).
 * @throws UsageError for anything else (no port, a port outside 0-65535, an unbracketed IPv6 address)
 */
export function parseListen(text: string): ListenAddress {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 0 && port <= 65_535) || (text.startsWith('[') && isIP(match[1]) !== 6)) {
    throw new UsageError(`invalid --listen '${text}': expected HOST:PORT, such as 127.0.0.1:9464 or [::1]:9464`);
  }
  return { host: match[1], port };
}

/** `HOST:PORT`, IPv6 hosts in brackets. */
export function formatListen(address: ListenAddress): string {
  return isIP(address.host) === 6 ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

const PAGE_TYPE = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';
const TEXT_TYPE = 'text/plain; charset=utf-8';

function send(response: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  response.writeHead(status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  });
  response.end(body);
}

const json = (body: unknown) => JSON.stringify(body) + '\n';

const sendPage = (response: ServerResponse, name: PageName) => send(response, 200, PAGE_TYPE, page(name), pageHeaders(name));

/** Answers a known route's GET. */
async function answer(endpoints: Endpoints, route: Route, response: ServerResponse): Promise<void> {
  switch (route.kind) {
    case 'live-page':
      return sendPage(response, 'live');
    case 'run-page':
      return sendPage(response, 'run');
    case 'fleet-page':
      return sendPage(response, 'fleet');
    case 'bad-request':
      return send(response, 400, JSON_TYPE, json({ error: route.error }));
    case 'status':
      return send(response, 200, JSON_TYPE, json(endpoints.status()));
    case 'run-view': {
      const view = await endpoints.runView(route.runId);
      if (view === undefined) return send(response, 404, JSON_TYPE, json({ error: `no such run: ${route.runId}` }));
      return send(response, 200, JSON_TYPE, json(view));
    }
    case 'fleet':
      if (!endpoints.fleet) return send(response, 503, JSON_TYPE, json({ error: FLEET_NEEDS_DATABASE }));
      return send(response, 200, JSON_TYPE, json(await endpoints.fleet(route.analysisId)));
    case 'metrics': {
      const { contentType, body } = await endpoints.metrics();
      return send(response, 200, contentType, body);
    }
  }
}

async function handle(endpoints: Endpoints, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const route = matchRoute(request.url ?? '/');
  if (!route) return send(response, 404, TEXT_TYPE, 'not found\n');
  // HEAD is GET whose body node:http leaves out (the headers, Content-Length included, stay).
  if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, TEXT_TYPE, 'method not allowed\n', { Allow: 'GET, HEAD' });
  try {
    return await answer(endpoints, route, response);
  } catch (error) {
    if (error instanceof Unavailable) return send(response, 503, JSON_TYPE, json({ error: error.message }), { 'Retry-After': String(error.retryAfterS) });
    if (readTimedOut(error)) {
      return send(response, 503, JSON_TYPE, json({ error: `the database is busy: ${describeDatabaseError(error)}` }), { 'Retry-After': String(BUSY_RETRY_AFTER_S) });
    }
    // A reading that failed (a state directory gone, the database down) is the reader's 500, never the daemon's end.
    // The pages' data say why in one line without secrets (a database error's first line, control characters escaped).
    if (route.kind === 'run-view' || route.kind === 'fleet') return send(response, 500, JSON_TYPE, json({ error: describeDatabaseError(error) }));
    return send(response, 500, TEXT_TYPE, `error: ${(error as Error).message ?? error}\n`);
  }
}

/**
 * Binds the listener and resolves once it listens.
 * @returns the server and the address it really listens on (port 0 gives an ephemeral port)
 * @throws UsageError when the address cannot be bound (EADDRINUSE, EADDRNOTAVAIL, EACCES, a name that does not resolve)
 */
export async function listenOn(address: ListenAddress, endpoints: Endpoints): Promise<{ server: Server; address: ListenAddress }> {
  const server = createServer((request, response) => {
    void handle(endpoints, request, response);
  });
  // Idle keep-alive connections must not hold a stopping daemon open for long.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => {
      const why = {
        EADDRINUSE: 'the address is already in use',
        EADDRNOTAVAIL: 'the address is not one of this host',
        EACCES: 'permission denied (a port below 1024 needs root)',
        ENOTFOUND: 'the host name does not resolve',
        EAI_AGAIN: 'the host name does not resolve',
      }[error.code ?? ''] ?? error.code ?? error.message;
      reject(new UsageError(`cannot listen on ${formatListen(address)}: ${why}`));
    };
    server.once('error', failed);
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const bound = server.address();
  const port = bound && typeof bound === 'object' ? bound.port : address.port;
  return { server, address: { host: address.host, port } };
}

/** Stops accepting, ends idle and open connections, and resolves once the server is closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests in flight are short (a reading of files); past a second they are cut.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}
