/**
 * Same host, another user: a marker is only a claim. Each test plays an intruder who forged or
 * planted files in a state directory, and checks that nothing was signalled and nothing changed,
 * next to a positive control where the owner (or root over its own files) still acts.
 * Runs as root (the daemon's position); the intruder is the user nobody.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { catchesSignal } from '../../src/proc/signals.js';
import { readStat } from '../../src/proc/stat.js';
import { listMarkers } from '../../src/record/markers.js';
import { aliveWith, eventually, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { ownedTag } from '../helpers/processes.js';
import { journalOf, newStateDir, startWrapper } from '../helpers/wrapper.js';

const WATCHDOG = fileURLToPath(new URL('../../bin/scidex-watchdog', import.meta.url));
const tag = ownedTag();
const root = process.getuid?.() === 0;
const nobody = root ? { uid: Number(execaSync('id', ['-u', 'nobody']).stdout), gid: Number(execaSync('id', ['-g', 'nobody']).stdout) } : undefined;

/** scidex-watchdog without a database. */
function watchdog(args: string[]) {
  return execa(WATCHDOG, args, { reject: false, env: { DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_RUN_STATE_DIR: undefined } });
}

const stops: (() => void)[] = [];
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

/** A process that is no wrapper but catches SIGTERM (and writes `flag` when it gets one); optionally holds `reading` open read-only. */
async function decoy(flag: string, reading?: string): Promise<{ pid: number; starttime: number }> {
  const script = [
    'import signal, sys, time',
    `held = open(${JSON.stringify(reading ?? '/dev/null')})`,
    `signal.signal(signal.SIGTERM, lambda *_: open(${JSON.stringify(flag)}, "w").write("TERM"))`,
    'while True: time.sleep(1)',
  ].join('\n');
  const child = spawn('python3', ['-c', script], { stdio: 'ignore', env: { ...process.env, SCIDEX_TEST_TAG: tag } });
  const pid = child.pid!;
  expect(await eventually(() => catchesSignal(pid, 'SIGTERM') === true, 20_000)).toBe(true);
  const starttime = readStat(pid)!.starttime;
  stops.push(() => aliveWith(pid, starttime) && child.kill('SIGKILL'));
  return { pid, starttime };
}

/** Starts `sleep 300` under a real wrapper; resolves once its marker is there. */
async function startRun(stateDir: string) {
  const wrapper = startWrapper(['--quiet', '--grace', '2s', '--', 'sleep', '300'], { tag, stateDir });
  let runId: string | undefined;
  expect(await eventually(() => (runId = listMarkers(stateDir)[0]) !== undefined, 20_000)).toBe(true);
  const journal = join(stateDir, 'journal', `${runId}.jsonl`);
  expect(await eventually(() => existsSync(journal) && journalOf(stateDir).events.some((event) => event.kind === 'run_started'), 20_000)).toBe(true);
  return { wrapper, runId: runId!, journal };
}

/** Gives a directory tree (the directory and what this test put in it) to `owner`. */
function chownAll(owner: { uid: number; gid: number }, ...paths: string[]): void {
  for (const path of paths) chownSync(path, owner.uid, owner.gid);
}

