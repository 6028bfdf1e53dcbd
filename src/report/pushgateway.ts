/**
 * `--pushgateway URL`: when a run ends, its final figures go to a Prometheus Pushgateway, the
 * convention for batch and cron jobs that no scraper can catch while they live.
 *
 * Bounded on every side: one request, at most PUSH_TIMEOUT_MS, never an exception, never a change
 * of the run's exit status. A failure is one warning line and the metrics are dropped (the journal
 * and PostgreSQL keep everything; a Pushgateway is a convenience for alerting).
 */
import { hostname } from 'node:os';
import { messageLine } from '../config/text.js';
import type { RunEnd } from './run-end.js';

/** Job name of every push: `/metrics/job/scidex_run/...`. */
export const PUSH_JOB = 'scidex_run';

/** How long a push may take, all included (connect, send, answer), milliseconds. */
export const PUSH_TIMEOUT_MS = 3000;

/** One gauge of the push: its name, help, and the value with its labels (none when `labels` is absent). */
interface PushedGauge {
  name: string;
  help: string;
  value: number;
  labels?: Record<string, string>;
}

/**
 * Characters a label value may keep as is in the URL path: RFC 3986's unreserved set (section 2.3),
 * which no client, proxy or router encodes, decodes or splits on.
 */
const PLAIN_VALUE = /^[A-Za-z0-9._~-]+$/;

/**
 * The grouping key of a run's push: `{analysis_id}` when the run has one, else `{instance: host}`.
 * Bounded by design: a run id would make one group per run, which a Pushgateway keeps for ever.
 *
 * A value goes in the path as is only when it is made of unreserved characters and is not `.` or
 * `..`, which URL resolution removes as dot segments (RFC 3986 section 5.2.4; prom-client resolves
 * the path with url.resolve, and the Pushgateway's router cleans it). Any other value, empty, with a
 * `/`, `.`, `..`, a space or any non-ASCII character, is sent base64url-encoded (RFC 4648 section 5)
 * under `<label>@base64`, and the empty value as `=`: the Pushgateway's README ("URL" section)
 * defines this form as the only one that carries a `/` or an empty value.
 * @returns one label name (with `@base64` when encoded) and its path segment value
 */
export function groupingOf(analysisId: string | null, host: string = hostname()): Record<string, string> {
  const [label, value] = analysisId !== null ? ['analysis_id', analysisId] : ['instance', host];
  if (PLAIN_VALUE.test(value) && value !== '.' && value !== '..') return { [label]: value };
  return { [`${label}@base64`]: Buffer.from(value, 'utf8').toString('base64url') || '=' };
}

/**
 * The gauges pushed for a finished run. Units: seconds, bytes, seconds since the epoch.
 *  - scidex_run_last_exit_status{status}: scidex-run's exit status, with the run's status (completed, timeout, ...);
 *  - scidex_run_last_duration_seconds, scidex_run_last_peak_rss_bytes, scidex_run_last_cpu_seconds;
 *  - scidex_run_last_peak_pss_bytes: NaN when PSS was never read (it is read only when the tree's RSS
 *    goes over the memory limit), so that an earlier run's figure does not linger in the group;
 *  - scidex_run_last_success_timestamp_seconds: only for a completed run, so that a failed run leaves
 *    the last success in place (the push is a POST: it replaces only the metrics it carries);
 *  - scidex_run_last_killed{reason}: 1 with reason timeout, memory, kernel_oom or orphans when scidex-run (or the kernel's OOM killer inside the run) killed; else 0.
 */
