/**
 * Same host, another user: a marker is only a claim. Each test plays an intruder who forged or
 * planted files in a state directory, and checks that nothing was signalled and nothing changed,
 * next to a positive control where the owner (or root over its own files) still acts.
 * Runs as root (the daemon's position); the intruder is the user nobody.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, execaSync } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { catchesSignal } from '../../src/proc/signals.js';
import { readStat } from '../../src/proc/stat.js';
import { checkMarkerTrust } from '../../src/record/marker-trust.js';
import { listMarkers } from '../../src/record/markers.js';
import { sharedClient } from '../helpers/database.js';
import { aliveWith, cookieCarrierAs, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { until } from '../helpers/until.js';
import { ownedTag, tagged } from '../helpers/processes.js';
import { stateDirOwnedBy } from '../helpers/state-dirs.js';
import { journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';

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
  await until('the decoy to catch SIGTERM', () => catchesSignal(pid, 'SIGTERM') === true, 60_000);
  const starttime = readStat(pid)!.starttime;
  stops.push(() => aliveWith(pid, starttime) && child.kill('SIGKILL'));
  return { pid, starttime };
}

/** Starts `sleep 300` under a real wrapper; resolves once its marker is there. */
async function startRun(stateDir: string) {
  const wrapper = startWrapper(['--quiet', '--grace', '2s', '--', 'sleep', '300'], { tag, stateDir });
  const runId = await until('the marker', () => listMarkers(stateDir)[0], 60_000);
  const journal = join(stateDir, 'journal', `${runId}.jsonl`);
  await until('the run to start', () => existsSync(journal) && journalOf(stateDir).events.some((event) => event.kind === 'run_started'), 60_000, { every: 100 });
  return { wrapper, runId, journal };
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

  it('refuses a running/ directory others can write (the state-directory check); cancelled once it is private again', async () => {
    const stateDir = newStateDir();
    const { wrapper, runId } = await startRun(stateDir);
    try {
      chmodSync(join(stateDir, 'running'), 0o707);
      const refused = await watchdog(['cancel', runId, '--state-dir', stateDir]);
      expect(refused.exitCode).toBe(125);
      expect(refused.stderr).toContain('can be written by others');
      expect(journalOf(stateDir).events.filter((event) => event.kind === 'cancel_requested')).toEqual([]);
    } finally {
      chmodSync(join(stateDir, 'running'), 0o700);
    }
    expect((await watchdog(['cancel', runId, '--state-dir', stateDir])).exitCode).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
  });

  it.skipIf(!root)("refuses nobody's copy of root's marker, even with root's journal linked in: the wrapper runs as another user", async () => {
    const own = newStateDir();
    const { wrapper, runId, journal } = await startRun(own);
    const intruder = stateDirOwnedBy(nobody!.uid, nobody!.gid);
    const copied = join(intruder, 'running', `${runId}.json`);
    copyFileSync(join(own, 'running', `${runId}.json`), copied);
    chownSync(copied, nobody!.uid, nobody!.gid);
    // The strongest forgery: the wrapper's very journal file. (protected_hardlinks stops nobody making
    // this link; root makes it here so that the check of the wrapper's user is what must refuse.)
    linkSync(journal, join(intruder, 'journal', `${runId}.jsonl`));

    const refused = await watchdog(['cancel', runId, '--state-dir', intruder]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain(`runs as uid 0, but the run's marker belongs to uid ${nobody!.uid}: not its wrapper`);
    expect(journalOf(own).events.filter((event) => event.kind === 'cancel_requested')).toEqual([]);

    // Positive control: through root's own state directory, the same run is cancelled.
    expect((await watchdog(['cancel', runId, '--state-dir', own])).exitCode).toBe(0);
    expect((await wrapper).exitCode).toBe(143);
  });
});

describe.skipIf(!root)("root's run and nobody's process carrying its cookie (run ids are public)", () => {
  it('counts it nowhere: no memory kill, no signal; the run goes on to its cancel', async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--tracking', 'pgroup', '--memory-limit', '40M', '--sample-interval', '100ms', '--grace', '2s', '--', 'sleep', '300'], {
      tag,
      stateDir,
    });
    try {
      const runId = await until('the marker', () => listMarkers(stateDir)[0], 60_000);
      await until('the run to start', () => journalSoFar(stateDir)?.events.some((event) => event.kind === 'run_started'), 60_000, { every: 100 });
      const carrier = await cookieCarrierAs(nobody!, 'python3', runId, tag, 64);
      stops.push(carrier.stop);
      const inflatedAt = Date.now();
      // A sample measured after the carrier held its 64 MiB: the run's tree is its sleep alone.
      const sample = await until('a sample after the carrier inflated', () => journalSoFar(stateDir)?.samples.find((entry) => Date.parse(entry.at) > inflatedAt), 60_000, { every: 100 });
      expect(sample).toMatchObject({ process_count: 1 });
      expect(sample.rss_bytes).toBeLessThan(40 * 1024 * 1024);
      expect(wrapper.exitCode).toBeNull();
      expect((await watchdog(['cancel', runId, '--state-dir', stateDir])).exitCode).toBe(0);
      expect((await wrapper).exitCode).toBe(143);
      const journal = journalOf(stateDir);
      expect(journal.runs.at(-1)).toMatchObject({ status: 'cancelled' });
      expect(journal.events.filter((event) => event.kind === 'limit_exceeded')).toEqual([]);
      // Never signalled: still alive, and not stopped by a group SIGSTOP.
      expect(aliveWith(carrier.pid, carrier.starttime)).toBe(true);
      expect(readStat(carrier.pid)?.state).not.toBe('T');
    } finally {
      if (wrapper.exitCode === null && wrapper.signalCode === null) wrapper.kill('SIGTERM');
      await wrapper;
      for (const stop of stops.splice(0)) stop();
      await until('the run and the carrier to be gone', () => tagged(tag).length === 0, 60_000);
    }
  });
});

