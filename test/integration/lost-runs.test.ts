import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { aliveWith, availableBackends, foreignSleep, forgeRun } from '../helpers/lost-runs.js';
import { ownedTag, tagged, waitForTagged } from '../helpers/processes.js';
import { BIN, journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { readChildren } from '../../src/proc/children.js';
import { ignoresSignal } from '../../src/proc/signals.js';
import { until } from '../helpers/until.js';

const tag = ownedTag();
const backends = await availableBackends();
const WATCHDOG = BIN.replace(/scidex-run$/, 'scidex-watchdog');

/** A tree that ignores SIGTERM at every level and has a setsid daemon. */
const STUBBORN = 'trap "" TERM; (setsid sh -c "trap \\"\\" TERM; sleep 300" &); sh -c "trap \\"\\" TERM; sleep 300" & sleep 300';

describe.each(backends)('the wrapper SIGKILLed (%s backend)', (backend) => {
  // Timeout 1.5s, grace 1.5s: the kill lands before the timeout, during the grace period, after it.
  // The test's own timeout: two Node starts (the wrapper's, then the lifeline's reaper's) that a loaded host can starve to tens of seconds each.
  it.each([
    ['before the timeout', 700],
    ['during the grace period', 2200],
    ['after the grace period', 3100],
  ])('%s: the run still dies, and is recorded', { timeout: 180_000 }, async (_when, killAfterMs) => {
    const stateDir = newStateDir();
    const args = ['--quiet', '--tracking', backend, '--timeout', '1500ms', '--grace', '1500ms', '--', 'sh', '-c', STUBBORN];
    const wrapper = startWrapper(args, { tag, stateDir });
    await waitForTagged(tag, 6); // the wrapper, the lifeline, four of the tree
    // Not a wait on a condition: when the SIGKILL lands (before the timeout, in the grace period, after it) is what each case is about.
    await sleep(killAfterMs - 300);
    wrapper.kill('SIGKILL');
    await wrapper;
    // The lifeline's reaper: grace (1.5s, the run's) plus a Node start and a few scans, each slow on a loaded host.
    await until('every process of the run to end', () => tagged(tag).length === 0, 60_000, { every: 100 });
    await until('the marker to be removed', () => readdirSync(join(stateDir, 'running')).length === 0, 60_000);
    const { runs, events } = journalOf(stateDir);
    const last = runs.at(-1)!;
    expect(last.tracking_backend).toBe(backend);
    if (last.status === 'lost') {
      expect(last.reason).toBe('wrapper_gone');
      expect(events.some((event) => event.kind === 'run_lost')).toBe(true);
    } else {
      expect(last.status).toBe('timeout'); // the wrapper had finished before the SIGKILL landed
    }
    if (last.cgroup_path) expect(existsSync(last.cgroup_path)).toBe(false);
  });
});

describe('the lifeline', () => {
  // Two Node starts (the wrapper's, then the lifeline's reaper's) that a loaded host can starve to tens of seconds each.
  it('outlives the SIGTERM a scheduler sends every process of a job, and still finishes the run of a wrapper SIGKILLed after it', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--grace', '1s', '--', 'sleep', '300'], { tag, stateDir });
    const isLifeline = (pid: number) => existsSync(`/proc/${pid}/cmdline`) && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('scidex-run-lifeline');
    // Its `trap '' TERM` runs only after the exec that names it: before that, a SIGTERM would kill the guard.
    const lifeline = await until('the lifeline, deaf to SIGTERM', () => readChildren(wrapper.pid!).find((pid) => isLifeline(pid) && ignoresSignal(pid, 'SIGTERM') === true));
    process.kill(lifeline, 'SIGTERM'); // as slurmstepd signals the whole job
    wrapper.kill('SIGKILL'); // as its SIGKILL after KillWait, which this time reaches the wrapper only
    await wrapper;
    await until('the run to be finished by the lifeline', () => journalOf(stateDir).runs.at(-1)?.status === 'lost', 60_000);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'lost', reason: 'wrapper_gone' });
    await until('every tagged process to end', () => tagged(tag).length === 0, 60_000, { every: 100 });
  });
});

