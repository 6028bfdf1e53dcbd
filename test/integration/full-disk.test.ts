/**
 * A full disk under the state directory (a tiny tmpfs, so root only): the journal cannot take the
 * run's later records, so the wrapper sends them to PostgreSQL straight from memory. The run's exit
 * status and its row are what they would have been, and nothing claims the records wait in a journal.
 * A reaper whose own records reach neither store (the disk full and the server down at once) leaves
 * the run's marker, so that a later reaper finishes it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { ownedTag } from '../helpers/processes.js';
import { until } from '../helpers/until.js';
import { forgeRun } from '../helpers/lost-runs.js';
import { BIN, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const database = sharedClient();

describe('a full disk under the state directory', () => {
  let mountPoint: string | undefined;
  let why = 'not root';
  beforeAll(async () => {
    if (process.getuid?.() !== 0) return;
    const dir = mkdtempSync(join(tmpdir(), 'scidex-full-disk-'));
    const mounted = await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0700', 'scidex-test-full-disk', dir], { reject: false });
    if (mounted.exitCode === 0) mountPoint = dir;
    else why = `mount -t tmpfs failed: ${mounted.stderr}`;
  });
  afterAll(async () => {
    if (!mountPoint) return;
    await execa('umount', [mountPoint], { reject: false });
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('the run ends as it would have, and its last records reach PostgreSQL from memory', async (context) => {
    if (!mountPoint) {
      console.info(`skipped: ${why}`);
      context.skip();
    }
    const stateDir = join(mountPoint!, 'state');
    const analysisId = `full-disk-${tag}`;
    const run = startWrapper(
      // Samples every 100 ms: the journal outgrows the last page it had before the disk filled (tmpfs allocates by page).
      ['--analysis-id', analysisId, '--database-url', database.url, '--timeout', '10m', '--grace', '500ms', '--sample-interval', '100ms', '--', 'sh', '-c', 'sleep 100 & sleep 100'],
      { tag, stateDir },
    );
    let stderr = '';
    run.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const started = async () => (await database.client().query('SELECT 1 FROM watchdog_runs WHERE analysis_id = $1', [analysisId])).rowCount === 1;
    await until('the run row', () => started().catch(() => false), 60_000, { every: 50 });
    // Everything left on the file system goes to a filler file; the write stops at ENOSPC.
    try {
      writeFileSync(join(mountPoint!, 'filler'), Buffer.alloc(1 << 20));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    // The journal outgrows its last page within a few samples: its write fails there, and the run goes on.
    await until(() => `the journal's write to fail (stderr so far: ${stderr})`, () => /cannot write the journal .*ENOSPC/.test(stderr), 60_000, { every: 50 });
    // Ended by a cancel once the disk is full: a timeout of a few seconds (as this once had) can end a
    // run starved on a loaded host before its row is in and the disk filled.
    run.kill('SIGTERM');
    const result = await run;
    rmSync(join(mountPoint!, 'filler'), { force: true });

    expect(result.exitCode, result.stderr).toBe(143);
    expect(result.stderr).toMatch(/cannot write the journal .*ENOSPC/);
    expect(result.stderr).not.toMatch(/lost|PostgreSQL is busy|wait in the journal/);
    const runs = await database.client().query('SELECT id, status, exit_status, reason FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(runs.rows).toMatchObject([{ status: 'cancelled', exit_status: 143 }]);
    const events = await database.client().query('SELECT kind FROM watchdog_events WHERE run_id = $1', [runs.rows[0].id]);
    expect(events.rows.map((row) => row.kind)).toEqual(expect.arrayContaining(['run_started', 'cancel_requested', 'signal_sent', 'run_finished']));
    // Every record is in, so the journal is marked shipped, torn lines and all.
    expect(readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.shipped'))).toHaveLength(1);
  });

  it('a reaper that could record its verdict nowhere leaves the marker, and the next one finishes the run', async (context) => {
    if (!mountPoint) {
      console.info(`skipped: ${why}`);
      context.skip();
    }
    const stateDir = join(mountPoint!, 'reap');
    mkdirSync(stateDir, { mode: 0o700 });
    // A run whose wrapper is gone (pid 999999, starttime 1), never shipped: its row is not in PostgreSQL.
    const run = forgeRun(stateDir, { analysis_id: `full-disk-reap-${tag}` });
    const marker = join(stateDir, 'running', `${run.id}.json`);
    // Its journal fills its page exactly (tmpfs allocates by page): on the full disk it takes no line more.
    const journal = join(stateDir, 'journal', `${run.id}.jsonl`);
    const padded = { ...run, argv: [`forged${'x'.repeat(4096 - statSync(journal).size)}`] };
    writeFileSync(journal, JSON.stringify({ table: 'runs', record: padded }) + '\n');
    expect(statSync(journal).size).toBe(4096);
    // Its lock file is there with its page, as a wrapper leaves it: the reaper's holder line reuses
    // that page (a new file would not fit on the full disk).
    writeFileSync(`${marker}.lock`, 'x'.repeat(100), { mode: 0o600 });
    const reap = (databaseUrl: string) =>
      execa(BIN.replace(/scidex-run$/, 'scidex-watchdog'), ['reap', '--state-dir', stateDir, '--json', '--database-url', databaseUrl], { reject: false });
    try {
      writeFileSync(join(mountPoint!, 'filler'), Buffer.alloc(1 << 20));
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    // Nothing listens on port 1 of the loopback: the server is down.
    const first = await reap('postgresql://scidex@127.0.0.1:1/none');
    rmSync(join(mountPoint!, 'filler'), { force: true });
    expect(first.stderr, `${first.stdout} journal ${statSync(journal).size} bytes, marker ${existsSync(marker)}`).toMatch(/records could be written neither to the journal nor to PostgreSQL: lost/);
    expect(existsSync(marker), 'the marker of a run whose ending reached no store').toBe(true);

    const second = await reap(database.url);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const rows = await database.client().query('SELECT status FROM watchdog_runs WHERE id = $1', [run.id]);
    expect(rows.rows).toEqual([{ status: 'lost' }]);
    const lost = await database.client().query("SELECT count(*)::int AS n FROM watchdog_events WHERE run_id = $1 AND kind = 'run_lost'", [run.id]);
    expect(lost.rows[0].n).toBe(1);
  });
});