export function runGauges(end: RunEnd): PushedGauge[] {
  const { record } = end;
  const gauges: PushedGauge[] = [
    {
      name: 'scidex_run_last_exit_status',
      help: "scidex-run's exit status of the last run (124 timeout, 137 memory, 125 internal), labelled with its status.",
      value: record.exit_status ?? -1,
      labels: { status: record.status },
    },
    { name: 'scidex_run_last_duration_seconds', help: 'Wall-clock duration of the last run, seconds.', value: end.durationSeconds },
    { name: 'scidex_run_last_peak_rss_bytes', help: 'Peak RSS of the whole process tree of the last run, bytes.', value: record.peak_rss_bytes },
    { name: 'scidex_run_last_cpu_seconds', help: 'CPU time (user + system) of every process of the last run, seconds.', value: record.cpu_seconds },
    {
      name: 'scidex_run_last_killed',
      help: "Whether scidex-run, or the kernel's OOM killer at its memory backstop, killed the last run (reason: timeout, memory, host_pressure, kernel_oom or orphans).",
      value: end.killedFor ? 1 : 0,
      labels: end.killedFor ? { reason: end.killedFor } : undefined,
    },
    {
      name: 'scidex_run_last_peak_pss_bytes',
      help: 'Peak PSS of the whole process tree of the last run, bytes; NaN when it was not read (only read when RSS went over the memory limit).',
      value: record.peak_pss_bytes ?? Number.NaN,
    },
  ];
  if (record.status === 'completed') {
    gauges.push({
      name: 'scidex_run_last_success_timestamp_seconds',
      help: 'When the last successful (completed) run ended, seconds since the epoch.',
      value: end.endedAtSeconds,
    });
  }
  return gauges;
}

/** The URL as it may be printed: the password, if any, masked. */
export function displayUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/**
 * Pushes a finished run's gauges to the Pushgateway at `url` (POST /metrics/job/scidex_run/<grouping>,
 * text exposition format) through prom-client's Pushgateway, with a registry of its own.
 * Never throws and never takes longer than about `timeoutMs`: a failure (refused, timed out, an
 * HTTP error) calls `warn` once with `pushgateway <url> unreachable (<why>): metrics not pushed`.
 * @returns whether the Pushgateway accepted the push
 */
export async function pushRunMetrics(
  url: string,
  end: RunEnd,
  warn: (line: string) => void,
  timeoutMs: number = PUSH_TIMEOUT_MS,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  // Belt and braces: the request has its own socket timeout and abort signal, and this race
  // bounds even what precedes the request (loading prom-client, rendering the registry).
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs + 100);
  });
  try {
    await Promise.race([push(url, end, timeoutMs), deadline]);
    return true;
  } catch (error) {
    warn(`pushgateway ${displayUrl(url)} unreachable (${describe(error, timeoutMs)}): metrics not pushed`);
    return false;
  } finally {
    clearTimeout(timer);
  }
}

async function push(url: string, end: RunEnd, timeoutMs: number): Promise<void> {
  // Loaded only when a push is asked for: most runs never pay for it.
  const { Gauge, Pushgateway, Registry } = await import('prom-client');
  // A fresh registry: the push carries this run's gauges and nothing else (no default metrics of the wrapper).
  const registry = new Registry();
  for (const gauge of runGauges(end)) {
    const metric = new Gauge({ name: gauge.name, help: gauge.help, labelNames: Object.keys(gauge.labels ?? {}), registers: [registry] });
    if (gauge.labels) metric.set(gauge.labels, gauge.value);
    else metric.set(gauge.value);
  }
  const gateway = new Pushgateway(url, { timeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) }, registry);
  // POST (pushAdd), not PUT: it replaces the metrics of the same names in the group and keeps the
  // others, so the last success timestamp survives the failed runs that follow it.
  const { resp } = await gateway.pushAdd({ jobName: PUSH_JOB, groupings: groupingOf(end.record.analysis_id) });
  // prom-client fails only on 400 and above; a redirect is not followed, so nothing was stored.
  const status = (resp as { statusCode?: number } | undefined)?.statusCode;
  if (status !== undefined && (status < 200 || status >= 300)) throw new Error(`HTTP ${status}`);
}

/** One short line for the warning: an errno code, an HTTP status, or a message cut to its first line. */
function describe(error: unknown, timeoutMs: number): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code && code !== 'ABORT_ERR') return code;
  if ((error as Error)?.name === 'AbortError' || code === 'ABORT_ERR') return `no answer within ${timeoutMs} ms`;
  // The text may come from the server's answer body: no control characters reach the terminal.
  const firstLine = messageLine(message);
  return firstLine.length > 120 ? `${firstLine.slice(0, 117)}...` : firstLine;
}