describe('a wrapper SIGKILLed while it ends its run', () => {
  // Two Node starts (the wrapper's, then the lifeline's reaper's) that a loaded host can starve to tens of seconds each.
  it('is recorded with the ending it had begun (cancelled, 143), by the reaper that finishes it', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    // A tree deaf to SIGTERM keeps the wrapper in its grace period: the SIGKILL lands there, as a scheduler's would.
    const wrapper = startWrapper(['--quiet', '--grace', '30s', '--', 'sh', '-c', 'trap "" TERM; exec sleep 300'], { tag, stateDir });
    await until('the run to start', () => journalSoFar(stateDir)?.events.some((event) => event.kind === 'run_started'));
    wrapper.kill('SIGTERM');
    await until('the cancel to be journaled', () => journalOf(stateDir).events.some((event) => event.kind === 'cancel_requested'));
    wrapper.kill('SIGKILL');
    await wrapper;
    await until('the lifeline to finish the run', () => journalOf(stateDir).runs.at(-1)?.ended_at != null, 60_000);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: 143, reason: 'cancelled' });
    expect(events.find((event) => event.kind === 'run_lost')).toMatchObject({ reason: 'wrapper_gone', detail: expect.objectContaining({ recorded_as: 'cancelled' }) });
    await until('every tagged process to end', () => tagged(tag).length === 0, 60_000, { every: 100 });
  });
});

describe('scidex-watchdog reap', () => {
  it('kills only what carries the run cookie, and refuses a leader without it', async () => {
    const stateDir = newStateDir();
    const stranger = foreignSleep();
    const run = forgeRun(stateDir, { pid: stranger.pid, pgid: stranger.pid, leader_starttime: stranger.starttime });
    const ours = foreignSleep({ SCIDEX_RUN_ID: run.id, SCIDEX_TEST_TAG: tag });
    try {
      const result = await execa(WATCHDOG, ['reap', '--json', '--state-dir', stateDir], { env: { DATABASE_URL: undefined }, reject: false });
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ runId: run.id, verdict: 'lost', killed: 1, refused: 1 });
      await until('our leftover to be killed', () => !aliveWith(ours.pid, ours.starttime), 3000);
      expect(aliveWith(stranger.pid, stranger.starttime)).toBe(true);
      const { runs, events } = journalOf(stateDir);
      expect(runs.at(-1)).toMatchObject({ status: 'lost', reason: 'wrapper_gone', revision: 2 });
      expect(events.find((event) => event.kind === 'kill_refused')).toMatchObject({ pid: stranger.pid, reason: 'no cookie of the run in its environment' });
      expect(existsSync(join(stateDir, 'running', `${run.id}.json`))).toBe(false);
    } finally {
      stranger.stop();
      ours.stop();
    }
  });

  it('is reaped once by ten reapers at once, even past the lock file of a reaper that crashed', async () => {
    const stateDir = newStateDir();
    const run = forgeRun(stateDir, { grace_ms: 1000 });
    // A leftover that ignores SIGTERM: each reaper that wrongly went on would record its own SIGTERM and SIGKILL.
    const leftover = spawn('sh', ['-c', 'trap "" TERM; sleep 300'], { stdio: 'ignore', env: { PATH: process.env.PATH, SCIDEX_RUN_ID: run.id, SCIDEX_TEST_TAG: tag } });
    writeFileSync(join(stateDir, 'running', `${run.id}.json.lock`), '999999:1', { mode: 0o600 });
    try {
      await until('the leftover to ignore SIGTERM', () => leftover.pid !== undefined && ignoresSignal(leftover.pid, 'SIGTERM') === true);
      const reaps = await Promise.all(
        Array.from({ length: 10 }, () => execa(WATCHDOG, ['reap', '--json', '--state-dir', stateDir], { env: { DATABASE_URL: undefined }, reject: false })),
      );
      for (const reap of reaps) expect(reap.exitCode, reap.stderr).toBe(0);
      const verdicts = reaps.flatMap((reap) => reap.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line).verdict));
      expect(verdicts.filter((verdict) => verdict === 'lost')).toHaveLength(1);
      const { events } = journalOf(stateDir);
      expect(events.filter((event) => event.kind === 'run_lost')).toHaveLength(1);
      expect(events.filter((event) => event.kind === 'signal_sent' && event.signal === 'SIGTERM')).toHaveLength(1);
      await until('the leftover to die', () => leftover.exitCode !== null || leftover.signalCode !== null, 5000);
    } finally {
      if (leftover.pid && leftover.pid > 1 && leftover.exitCode === null && leftover.signalCode === null) leftover.kill('SIGKILL');
    }
  });

  it('refuses a recorded pid whose starttime differs (a reused pid), and a forged cgroup path', async () => {
    const stateDir = newStateDir();
    const stranger = foreignSleep();
    const run = forgeRun(stateDir, {
      pid: stranger.pid,
      leader_starttime: stranger.starttime - 1,
      tracking_backend: 'cgroup',
      cgroup_path: '/sys/fs/cgroup/unified',
    });
    try {
      const result = await execa(WATCHDOG, ['reap', '--json', '--run', run.id, '--state-dir', stateDir], { env: { DATABASE_URL: undefined } });
      expect(JSON.parse(result.stdout)).toMatchObject({ verdict: 'lost', killed: 0, refused: 1 });
      expect(aliveWith(stranger.pid, stranger.starttime)).toBe(true);
      const refusal = journalOf(stateDir).events.find((event) => event.kind === 'kill_refused');
      expect(refusal).toMatchObject({ pid: stranger.pid, reason: 'pid reused: another starttime' });
    } finally {
      stranger.stop();
    }
  });

  it('leaves a run whose wrapper is alive (or of another PID namespace) alone, and marks a run of an earlier boot lost without a kill', async () => {
    const stateDir = newStateDir();
    const self = { wrapper_pid: process.pid, wrapper_starttime: (await import('../../src/proc/stat.js')).readStat(process.pid)!.starttime };
    const alive = forgeRun(stateDir, self);
    const rebooted = forgeRun(stateDir, { boot_id: '00000000-0000-0000-0000-000000000000' });
    // A container sharing this host's hostname and kernel: its pids are not ours to judge.
    const otherNamespace = forgeRun(stateDir, { pid_ns: 'pid:[1]' });
    const result = await execa(WATCHDOG, ['reap', '--json', '--state-dir', stateDir], { env: { DATABASE_URL: undefined } });
    const outcomes = result.stdout.split('\n').map((line) => JSON.parse(line));
    expect(outcomes).toContainEqual(expect.objectContaining({ runId: alive.id, verdict: 'alive' }));
    expect(outcomes).toContainEqual(expect.objectContaining({ runId: rebooted.id, verdict: 'lost', killed: 0 }));
    expect(existsSync(join(stateDir, 'running', `${alive.id}.json`))).toBe(true);
    expect(outcomes).toContainEqual(expect.objectContaining({ runId: otherNamespace.id, verdict: 'alive' }));
  });

  it('is run by every scidex-run start: a dead run found there is reaped in the background', async () => {
    const stateDir = newStateDir();
    const run = forgeRun(stateDir);
    const leftover = foreignSleep({ SCIDEX_RUN_ID: run.id, SCIDEX_TEST_TAG: tag });
    const result = await startWrapper(['--', 'true'], { tag, stateDir });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain(`run ${run.id} lost its wrapper`);
    await until('the leftover to be killed', () => !aliveWith(leftover.pid, leftover.starttime), 60_000);
    leftover.stop();
  });
});

