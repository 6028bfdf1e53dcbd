// Measure 5: peak server connections for many concurrent runs. All wrappers are started at once; a
// poller (poller.mjs, a process of its own) reads pg_stat_activity every ~10 ms for the backends named
// scidex-run in the bench database (wrappers, and any `scidex-watchdog ship` they start), until the
// wrappers have exited and whatever they left in the background has ended. Two commands:
//   - `sleep 2`, as asked: on 2 cores the wrappers' start-up spreads the runs out, so few overlap;
//   - `together`: each run sleeps until one shared moment, late enough that every wrapper is up by
//     then, so all runs are in progress at once, and end and ship their last records together.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { newFolder, ROOT, RUN_BIN } from '../common/context.js';
import type { BenchDatabase } from '../common/db.js';
import { runCli, settle, start, stderrSummary } from '../common/processes.js';

export type PeakCommand = 'sleep 2' | 'together';

export interface PeakResult {
  server: string;
  command: string;
  runs: number;
  /** Most scidex-run backends in the bench database at once. */
  peak: number;
  /** Most client backends on the whole server at once (others' included). */
  peakAll: number;
  /** Client backends on the server before the runs started (others' and ours). */
  before: number;
  /** Mean time between two polls of pg_stat_activity, ms. */
  pollMs: number;
  /** Most runs in progress at once (started_at..ended_at of their rows). */
  overlap: number;
  /** With `together`: from the shared moment to the last wrapper's exit, ms. */
  tailMs?: number;
  /** First spawn to last exit, ms. */
  wallMs: number;
  failed: number;
  /** Run rows `completed` when the last wrapper exited, and once background shippers ended. */
  rowsAtExit: number;
  rowsAfter: number;
  /** Journals without their `.shipped` mark at the end. */
  unshipped: number;
  notes: string[];
}

const OVERLAP = `SELECT coalesce(max(n), 0)::int AS n FROM (SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n
  FROM (SELECT started_at AS t, 1 AS d FROM watchdog_runs UNION ALL SELECT ended_at, -1 FROM watchdog_runs WHERE ended_at IS NOT NULL) e) x`;
const COMPLETED = "SELECT count(*)::int AS n FROM watchdog_runs WHERE status = 'completed'";
const BACKENDS = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend'";

export async function peakConnections(db: BenchDatabase, runs: number, mode: PeakCommand): Promise<PeakResult> {
  // The shared end: 0.3 s of start-up per wrapper (~0.2 s on an idle 2-core machine), at least 10 s.
  const endsAt = Date.now() + Math.max(10_000, runs * 300);
  const command = mode === 'sleep 2' ? ['sleep', '2'] : ['python3', '-c', `import time; time.sleep(max(0, ${endsAt / 1000} - time.time()))`];
  const described = mode === 'sleep 2' ? '`sleep 2`' : `a sleep until one shared moment ${Math.round((endsAt - Date.now()) / 1000)} s after the spawns`;
  const stateDir = newFolder('peak');
  const monitor = new pg.Client({ connectionString: db.url, application_name: 'scidex-bench' });
  monitor.on('error', () => undefined);
  await monitor.connect();
  const count = async (sql: string): Promise<number> => (await monitor.query<{ n: number }>(sql)).rows[0].n;
  const poller = start(process.execPath, [join(ROOT, 'scripts/bench/shipping/poller.mjs'), db.url, db.name], stateDir, {
    cwd: ROOT, stdin: 'pipe', stdout: 'pipe', stderr: 'inherit',
  });
  try {
    const before = await count(BACKENDS);
    await new Promise((resolve) => poller.stdout!.once('data', resolve));
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: runs }, () => runCli(RUN_BIN, ['--analysis-id', 'bench-peak', '--', ...command], stateDir, db.url)));
    const wallMs = performance.now() - t0;
    const tailMs = mode === 'together' ? Date.now() - endsAt : undefined;
    const rowsAtExit = await count(COMPLETED);
    const background = await settle(60_000, [poller.pid]);
    poller.stdin!.end();
    const polled = JSON.parse(String((await poller).stdout).trim().split('\n').at(-1)!) as { peak: number; peakAll: number; polls: number; ms: number };

    const names = readdirSync(join(stateDir, 'journal'));
    const unshipped = names.filter((name) => name.endsWith('.jsonl') && !names.includes(name.replace(/\.jsonl$/, '.shipped'))).length;
    const notes = stderrSummary(results);
    if (background.killed.length > 0) notes.push(`**still running 60 s after the last exit, killed by pid**: ${background.killed.join('; ')}`);
    return {
      server: db.server.label, command: described, runs, peak: polled.peak, peakAll: polled.peakAll, before, pollMs: polled.ms / polled.polls,
      overlap: await count(OVERLAP), tailMs, wallMs, failed: results.filter((result) => result.exitCode !== 0).length,
      rowsAtExit, rowsAfter: await count(COMPLETED), unshipped, notes,
    };
  } finally {
    poller.stdin?.end();
    await monitor.end().catch(() => undefined);
  }
}
