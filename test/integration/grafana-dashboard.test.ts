/**
 * The Grafana dashboard (packaging/grafana/scidex-run.json) against a real Prometheus (Debian's
 * package `prometheus`) scraping a real `scidex-watchdog serve` with runs of every kind recorded:
 * every panel's query, its template variables resolved as Grafana would, returns data, and the
 * JSON is one Grafana imports (a datasource and targets on every panel, unique ids, only metric
 * names the daemon exposes). Grafana itself is not run. Skipped without a prometheus binary.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parser } from '@prometheus-io/lezer-promql';
import type { ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runsOfEveryKind, startServe, stopServe } from '../helpers/metrics-runs.js';
import { killSurvivors, newTag, ownedTag } from '../helpers/processes.js';
import { instantQuery, labelValues, prometheusBinary, startPrometheus, type QueryAnswer, type RealPrometheus } from '../helpers/prometheus.js';
import { freeLoopbackPort, gone } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { newStateDir } from '../helpers/wrapper.js';

const DASHBOARD_FILE = fileURLToPath(new URL('../../packaging/grafana/scidex-run.json', import.meta.url));
const SKIP_REASON = "skipped: prometheus is not installed (Debian's package prometheus); .ci/run installs it";
const JOB = 'scidex-watchdog';
/**
 * Grafana's built-in interval variables, as Grafana would fill them for the last hour at a 1 s
 * scrape interval ($__rate_interval is at least four scrape intervals).
 */
const BUILT_IN: Record<string, string> = { __rate_interval: '5s', __interval: '1s', __range: '1h' };

interface Target {
  expr: string;
  refId: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  /** The data source's query: a string for Prometheus (`label_values(selector, label)`), as Grafana has always read it. */
  query: string;
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
/** Every panel but rows (a row only groups), collapsed rows' panels included. */
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((panel) => panel.type !== 'row');
const queries = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ panel, target })));
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** The one series the daemon leaves out on a host whose kernel has no PSI: its panel is then empty, as it should be. */
const PSI_METRIC = 'scidex_host_memory_pressure_full_avg10';
const NO_PSI = !existsSync('/proc/pressure/memory');

/** Escapes a value for a regex matcher as Grafana's Prometheus datasource does (the backslash doubled, for the PromQL string). */
function regexEscaped(value: string): string {
  return value.replace(/[\\$^*+?.()|[\]{}']/g, (special) => `\\\\${special}`);
}

/** A multi-value variable with every value selected ("All"), as Grafana puts it in a query: `(a|b)`, or the value alone. */
function allOf(values: string[]): string {
  const escaped = values.map(regexEscaped);
  return escaped.length === 1 ? escaped[0] : `(${escaped.join('|')})`;
}

/**
 * The expression with its variables (`$name`, `${name}`) replaced.
 * @throws naming a variable neither the dashboard nor Grafana defines
 */
function substituted(expr: string, values: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = values[name] ?? BUILT_IN[name];
    if (value === undefined) throw new Error(`${JSON.stringify(expr)} uses $${name}, which is no variable of the dashboard`);
    return value;
  });
}

/**
 * The metric names an expression selects, by Prometheus' own PromQL grammar.
 * @throws on a syntax error, or a selector without a metric name (`{__name__=...}`: it escapes the check)
 */
function metricNames(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`${JSON.stringify(expr)}: PromQL syntax error at ${node.from}`);
      if (node.name !== 'VectorSelector') return;
      const name = node.node.getChild('Identifier');
      if (!name) throw new Error(`${JSON.stringify(expr)}: a selector without a metric name`);
      names.push(expr.slice(name.from, name.to));
    },
  });
  return names;
}

/** The names of the samples in an exposition text (histograms as their _bucket, _sum and _count). */
function exposedNames(text: string): Set<string> {
  return new Set(text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.split(/[{ ]/)[0]));
}

/** A query's answer, judged: undefined when it holds at least one finite sample, else what is wrong with it. */
function lack(expr: string, answer: QueryAnswer): string | undefined {
  if (answer.status !== 'success') return `error: ${answer.error}`;
  const { result } = answer.data;
  if (NO_PSI && metricNames(expr).includes(PSI_METRIC)) return result.length === 0 ? undefined : 'a PSI series on a host without PSI';
  if (result.length === 0) return 'no series';
  return result.some((sample) => Number.isFinite(Number(sample.value[1]))) ? undefined : `no finite value: ${JSON.stringify(result)}`;
}

/**
 * The values of a panel's first query, by the value of the label it groups by ('' when it does not).
 * @param title the panel's title
 */
async function panelValues(url: string, title: string, values: Record<string, string>): Promise<Record<string, number>> {
  const { target } = queries.find(({ panel }) => panel.title === title)!;
  const answer = await instantQuery(url, substituted(target.expr, values));
  if (answer.status !== 'success') throw new Error(`panel "${title}": ${answer.error}`);
  return Object.fromEntries(answer.data.result.map((sample) => [Object.values(sample.metric)[0] ?? '', Number(sample.value[1])]));
}