describe('scidex-watchdog cancel never signals what a marker merely names', () => {
  it('refuses a forged marker naming a process that catches SIGTERM, even one that reads the journal', async () => {
    const stateDir = newStateDir();
    const flag = join(stateDir, 'decoy-signalled');
    const forged = forgeRun(stateDir, { wrapper_pid: 1 });
    const victim = await decoy(flag, join(stateDir, 'journal', `${forged.id}.jsonl`));
    const marker = forgeRun(stateDir, { id: forged.id, wrapper_pid: victim.pid, wrapper_starttime: victim.starttime });

    const cancel = await watchdog(['cancel', marker.id, '--state-dir', stateDir]);
    expect(cancel.exitCode).toBe(1);
    expect(cancel.stderr).toContain(`pid ${victim.pid} does not hold the run's journal open: not its wrapper`);
    expect(existsSync(flag)).toBe(false);
    expect(aliveWith(victim.pid, victim.starttime)).toBe(true);
    expect(existsSync(join(stateDir, 'running', `${marker.id}.cancel`))).toBe(false);
  });

  it('refuses a group-writable running/ directory; the same run is cancelled once it is private again', async () => {
    const stateDir = newStateDir();
    const { wrapper, runId } = await startRun(stateDir);
    chmodSync(join(stateDir, 'running'), 0o770);
    const refused = await watchdog(['cancel', runId, '--state-dir', stateDir]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('is writable by users other than its owner (mode 770)');
    expect(journalOf(stateDir).events.filter((event) => event.kind === 'cancel_requested')).toEqual([]);

    chmodSync(join(stateDir, 'running'), 0o700);
    expect((await watchdog(['cancel', runId, '--state-dir', stateDir])).exitCode).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
  });

  it.skipIf(!root)("refuses nobody's copy of root's marker, even with root's journal linked in: the wrapper runs as another user", async () => {
    const own = newStateDir();
    const { wrapper, runId, journal } = await startRun(own);
    const intruder = mkdtempSync(join(tmpdir(), 'scidex-intruder-'));
    mkdirSync(join(intruder, 'running'), { mode: 0o700 });
    mkdirSync(join(intruder, 'journal'), { mode: 0o700 });
    const copied = join(intruder, 'running', `${runId}.json`);
    copyFileSync(join(own, 'running', `${runId}.json`), copied);
    // The strongest forgery: the wrapper's very journal file. (protected_hardlinks stops nobody making
    // this link; root makes it here so that the check of the wrapper's user is what must refuse.)
    linkSync(journal, join(intruder, 'journal', `${runId}.jsonl`));
    chownAll(nobody!, intruder, join(intruder, 'running'), join(intruder, 'journal'), copied);

    const refused = await watchdog(['cancel', runId, '--state-dir', intruder]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`runs as uid 0, but the run's marker belongs to uid ${nobody!.uid}: not its wrapper`);
    expect(journalOf(own).events.filter((event) => event.kind === 'cancel_requested')).toEqual([]);

    // Positive control: through root's own state directory, the same run is cancelled.
    expect((await watchdog(['cancel', runId, '--state-dir', own])).exitCode).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
  });
});

describe.skipIf(!root)('scidex-watchdog reap as root over a state directory of nobody', () => {
  it("kills nothing of root's that carries the run id a forged marker names; its own state directory's reap does", async () => {
    const intruder = mkdtempSync(join(tmpdir(), 'scidex-intruder-'));
    const forged = forgeRun(intruder, { wrapper_starttime: 1 });
    chownAll(nobody!, intruder, join(intruder, 'running'), join(intruder, 'journal'), join(intruder, 'running', `${forged.id}.json`), forged.journal_path);
    const cookie = { SCIDEX_RUN_ID: forged.id, SCIDEX_TEST_TAG: tag };
    const rootsProcess = foreignSleep(cookie);
    stops.push(rootsProcess.stop);

    const reap = await watchdog(['reap', '--state-dir', intruder]);
    expect(reap.exitCode, reap.stderr).toBe(0);
    expect(aliveWith(rootsProcess.pid, rootsProcess.starttime)).toBe(true);
    expect(journalOf(intruder).runs.at(-1)).toMatchObject({ status: 'lost' });

    // Positive control: the same forgery in root's own state directory is root's run, and its cookie carrier is killed.
    const own = newStateDir();
    const ours = forgeRun(own, { wrapper_starttime: 1 });
    const carrier = foreignSleep({ SCIDEX_RUN_ID: ours.id, SCIDEX_TEST_TAG: tag });
    stops.push(carrier.stop);
    expect((await watchdog(['reap', '--state-dir', own])).exitCode).toBe(0);
    expect(aliveWith(carrier.pid, carrier.starttime)).toBe(false);
  });

  it('acts on no marker in a directory others can write', async () => {
    const shared = mkdtempSync(join(tmpdir(), 'scidex-shared-'));
    const forged = forgeRun(shared, { wrapper_starttime: 1 });
    chmodSync(join(shared, 'running'), 0o777);
    const carrier = foreignSleep({ SCIDEX_RUN_ID: forged.id, SCIDEX_TEST_TAG: tag });
    stops.push(carrier.stop);
    const reap = await watchdog(['reap', '--state-dir', shared]);
    expect(reap.stderr).toContain(`run ${forged.id}: its marker is not acted on:`);
    expect(aliveWith(carrier.pid, carrier.starttime)).toBe(true);
    expect(existsSync(join(shared, 'running', `${forged.id}.json`))).toBe(true);
  });
});
