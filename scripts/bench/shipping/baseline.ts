// The baseline: bare `pg` doing the simplest correct thing with the same journal lines. Read and
// parse the files, keep each run's highest revision, then one connection, one transaction, and one
// INSERT per table carrying all its rows (jsonb_populate_recordset: one parameter, no limit on rows),
// idempotent as the product is (runs by revision, the rest ON CONFLICT DO NOTHING).
import { readFileSync } from 'node:fs';
import type { JournalEntry, RunRecord } from '../../../src/record/types.js';
import { withPg } from '../common/db.js';

export async function bareShip(url: string, files: readonly string[]): Promise<void> {
  const runs = new Map<string, RunRecord>();
  const rows = { events: [] as unknown[], processes: [] as unknown[], samples: [] as unknown[] };
  for (const file of files) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (line === '') continue;
      const entry = JSON.parse(line) as JournalEntry;
      if (entry.table !== 'runs') rows[entry.table].push(entry.record);
      else if ((runs.get(entry.record.id)?.revision ?? -1) < entry.record.revision) runs.set(entry.record.id, entry.record);
    }
  }
  await withPg(url, async (client) => {
    await client.query('BEGIN');
    try {
      if (runs.size > 0) {
        const columns = Object.keys(runs.values().next().value!);
        await client.query(
          `INSERT INTO watchdog_runs (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::watchdog_runs, $1)
           ON CONFLICT (id) DO UPDATE SET ${columns.map((column) => `${column} = EXCLUDED.${column}`)}
           WHERE watchdog_runs.revision < EXCLUDED.revision`,
          [JSON.stringify([...runs.values()])],
        );
      }
      for (const [table, records] of Object.entries(rows)) {
        if (records.length === 0) continue;
        await client.query(
          `INSERT INTO watchdog_${table} SELECT * FROM jsonb_populate_recordset(NULL::watchdog_${table}, $1) ON CONFLICT DO NOTHING`,
          [JSON.stringify(records)],
        );
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
}
