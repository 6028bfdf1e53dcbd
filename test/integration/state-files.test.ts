/**
 * A state directory holds files its owner could have replaced: a FIFO would hang whoever opens it,
 * a symlink would read whatever it points to. Every reader must refuse them in one line and go on.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { ownedTag } from '../helpers/processes.js';
import { BIN, newStateDir, startWrapper } from '../helpers/wrapper.js';

const tag = ownedTag();
const db = sharedClient();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');
const NO_DATABASE = { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_RUN_DATABASE_URL: undefined };
/**
 * A bound far above what any command here needs: a hang fails the test instead of blocking it. The
 * house bound, 60 s: a CLI run took up to 4 s and a trivial wrapper run 12 s on a host loaded by the suite.
 */
const HANG_MS = 60_000;

/** A state directory with a FIFO and a symlink as markers, and a FIFO and a symlink to a secret as journals. */
function plantedStateDir(): { stateDir: string; secret: string } {
  const stateDir = newStateDir();
  const outside = mkdtempSync(join(tmpdir(), 'scidex-planted-'));
  const secret = `secret-${tag}`;
  writeFileSync(join(outside, 'secret'), `${secret}\n`, { mode: 0o600 });
  execFileSync('mkfifo', [join(outside, 'fifo')]);
  mkdirSync(join(stateDir, 'running'), { recursive: true, mode: 0o700 });
  mkdirSync(join(stateDir, 'journal'), { recursive: true, mode: 0o700 });
  symlinkSync(join(outside, 'fifo'), join(stateDir, 'running', '00000012-0000-4000-8000-000000000012.json'));
  execFileSync('mkfifo', [join(stateDir, 'running', '00000013-0000-4000-8000-000000000013.json')]);
  execFileSync('mkfifo', [join(stateDir, 'journal', '00000014-0000-4000-8000-000000000014.jsonl')]);
  symlinkSync(join(outside, 'secret'), join(stateDir, 'journal', '00000022-0000-4000-8000-000000000022.jsonl'));
  return { stateDir, secret };
}

describe('FIFOs and symlinks planted in the state directory', () => {
  // A wrapper run and four CLI runs one after the other, each seconds long on a host loaded by the suite.
  it('hang nothing and leak nothing: run, reap, runs, ship and cancel go on', { timeout: 240_000 }, async () => {
    const { stateDir, secret } = plantedStateDir();
    const ran = join(stateDir, 'ran');
    // The timeout is only a hang bound (the run is to complete): minutes, which no starved start reaches.
    const run = await startWrapper(['--quiet', '--timeout', '2min', '--', 'touch', ran], { tag, stateDir });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(existsSync(ran)).toBe(true);

    const watchdog = (args: string[], env: Record<string, string | undefined> = NO_DATABASE) =>
      execa(WATCHDOG, [...args, '--state-dir', stateDir], { reject: false, timeout: HANG_MS, env });
    const reap = await watchdog(['reap']);
    expect(reap.exitCode, reap.stderr).toBe(0);

    const runs = await watchdog(['runs']);
    expect(runs.exitCode, runs.stderr).toBe(0);
    expect(runs.stdout).toContain('touch');
    expect(runs.stderr).toMatch(/skipped .*00000014-0000-4000-8000-000000000014\.jsonl: cannot read it \(EFTYPE\)/);
    expect(runs.stderr).toMatch(/skipped .*00000022-0000-4000-8000-000000000022\.jsonl: cannot read it \(ELOOP\)/);

    const ship = await watchdog(['ship', '--database-url', db.url], {});
    expect(ship.exitCode).toBe(1);
    expect(ship.stderr).toMatch(/00000014-0000-4000-8000-000000000014\.jsonl: not shipped .*not a regular file/);
    expect(ship.stderr).toMatch(/00000022-0000-4000-8000-000000000022\.jsonl: not shipped \(ELOOP/);
    expect(ship.stderr + ship.stdout + runs.stderr + runs.stdout).not.toContain(secret);

    const cancel = await watchdog(['cancel', '--analysis-id', 'nothing']);
    expect(cancel.exitCode).toBe(1);
    expect(cancel.stderr.trim()).toBe('scidex-watchdog: no running run of analysis nothing');
  });
});