describe.skipIf(!prometheusBinary())(`the Grafana dashboard against a real Prometheus${prometheusBinary() ? '' : ` (${SKIP_REASON})`}`, () => {
  const tag = ownedTag();
  // The daemon and Prometheus outlive single tests: a tag of their own, checked when the file is done.
  const serverTag = newTag();
  const stateDir = newStateDir();
  let daemon: ResultPromise<{ reject: false }> | undefined;
  let prometheus: RealPrometheus | undefined;
  let instance = '';

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    instance = `127.0.0.1:${port}`;
    daemon = startServe(stateDir, port, serverTag);
    prometheus = await startPrometheus(JOB, [instance], { SCIDEX_TEST_TAG: serverTag });
    // Scraped before any run ends: the counters' first samples are 0, so increase() counts every run.
    await until(
      () => `Prometheus to scrape the daemon; its log: ${prometheus?.log()}`,
      async () => {
        const scraped = `scidex_sweeps_total{instance="${instance}"}`;
        return lack(scraped, await instantQuery(prometheus!.url, scraped)) === undefined;
      },
      60_000,
      { every: 250 },
    );
    // Prometheus's start and its first scrape of the daemon, each bounded at 60 s above.
  }, 180_000);

  afterAll(async () => {
    const server = prometheus;
    await server?.stop();
    if (server) expect(gone(server.pid, server.starttime)).toBe(true);
    expect(await stopServe(daemon)).toBe(0);
    expect(await killSurvivors(serverTag)).toEqual([]);
  }, 60_000);

  it('is a dashboard Grafana imports: unique ids, a Prometheus datasource and targets on every panel, only metric names the daemon exposes', async () => {
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
    const ids = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list.find((variable) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const exposed = exposedNames(await (await fetch(`http://${instance}/metrics`, { signal: AbortSignal.timeout(10_000) })).text());
    if (NO_PSI) exposed.add(PSI_METRIC);
    const wrong: string[] = [];
    for (const panel of panels) {
      if (JSON.stringify(panel.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`${panel.title}: datasource ${JSON.stringify(panel.datasource)}`);
      if (!panel.targets?.length) wrong.push(`${panel.title}: no target`);
      for (const target of panel.targets ?? []) {
        if (JSON.stringify(target.datasource) !== JSON.stringify(DATASOURCE)) wrong.push(`${panel.title} ${target.refId}: datasource ${JSON.stringify(target.datasource)}`);
        try {
          const unknown = metricNames(substituted(target.expr, { job: JOB, instance })).filter((name) => !exposed.has(name));
          if (unknown.length) wrong.push(`${panel.title} ${target.refId}: ${unknown.join(', ')} not exposed`);
        } catch (error) {
          wrong.push(`${panel.title} ${target.refId}: ${(error as Error).message}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('evaluates every panel query to data, on a daemon with runs completed, failed, killed for time and memory, and running', async () => {
    const { exitCodes, running, release } = await runsOfEveryKind(stateDir, tag);
    try {
      expect(exitCodes).toEqual([0, 3, 124, 137]);
      // The variables as Grafana resolves them, in order (a later one may use an earlier one), all values selected.
      const values: Record<string, string> = {};
      for (const variable of dashboard.templating.list.filter((each) => each.type === 'query')) {
        const [, selector, label] = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.query) ?? [];
        expect(selector, `variable ${variable.name}: ${variable.query}`).toBeDefined();
        const found = await labelValues(prometheus!.url, label, substituted(selector, values));
        expect(found, `variable ${variable.name}`).toEqual([{ job: JOB, instance }[variable.name]]);
        values[variable.name] = allOf(found);
      }
      // Each query until it has data: the running run is still held, every finished one scraped.
      const lacking = new Map<string, string>();
      await until(
        () => `every panel query to return data; still lacking:\n${[...lacking].map(([query, why]) => `${query}: ${why}`).join('\n')}`,
        async () => {
          lacking.clear();
          for (const { panel, target } of queries) {
            const expr = substituted(target.expr, values);
            const answer = await instantQuery(prometheus!.url, expr);
            // A query Prometheus refuses does not get better by waiting.
            if (answer.status !== 'success') throw new Error(`panel "${panel.title}" (id ${panel.id}) query ${target.refId} ${expr}: ${answer.error}`);
            const why = lack(expr, answer);
            if (why) lacking.set(`panel "${panel.title}" (id ${panel.id}) query ${target.refId} ${expr}`, why);
          }
          return lacking.size === 0;
        },
        80_000,
        { every: 500 },
      );
      // Figures the runs above make certain, as the panels show them (increase() extrapolates: at least the count).
      let shown = '';
      await until(
        () => `the panels to show the runs; they show ${shown}`,
        async () => {
          const [runningNow, finished, kills] = await Promise.all(['Running runs', 'Finished runs by status in range', 'Kills by reason in range'].map((title) => panelValues(prometheus!.url, title, values)));
          shown = JSON.stringify({ runningNow, finished, kills });
          const counted = (by: Record<string, number>, keys: string[]) => keys.every((key) => by[key] >= 1);
          return runningNow[''] === 1 && counted(finished, ['completed', 'failed', 'timeout', 'out_of_memory']) && counted(kills, ['timeout', 'memory']);
        },
        60_000,
        { every: 500 },
      );
    } finally {
      release();
    }
    expect((await running).exitCode).toBe(0);
    // Five wrapper runs, then the waits above (80 s and 60 s): more than 120 s on a host loaded by the suite.
  }, 300_000);
});
