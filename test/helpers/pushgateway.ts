/**
 * A real Prometheus Pushgateway of the test's own (Debian's prometheus-pushgateway): a free loopback
 * port, no persistence file (metrics in memory only; Debian's default would write under
 * /var/lib/prometheus), ready once GET /-/ready answers 200.
 *
 * Stopping is checked, not trusted: stop() sends SIGTERM to the pid we spawned (a graceful exit) and
 * returns only once that process is gone.
 */
import { delimiter } from 'node:path';
import which from 'which';
import { awaitReady, freeLoopbackPort, spawnServer } from './server-host.js';

/** The Pushgateway binary: `prometheus-pushgateway` (Debian's name) or `pushgateway` (upstream's) on PATH or in /usr/bin; undefined when neither is installed. */
export function pushgatewayBinary(): string | undefined {
  const path = [process.env.PATH ?? '', '/usr/bin'].join(delimiter);
  for (const name of ['prometheus-pushgateway', 'pushgateway']) {
    const found = which.sync(name, { nothrow: true, path });
    if (found) return found;
  }
  return undefined;
}

/** A running Pushgateway. */
export interface RealPushgateway {
  /** `http://127.0.0.1:<port>`, what --pushgateway takes. */
  readonly url: string;
  readonly pid: number;
  /** Its starttime (/proc/PID/stat): with the pid, its identity. */
  readonly starttime: number | undefined;
  /** Its stderr so far (its log). */
  log(): string;
  /** SIGTERM to its pid; resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Starts a Pushgateway on a free loopback port and waits until it is ready.
 * @throws when none is installed, it exits at start, or it is not ready within 10 s (with its log)
 */
export async function startPushgateway(): Promise<RealPushgateway> {
  const binary = pushgatewayBinary();
  if (!binary) throw new Error('no Pushgateway installed (prometheus-pushgateway or pushgateway)');
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const server = await spawnServer('the Pushgateway', binary, [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn']);
  await awaitReady(server, 'the Pushgateway', url, 60_000);
  return { url, pid: server.pid, starttime: server.starttime, log: server.stderr, stop: server.stop };
}

/** One group of the Pushgateway's API (GET /api/v1/metrics): its grouping labels, and each metric's samples. */
export interface PushedGroup {
  labels: Record<string, string>;
  metrics: Record<string, { labels: Record<string, string>; value: string }[]>;
}

/**
 * The groups a Pushgateway holds, read through its API (GET /api/v1/metrics, documented in the
 * Pushgateway's README, "API"): each group's grouping labels, and the samples of each metric.
 */
export async function pushedGroups(url: string): Promise<PushedGroup[]> {
  const response = await fetch(`${url}/api/v1/metrics`, { signal: AbortSignal.timeout(5000) });
  if (response.status !== 200) throw new Error(`GET /api/v1/metrics: HTTP ${response.status}`);
  const body = (await response.json()) as { status: string; data: Record<string, unknown>[] };
  return body.data.map((group) => {
    const metrics: PushedGroup['metrics'] = {};
    for (const [name, value] of Object.entries(group)) {
      const samples = (value as { metrics?: unknown })?.metrics;
      if (Array.isArray(samples)) metrics[name] = samples as PushedGroup['metrics'][string];
    }
    return { labels: group.labels as Record<string, string>, metrics };
  });
}
