import { appendFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { eventually } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const database = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
/** Nothing listens on port 1 of loopback: a database that is down. */
const DOWN = 'postgresql://postgres@127.0.0.1:1/test';

async function eventCount(analysisId: string): Promise<number> {
  const result = await database.client().query('SELECT count(*)::int AS n FROM watchdog_events WHERE analysis_id = $1', [analysisId]);
  return result.rows[0].n;
}

describe('records kept while PostgreSQL was down', () => {
  it('are shipped once by scidex-watchdog ship; bad lines are reported with file and line, the rest ship', async () => {
    const stateDir = newStateDir();
    const analysisId = `ship-${tag}`;
    const run = await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'sh', '-c', 'exit 3'], { tag, stateDir });
    expect(run.exitCode).toBe(3);
    const journal = readdirSync(join(stateDir, 'journal')).find((name) => name.endsWith('.jsonl'))!;
    expect(existsSync(join(stateDir, 'journal', journal.replace('.jsonl', '.shipped')))).toBe(false);
    appendFileSync(join(stateDir, 'journal', journal), '{"table": "events", "rec');

    const ship = () => execa(WATCHDOG, ['ship', '--json', '--state-dir', stateDir, '--database-url', database.url], { reject: false });
    const first = await ship();
    expect(first.exitCode).toBe(0);
    expect(first.stderr).toMatch(new RegExp(`${journal}:\\d+: not a record, skipped`));
    expect(JSON.parse(first.stdout)).toMatchObject({ done: true });
    const runs = await database.client().query('SELECT status, exit_status FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toEqual([{ status: 'failed', exit_status: 3 }]);
    const events = await eventCount(analysisId);
    expect(events).toBeGreaterThanOrEqual(2);

    // Marked shipped: a second sweep has nothing to do, and nothing is duplicated.
    expect((await ship()).stdout).toBe('');
    expect(await eventCount(analysisId)).toBe(events);
  });

  it('are shipped in the background by the next scidex-run with a database', async () => {
    const stateDir = newStateDir();
    const analysisId = `ship-later-${tag}`;
    await startWrapper(['--quiet', '--analysis-id', analysisId, '--database-url', DOWN, '--', 'true'], { tag, stateDir });
    await startWrapper(['--quiet', '--database-url', database.url, '--', 'true'], { tag, stateDir });
    expect(await eventually(() => readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.shipped')).length === 2, 15_000)).toBe(true);
    expect(await eventCount(analysisId)).toBeGreaterThanOrEqual(2);
  });
});