describe('state files', () => {
  it('are 0600 in 0700 directories, during the run and after', async () => {
    const stateDir = newStateDir();
    const gate = join(stateDir, 'gate');
    // The run lasts until the test has looked: no window to hit on a loaded host.
    const wrapper = startWrapper(['--quiet', '--', 'sh', '-c', 'while [ ! -e "$0" ]; do sleep 0.05; done', gate], { tag, stateDir });
    // The wrapper and the lifeline carry the tag too: wait for the marker instead.
    await until('the marker', () => existsSync(join(stateDir, 'running')) && readdirSync(join(stateDir, 'running')).length === 1, 60_000);
    const modes = (dir: string) => readdirSync(dir).map((name) => statSync(join(dir, name)).mode & 0o777);
    for (const dir of ['running', 'journal']) {
      expect(statSync(join(stateDir, dir)).mode & 0o777).toBe(0o700);
      expect(modes(join(stateDir, dir)).every((mode) => mode === 0o600)).toBe(true);
    }
    writeFileSync(gate, '');
    await wrapper;
    expect(modes(join(stateDir, 'journal')).every((mode) => mode === 0o600)).toBe(true);
    expect(readdirSync(join(stateDir, 'running'))).toEqual([]);
  });

  it('never hold a secret from the command line or a process argv', async () => {
    const stateDir = newStateDir();
    const args = ['--quiet', '--timeout', '1s', '--grace', '500ms', '--', 'sh', '-c', 'sleep 300 --password=hunter2 2>/dev/null; sleep 300', 'x', 'token=abc123', 'postgres://u:pw123@h/db'];
    await startWrapper(args, { tag, stateDir });
    const journal = readdirSync(join(stateDir, 'journal'));
    const text = journal.map((name) => readFileSync(join(stateDir, 'journal', name), 'utf8')).join('');
    for (const secret of ['hunter2', 'abc123', 'pw123']) expect(text).not.toContain(secret);
  });
});
