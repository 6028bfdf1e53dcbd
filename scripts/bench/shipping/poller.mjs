// The pg_stat_activity poller of measure 5, in a process of its own: the bench process is busy
// spawning 200 wrappers and reading their pipes, and polls from there came every ~100 ms instead of
// 10. Run by peak.ts as `node poller.mjs URL DATABASE` (from the repository, so `pg` resolves), at a
// raised priority where allowed. Prints `ready` once connected, polls every ~10 ms until its stdin
// closes, then prints one JSON line: {peak, peakAll, polls, ms}.
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

const [url, database] = process.argv.slice(2);
try {
  setPriority(-10);
} catch {
  // not root: the default priority
}
const client = new pg.Client({ connectionString: url, application_name: 'scidex-bench' });
await client.connect();
let open = true;
process.stdin.on('end', () => (open = false)).resume();
console.log('ready');
const result = { peak: 0, peakAll: 0, polls: 0 };
const t0 = performance.now();
while (open) {
  const { rows } = await client.query(
    `SELECT count(*) FILTER (WHERE application_name = 'scidex-run' AND datname = $1)::int AS ours,
            count(*) FILTER (WHERE backend_type = 'client backend')::int AS all FROM pg_stat_activity`,
    [database],
  );
  result.peak = Math.max(result.peak, rows[0].ours);
  result.peakAll = Math.max(result.peakAll, rows[0].all);
  result.polls += 1;
  await sleep(10);
}
await client.end();
console.log(JSON.stringify({ ...result, ms: performance.now() - t0 }));