describe.skipIf(!root)('scidex-watchdog reap as root over a state directory of nobody', () => {
  it("kills nothing of root's that carries the run id a forged marker names; its own state directory's reap does", async () => {
    const intruder = stateDirOwnedBy(nobody!.uid, nobody!.gid);
    const forged = forgeRun(intruder, { wrapper_starttime: 1 });
    for (const path of [join(intruder, 'running', `${forged.id}.json`), forged.journal_path]) chownSync(path, nobody!.uid, nobody!.gid);
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

});

describe.skipIf(!root)('checkMarkerTrust: whose word a marker is', () => {
  it("speaks for its file's owner; refuses a hard-linked marker and one in a directory another user can write", () => {
    const users = stateDirOwnedBy(nobody!.uid, nobody!.gid);
    const forged = forgeRun(users);
    const marker = join(users, 'running', `${forged.id}.json`);
    expect(checkMarkerTrust(users, forged.id)).toEqual({ trusted: true, uid: 0 }); // root's file: root's word anywhere
    chownSync(marker, nobody!.uid, nobody!.gid);
    expect(checkMarkerTrust(users, forged.id)).toEqual({ trusted: true, uid: nobody!.uid });

    const linked = join(mkdtempSync(join(tmpdir(), 'scidex-link-')), 'copy');
    linkSync(marker, linked);
    expect(checkMarkerTrust(users, forged.id)).toMatchObject({ trusted: false, why: expect.stringContaining('nlink 2') });
    rmSync(linked);

    const roots = newStateDir();
    const theirs = forgeRun(roots);
    chownSync(join(roots, 'running', `${theirs.id}.json`), nobody!.uid, nobody!.gid);
    // Root's running/ holding nobody's marker: root put it there, so it speaks for nobody.
    expect(checkMarkerTrust(roots, theirs.id)).toEqual({ trusted: true, uid: nobody!.uid });
    chmodSync(join(roots, 'running'), 0o777);
    expect(checkMarkerTrust(roots, theirs.id)).toMatchObject({ trusted: false, why: expect.stringContaining('writable by users other than its owner (mode 777)') });
    chmodSync(join(roots, 'running'), 0o700);
    chownSync(join(roots, 'running'), nobody!.uid, nobody!.gid);
    // A third user's marker in nobody's running/: only root could have put it there, and it did not say so.
    const other = forgeRun(roots);
    chownSync(join(roots, 'running', `${other.id}.json`), 65_000, 65_000);
    expect(checkMarkerTrust(roots, other.id)).toMatchObject({ trusted: false, why: expect.stringContaining(`its marker belongs to uid 65000 but`) });
  });
});

describe("records of someone else's run", () => {
  const db = sharedClient();

  it("a journal's records of another run are set aside, never shipped: no row for a reaper to act on", async () => {
    const stateDir = newStateDir();
    const victim = forgeRun(stateDir, { wrapper_starttime: 1 });
    const journal = join(stateDir, 'journal', `${randomUUID()}.jsonl`);
    renameSync(victim.journal_path, journal);
    rmSync(join(stateDir, 'running', `${victim.id}.json`));
    const ship = await execa(WATCHDOG, ['ship', '--state-dir', stateDir, '--database-url', db.url], { reject: false });
    expect(ship.exitCode, ship.stderr).toBe(0);
    expect((await db.client().query('SELECT 1 FROM watchdog_runs WHERE id = $1', [victim.id])).rowCount).toBe(0);
    const rejected = readdirSync(join(stateDir, 'rejected')).map((name) => readFileSync(join(stateDir, 'rejected', name), 'utf8')).join('');
    expect(rejected).toContain('"code":"foreign_run"');
  });

  it("the database reaper leaves a run whose row a writer rewrote to a dead wrapper: its wrapper holds the journal", async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--database-url', db.url, '--', 'sleep', '300'], { tag, stateDir });
    try {
      const runId = await until('the marker', () => listMarkers(stateDir)[0], 60_000);
      const row = async () => (await db.client().query('SELECT status FROM watchdog_runs WHERE id = $1', [runId])).rows[0];
      await until('the run row', async () => (await row())?.status === 'running');
      await db.client().query('UPDATE watchdog_runs SET wrapper_pid = 999999, wrapper_starttime = 1, journal_path = $2 WHERE id = $1', [runId, '/nonexistent/journal/x.jsonl']);
      const reap = await execa(WATCHDOG, ['reap', '--state-dir', newStateDir(), '--database-url', db.url, '--run', runId], { reject: false });
      expect(reap.exitCode, reap.stderr).toBe(0);
      expect(reap.stdout + reap.stderr).toContain('its wrapper is alive; left alone');
      expect(wrapper.exitCode).toBeNull();
      expect((await row()).status).toBe('running');
    } finally {
      wrapper.kill('SIGTERM');
      await wrapper;
    }
  });
});

