// Measure 2: /metrics and /status under concurrent scrapes. --clients clients, each doing --requests
// GETs one after the other over a keep-alive node:http Agent (one socket per client, opened by one
// untimed warm-up GET each), timed from the request to the last byte of the body. Each load is run
// --scrape-reps times, interleaved with its peers, and the latencies pooled.
//
// The peers are the floor: a trivial node:http server answering a fixed copy of the same answer
// (same bytes, same headers), (a) in a process of its own (peer-server.mjs), as the daemon is, and
// (b) in this bench process, sharing the event loop with the clients, as the issue words it.
import { writeFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import { log, newFolder, ROOT } from '../common/context.js';
import { start } from '../common/processes.js';
import { signalMember } from '../../../src/terminate/guard.js';
import { identify, rssBytes, type ServeDaemon } from './serve.js';

export interface Load {
  /** Per request, ms. */
  latencies: number[];
  /** Requests per second of each rep (all clients' requests over the rep's wall time). */
  rates: number[];
  /** Non-200 answers and errors. */
  failures: number;
  bodyBytes: number;
}

export interface ScrapeResult {
  path: string;
  clients: number;
  requests: number;
  reps: number;
  daemon: Load;
  peerProcess: Load;
  peerInProcess: Load;
  contentType: string;
  /** The daemon's VmRSS after the loads, bytes. */
  rssAfter?: number;
}

function get(agent: Agent, base: string, path: string): Promise<{ status: number; bytes: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, bytes, type: String(response.headers['content-type']) }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function load(base: string, path: string, clients: number, requests: number, into: Load): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  try {
    await Promise.all(Array.from({ length: clients }, () => get(agent, base, path)));
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let i = 0; i < requests; i++) {
          const t = performance.now();
          try {
            const answer = await get(agent, base, path);
            into.latencies.push(performance.now() - t);
            into.bodyBytes = answer.bytes;
            if (answer.status !== 200) into.failures += 1;
          } catch {
            into.failures += 1;
          }
        }
      }),
    );
    into.rates.push((clients * requests) / ((performance.now() - t0) / 1000));
  } finally {
    agent.destroy();
  }
}

const emptyLoad = (): Load => ({ latencies: [], rates: [], failures: 0, bodyBytes: 0 });

/** One real answer of the daemon: its bytes and content type. */
async function sample(base: string, path: string): Promise<{ body: Buffer; type: string }> {
  const response = await fetch(`${base}${path}`);
  return { body: Buffer.from(await response.arrayBuffer()), type: response.headers.get('content-type') ?? 'text/plain' };
}

export async function scrapes(daemon: ServeDaemon, paths: readonly string[], clients: number, requests: number, reps: number): Promise<ScrapeResult[]> {
  const results: ScrapeResult[] = [];
  for (const path of paths) {
    const { body, type } = await sample(daemon.base, path);
    const folder = newFolder('peer');
    const file = join(folder, 'body');
    writeFileSync(file, body);
    // (a) the floor in a process of its own.
    const peer = start(process.execPath, [join(ROOT, 'scripts/bench/daemon/peer-server.mjs'), file, type], folder, { cwd: ROOT, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit', buffer: false });
    const peerProc = identify(peer.pid);
    const port = await new Promise<number>((resolve) => peer.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    // (b) the floor in this process.
    const local: Server = createServer((_, response) => {
      response.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
      response.end(body);
    });
    await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
    const localPort = (local.address() as { port: number }).port;
    const result: ScrapeResult = { path, clients, requests, reps, daemon: emptyLoad(), peerProcess: emptyLoad(), peerInProcess: emptyLoad(), contentType: type };
    try {
      for (let rep = 0; rep < reps; rep++) {
        log(`scrape ${path}: rep ${rep + 1} of ${reps}`);
        await load(daemon.base, path, clients, requests, result.daemon);
        await load(`http://127.0.0.1:${port}`, path, clients, requests, result.peerProcess);
        await load(`http://127.0.0.1:${localPort}`, path, clients, requests, result.peerInProcess);
      }
    } finally {
      local.closeAllConnections();
      await new Promise((resolve) => local.close(resolve));
      peer.stdin!.end();
      signalMember(peerProc, 'SIGTERM');
      await peer;
    }
    result.rssAfter = rssBytes(daemon.proc.pid);
    results.push(result);
  }
  return results;
}
