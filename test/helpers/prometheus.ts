/**
 * A real Prometheus server of the test's own (Debian's package `prometheus`): a free loopback
 * port, its TSDB and config in a temporary directory, scraping the given targets every second,
 * ready once GET /-/ready answers 200. Stopped by its pid and starttime (server-host.ts), never
 * by name; stop() also removes its directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import which from 'which';
import { awaitReady, freeLoopbackPort, spawnServer } from './server-host.js';

/** The prometheus binary on PATH or in /usr/bin; undefined when it is not installed. */
export function prometheusBinary(): string | undefined {
  return which.sync('prometheus', { nothrow: true, path: [process.env.PATH ?? '', '/usr/bin'].join(delimiter) }) ?? undefined;
}

/** A running Prometheus. */
export interface RealPrometheus {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  /** Its starttime (/proc/PID/stat): with the pid, its identity. */
  readonly starttime: number | undefined;
  /** Its stderr so far (its log). */
  log(): string;
  /** SIGTERM to its pid (SIGKILL after 10 s); resolves once the process is gone and its directory removed. */
  stop(): Promise<void>;
}

/** One sample of an instant query's answer: its labels and its value (a number in a string, "NaN" and "+Inf" included). */
export interface InstantSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** What GET /api/v1/query answers (Prometheus' HTTP API): a vector of samples, or the error. */
export type QueryAnswer = { status: 'success'; data: { resultType: string; result: InstantSample[] } } | { status: 'error'; errorType: string; error: string };

/**
 * Starts a Prometheus that scrapes `targets` (host:port, path /metrics) as job `job`, once a second.
 * @param env its environment (a test tag, so that a survivor is found)
 * @throws when it is not installed, exits at start, or is not ready within 30 s (with its log)
 */
export async function startPrometheus(job: string, targets: string[], env: NodeJS.ProcessEnv): Promise<RealPrometheus> {
  const binary = prometheusBinary();
  if (!binary) throw new Error("prometheus is not installed (Debian's package prometheus)");
  const dir = mkdtempSync(join(tmpdir(), 'scidex-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  // JSON is YAML: no YAML writer needed for three keys.
  const scrape = { job_name: job, scrape_interval: '1s', scrape_timeout: '1s', static_configs: [{ targets }] };
  writeFileSync(config, JSON.stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: [scrape] }));
  const port = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const args = [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'];
  const server = await spawnServer('Prometheus', binary, args, { env: { ...process.env, ...env } });
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await awaitReady(server, 'Prometheus', url, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: server.pid, starttime: server.starttime, log: server.stderr, stop };
}

/**
 * Evaluates a PromQL expression at the present through GET /api/v1/query.
 * @throws when the answer is not JSON (a network failure, a proxy's page)
 */
export async function instantQuery(url: string, expr: string): Promise<QueryAnswer> {
  const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`, { signal: AbortSignal.timeout(10_000) });
  return (await response.json()) as QueryAnswer;
}

/**
 * The values of a label over the series that match a selector, through GET /api/v1/label/<name>/values
 * (what Grafana's label_values(selector, label) variables ask).
 */
export async function labelValues(url: string, label: string, selector: string): Promise<string[]> {
  const response = await fetch(`${url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': selector })}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as { status: string; data?: string[]; error?: string };
  if (body.status !== 'success') throw new Error(`label values of ${label} over ${selector}: ${body.error}`);
  return body.data ?? [];
}
