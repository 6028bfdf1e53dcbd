// Measure 2: shipping lag while the database is up. Real wrappers (`scidex-run -- sleep 0.2`, a few at
// a time) write to a database where a trigger of ours NOTIFYs each new event row at commit; a LISTEN
// connection here stamps its arrival. Lag = arrival - the record's own `at` (same host, same clock).
// The baseline is this process opening a connection and inserting one event row, as often.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { newFolder, RUN_BIN, wallMs } from '../common/context.js';
import { withPg, type BenchDatabase } from '../common/db.js';
import { runCli, stderrSummary, type CliResult } from '../common/processes.js';

const LIFECYCLE = ['run_started', 'run_finished'] as const;

export interface LagResult {
  runs: number;
  concurrency: number;
  /** Lag per lifecycle kind, ms. */
  lags: Record<(typeof LIFECYCLE)[number], number[]>;
  /** The same for one bare insert on a fresh connection, from this process. */
  baseline: number[];
  wallMs: number;
  notes: string[];
}

export async function shippingLag(db: BenchDatabase, runs: number, concurrency: number): Promise<LagResult> {
  await withPg(db.url, (client) =>
    client.query(`
      CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('bench_events', NEW.id::text); RETURN NEW; END $$;
      CREATE TRIGGER bench_notify AFTER INSERT ON watchdog_events FOR EACH ROW EXECUTE FUNCTION bench_notify();`),
  );
  const arrived = new Map<string, number>();
  const listener = new pg.Client({ connectionString: db.url, application_name: 'scidex-bench' });
  listener.on('error', () => undefined);
  listener.on('notification', (message) => void arrived.set(message.payload!, wallMs()));
  await listener.connect();
  await listener.query('LISTEN bench_events');
  try {
    const stateDir = newFolder('lag');
    const results: CliResult[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < runs) {
          next += 1;
          results.push(await runCli(RUN_BIN, ['--analysis-id', 'bench-lag', '--', 'sleep', '0.2'], stateDir, db.url));
        }
      }),
    );
    const elapsed = performance.now() - t0;
    for (let waited = 0; arrived.size < runs * LIFECYCLE.length && waited < 10_000; waited += 50) await sleep(50);

    const rows = await withPg(db.url, async (client) => {
      const result = await client.query<{ id: string; kind: string; at: Date; run_id: string }>(
        'SELECT id, kind, at, run_id FROM watchdog_events WHERE kind = ANY($1)',
        [LIFECYCLE],
      );
      return result.rows;
    });
    const lags = { run_started: [] as number[], run_finished: [] as number[] };
    for (const row of rows) {
      const at = arrived.get(row.id);
      if (at !== undefined) lags[row.kind as keyof typeof lags].push(at - row.at.getTime());
    }
    const notes = stderrSummary(results);
    const failed = results.filter((result) => result.exitCode !== 0).length;
    if (failed > 0) notes.push(`**${failed} of ${runs} wrappers exited non-zero**`);
    const missing = runs * LIFECYCLE.length - rows.length;
    if (missing > 0) notes.push(`**${missing} of ${runs * LIFECYCLE.length} lifecycle events missing from the table 10 s after the last exit**`);

    // Baseline: one fresh connection and one event row, the run id of a real run.
    const runId = rows[0]?.run_id;
    const baseline: number[] = [];
    for (let i = 0; runId !== undefined && i < runs; i++) {
      const id = randomUUID();
      const at = new Date(wallMs());
      await withPg(db.url, (client) =>
        client.query("INSERT INTO watchdog_events (id, run_id, at, kind, elapsed_ms) VALUES ($1, $2, $3, 'run_started', 0)", [id, runId, at.toISOString()]),
      );
      for (let waited = 0; !arrived.has(id) && waited < 2000; waited += 1) await sleep(1);
      if (arrived.has(id)) baseline.push(arrived.get(id)! - at.getTime());
    }
    return { runs, concurrency, lags, baseline, wallMs: elapsed, notes };
  } finally {
    await listener.end().catch(() => undefined);
  }
}
