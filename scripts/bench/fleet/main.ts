// Benchmark of the fleet view's read (src/query/fleet.ts readFleet), what GET /fleet.json costs the
// database at every refresh of the page (5 s): a database of its own, migrated by the product, filled
// with generate_series (--runs runs over 8 hosts and 30 days, --running of them running, 30 samples
// and 5 events a run, a kill's signal_sent pair on 1 run in 20 of the last 2 days), then readFleet
// timed --reps times after one warm-up, with no analysis filter and with one.
//
// Options: --runs N (100000), --running N (2000), --reps N (20), --admin-url URL (postgresql://postgres@127.0.0.1:5432/postgres).
//
// Bundled on the fly by scripts/bench/run.mjs (`npm run bench -- --only fleet`) into dist/bench/fleet.mjs.
// Prints a Markdown report on stdout. It starts no process but `scidex-watchdog migrate`.
import { parseArgs } from 'node:util';
import { readFleet } from '../../../src/query/fleet.js';
import { log } from '../common/context.js';
import { BenchDatabase, existingServer, withPg } from '../common/db.js';
import { finishPart } from '../common/finish.js';
import { median } from '../tracking/stats.js';

const { values: options } = parseArgs({
  options: { runs: { type: 'string' }, running: { type: 'string' }, reps: { type: 'string' }, 'admin-url': { type: 'string' } },
});
const RUNS = Number(options.runs ?? 100_000);
const RUNNING = Number(options.running ?? 2000);
const REPS = Number(options.reps ?? 20);
const ADMIN_URL = options['admin-url'] ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const SAMPLES_PER_RUN = 30;
const EVENTS_PER_RUN = 5;

// Run i starts i/RUNS of 30 days ago; the last RUNNING of them (the newest) are running.
const FILL = [
  `INSERT INTO watchdog_runs (id, revision, analysis_id, host, boot_id, wrapper_pid, wrapper_starttime, pid, argv, cwd, username,
     timeout_ms, memory_limit_bytes, grace_ms, orphan_policy, tracking_backend, journal_path, started_at, heartbeat_at, ended_at, status)
   SELECT md5('run' || i)::uuid, 1, 'analysis-' || (i % 500), 'host-' || (i % 8), 'boot', 1000 + i % 30000, i, 2000 + i % 30000,
     ARRAY['python3', 'job.py'], '/tmp', 'user', 3600000, 1073741824, 10000, 'kill', 'cgroup', '/tmp/j.jsonl',
     now() - (${RUNS} - i) * interval '30 days' / ${RUNS},
     now() - (${RUNS} - i) * interval '30 days' / ${RUNS} + interval '20 minutes',
     CASE WHEN i > ${RUNS - RUNNING} THEN NULL ELSE now() - (${RUNS} - i) * interval '30 days' / ${RUNS} + interval '20 minutes' END,
     CASE WHEN i > ${RUNS - RUNNING} THEN 'running' ELSE 'completed' END
     FROM generate_series(1, ${RUNS}) i`,
  `INSERT INTO watchdog_samples (id, run_id, at, elapsed_ms, rss_bytes, cpu_seconds, process_count)
   SELECT md5('sample' || i || '/' || s)::uuid, md5('run' || i)::uuid, r.started_at + s * interval '10 seconds', s * 10000, s * 1048576, s, 2
     FROM generate_series(1, ${RUNS}) i CROSS JOIN generate_series(1, ${SAMPLES_PER_RUN}) s
     JOIN watchdog_runs r ON r.id = md5('run' || i)::uuid`,
  `INSERT INTO watchdog_events (id, run_id, analysis_id, at, kind, elapsed_ms)
   SELECT md5('event' || i || '/' || e)::uuid, r.id, r.analysis_id, r.started_at + e * interval '1 minute',
     CASE WHEN e >= 4 AND i % 20 = 0 AND r.started_at > now() - interval '2 days' THEN 'signal_sent' WHEN e = 1 THEN 'run_started' ELSE 'run_finished' END, e * 60000
     FROM generate_series(1, ${RUNS}) i CROSS JOIN generate_series(1, ${EVENTS_PER_RUN}) e
     JOIN watchdog_runs r ON r.id = md5('run' || i)::uuid`,
  `INSERT INTO watchdog_daemons (host, pid, started_at, heartbeat_at, interval_ms, version)
   SELECT 'host-' || h, 100 + h, now() - interval '1 day', now(), 30000, 'bench' FROM generate_series(0, 7) h`,
  'ANALYZE',
];

async function timeReads(url: string, analysisId: string | null): Promise<number[]> {
  const database = { url, display: url };
  await readFleet(database, analysisId);
  const times: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const t0 = performance.now();
    await readFleet(database, analysisId);
    times.push(performance.now() - t0);
  }
  return times;
}

const server = await existingServer(ADMIN_URL);
if (!server) throw new Error(`bench(fleet): no server answers at ${ADMIN_URL}`);
const db = await BenchDatabase.create(server);
const out: string[] = [];
let failed = false;
try {
  const t0 = performance.now();
  await withPg(db.url, async (client) => {
    for (const sql of FILL) await client.query(sql);
  });
  const counts = await db.counts();
  log(`filled in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(counts)}`);
  out.push(`Database: ${server.label}; ${counts.runs} runs (${RUNNING} running) over 8 hosts, ${counts.samples} samples, ${counts.events} events.`, '');
  out.push('| readFleet | median | max |', '|---|---|---|');
  for (const analysisId of [null, 'analysis-7']) {
    const times = await timeReads(db.url, analysisId);
    out.push(`| ${analysisId === null ? 'all analyses' : `?analysis_id=${analysisId}`} (${REPS} reps) | ${median(times).toFixed(1)} ms | ${Math.max(...times).toFixed(1)} ms |`);
  }
} catch (error) {
  failed = true;
  out.push(`bench(fleet) failed: ${error instanceof Error ? error.stack : error}`);
}
await finishPart('fleet', out.join('\n'), failed, [db], [], 0);
