// Measure 4: database round trips per run. Each wrapper's DATABASE_URL points at the counting proxy
// in front of the bench database; a fresh state dir per run, so no leftover shipper joins in. The
// baseline ships the journal of the last `-- true` run through the same proxy with bare pg.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { bareShip } from './baseline.js';
import { newFolder, RUN_BIN } from '../common/context.js';
import type { BenchDatabase } from '../common/db.js';
import { runCli, stderrSummary, type CliResult } from '../common/processes.js';
import { CountingProxy, type Traffic } from './proxy.js';

export interface TrafficRow {
  label: string;
  /** Bare pg, not scidex-run. */
  baseline: boolean;
  /** Per run: connections opened, and the sums over them. */
  perRun: (Traffic & { connections: number })[];
  notes: string[];
}

const sum = (traffic: Traffic[]): Traffic & { connections: number } => ({
  connections: traffic.length,
  roundTrips: traffic.reduce((total, t) => total + t.roundTrips, 0),
  statements: traffic.reduce((total, t) => total + t.statements, 0),
  bytesUp: traffic.reduce((total, t) => total + t.bytesUp, 0),
  bytesDown: traffic.reduce((total, t) => total + t.bytesDown, 0),
});

export async function roundTrips(db: BenchDatabase, reps: number): Promise<TrafficRow[]> {
  const target = new URL(db.url);
  const proxy = await CountingProxy.start(target.hostname, Number(target.port || 5432));
  const proxied = new URL(db.url);
  proxied.host = `127.0.0.1:${proxy.port}`;
  const rows: TrafficRow[] = [];
  let lastJournal: string[] = [];
  try {
    for (const [label, command] of [['`scidex-run -- true`', ['true']], ['`scidex-run -- sleep 2`', ['sleep', '2']]] as const) {
      const row: TrafficRow = { label, baseline: false, perRun: [], notes: [] };
      const results: CliResult[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const stateDir = newFolder('round-trips');
        await proxy.take();
        const result = await runCli(RUN_BIN, ['--analysis-id', 'bench-round-trips', '--', ...command], stateDir, proxied.toString());
        results.push(result);
        row.perRun.push(sum(await proxy.take()));
        if (result.exitCode !== 0) row.notes.push(`**exit ${result.exitCode}**`);
        if (command[0] === 'true') lastJournal = readdirSync(join(stateDir, 'journal')).filter((n) => n.endsWith('.jsonl')).map((n) => join(stateDir, 'journal', n));
      }
      row.notes.push(...stderrSummary(results));
      rows.push(row);
    }
    await db.truncate();
    await bareShip(proxied.toString(), lastJournal);
    rows.push({ label: 'bare pg: the same `-- true` journal, one transaction', baseline: true, perRun: [sum(await proxy.take())], notes: [] });
  } finally {
    await proxy.close();
  }
  return rows;
}
