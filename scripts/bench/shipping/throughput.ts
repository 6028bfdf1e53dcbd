// Measures 1 and 3: the same journal lines shipped by the product and by the bare-pg baseline, each
// into empty tables, in alternating order. The product is either shipStateDir called in this process
// (measure 1: no Node start-up in the figure) or the `scidex-watchdog ship` CLI (measure 3: the
// backlog an operator drains after an outage, start-up included). Every rep checks the row counts.
import { existsSync, rmSync } from 'node:fs';
import { shipStateDir } from '../../../src/watchdog/ship.js';
import { bareShip } from './baseline.js';
import { newFolder, WATCHDOG_BIN } from '../common/context.js';
import { complete, describeCounts, type BenchDatabase, type Counts } from '../common/db.js';
import { writeJournals } from './journals.js';
import { runCli, stderrSummary, type CliResult } from '../common/processes.js';

export interface Side {
  /** Wall time of each rep, ms. */
  ms: number[];
  /** Row counts after each rep, described (shortfalls in bold). */
  counts: string[];
  complete: boolean;
  notes: string[];
}

export interface ShipComparison {
  journals: number;
  lines: number;
  expected: Counts;
  product: Side;
  baseline: Side;
}

export async function compareShipping(
  db: BenchDatabase,
  journals: number,
  records: number,
  reps: number,
  via: 'in-process' | 'cli',
): Promise<ShipComparison> {
  const stateDir = newFolder(`ship-${journals}x${records}`);
  const { files, lines, expected } = writeJournals(stateDir, journals, records);
  const side = (): Side => ({ ms: [], counts: [], complete: true, notes: [] });
  const product = side();
  const baseline = side();
  const cliResults: CliResult[] = [];

  const shipByProduct = async (): Promise<void> => {
    for (const file of files) rmSync(`${file.slice(0, -'.jsonl'.length)}.shipped`, { force: true });
    if (via === 'cli') {
      const result = await runCli(WATCHDOG_BIN, ['ship', '--quiet', '--state-dir', stateDir, '--database-url', db.url], stateDir);
      cliResults.push(result);
      if (result.exitCode !== 0) product.notes.push(`scidex-watchdog ship exited ${result.exitCode}`);
    } else {
      // A year of journal retention: the sweep must not remove the journals the next rep ships again.
      const sweep = await shipStateDir(stateDir, { url: db.url, display: db.name }, 365 * 86_400_000);
      if (sweep.busy) product.notes.push('shipStateDir found the state directory busy (lock held)');
      for (const outcome of sweep.outcomes.filter((o) => o.error || o.rejected > 0)) {
        product.notes.push(`${outcome.journal}: ${outcome.error ?? `${outcome.rejected} records refused`}`);
      }
    }
    const unmarked = files.filter((file) => !existsSync(`${file.slice(0, -'.jsonl'.length)}.shipped`)).length;
    if (unmarked > 0) product.notes.push(`${unmarked} of ${files.length} journals not marked shipped`);
  };

  const timed = async (target: Side, ship: () => Promise<void>): Promise<void> => {
    await db.truncate();
    const t0 = performance.now();
    await ship();
    target.ms.push(performance.now() - t0);
    const got = await db.counts();
    target.counts.push(describeCounts(got, expected));
    target.complete &&= complete(got, expected);
  };

  for (let rep = 0; rep < reps; rep++) {
    const order: [Side, () => Promise<void>][] = [[product, shipByProduct], [baseline, () => bareShip(db.url, files)]];
    for (const [target, ship] of rep % 2 === 0 ? order : order.reverse()) await timed(target, ship);
  }
  product.notes.push(...stderrSummary(cliResults));
  return { journals, lines, expected, product, baseline };
}
