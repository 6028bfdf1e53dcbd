import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { killSurvivors, ownedTag, tagged, waitForTagged } from '../helpers/processes.js';
import { journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { until } from '../helpers/until.js';
import { catchesSignal } from '../../src/proc/signals.js';

const tag = ownedTag();

describe('termination of the whole tree', () => {
  it('kills a tree of several levels on timeout, leaving nothing', async () => {
    const stateDir = newStateDir();
    const tree = 'sh -c "sh -c \\"sleep 300 & sleep 300\\" & sleep 300" & sleep 300';
    const result = await startWrapper(['--quiet', '--timeout', '3s', '--grace', '2s', '--', 'sh', '-c', tree], { tag, stateDir });
    expect(result.exitCode).toBe(124);
    expect(tagged(tag)).toEqual([]);
    const { runs, events, processes } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'timeout', exit_status: 124 });
    expect(processes.length).toBeGreaterThanOrEqual(6);
    expect(processes.every((process) => process.fate !== 'left_running')).toBe(true);
    const sent = events.find((event) => event.kind === 'signal_sent');
    expect(sent).toMatchObject({ reason: 'timeout', signal: 'SIGTERM' });
    expect(sent!.pids.length).toBeGreaterThanOrEqual(6);
  });

  it('SIGKILLs a tree that ignores SIGTERM at every level after the grace period', async () => {
    const stateDir = newStateDir();
    const script = 'trap "" TERM; sh -c "sleep 300 & sleep 300" & sleep 300';
    const started = Date.now();
    const result = await startWrapper(['--quiet', '--timeout', '2s', '--grace', '1s', '--', 'sh', '-c', script], { tag, stateDir });
    expect(result.exitCode).toBe(124);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const { events, processes } = journalOf(stateDir);
    expect(events.some((event) => event.kind === 'signal_sent' && event.signal === 'SIGKILL')).toBe(true);
    expect(processes.filter((process) => process.fate === 'killed').length).toBeGreaterThanOrEqual(3);
  });

  it('terminates a stopped process with SIGTERM (SIGCONT follows the TERM)', async () => {
    const stateDir = newStateDir();
    const script = 'sleep 300 & kill -STOP $!; sleep 300';
    const result = await startWrapper(['--quiet', '--timeout', '1s', '--grace', '5s', '--', 'sh', '-c', script], { tag, stateDir });
    expect(result.exitCode).toBe(124);
    const { processes } = journalOf(stateDir);
    const stopped = processes.find((process) => process.comm === 'sleep' && process.fate === 'terminated');
    expect(stopped).toBeDefined();
    expect(processes.some((process) => process.fate === 'killed')).toBe(false);
  });

  it('finds a grandchild that called setsid and re-parented to init by its cookie (pgroup backend)', async () => {
    const stateDir = newStateDir();
    // The escape happens between two scans, so the first scan to see the sleep sees it outside
    // the group and the session with init as its parent: only the cookie can find it.
    const script = 'sleep 0.3; (setsid sleep 300 &); sleep 300';
    const args = ['--quiet', '--tracking', 'pgroup', '--poll-interval', '3s', '--timeout', '3500ms', '--grace', '1s'];
    const result = await startWrapper([...args, '--', 'sh', '-c', script], { tag, stateDir });
    expect(result.exitCode).toBe(124);
    const { processes } = journalOf(stateDir);
    const escaped = processes.find((process) => process.argv.join(' ') === 'sleep 300' && process.sid !== processes[0].sid);
    expect(escaped).toMatchObject({ found_by: 'cookie', fate: 'terminated' });
  });

  it('kills orphans after the leader exits, keeping the leader status', async () => {
    const stateDir = newStateDir();
    const result = await startWrapper(['--quiet', '--grace', '1s', '--', 'sh', '-c', 'sleep 300 & (setsid sleep 300 &); exit 3'], {
      tag,
      stateDir,
    });
    expect(result.exitCode).toBe(3);
    expect(tagged(tag)).toEqual([]);
    const { events, runs } = journalOf(stateDir);
    expect(events.filter((event) => event.kind === 'orphan_found')).toHaveLength(2);
    expect(runs.at(-1)).toMatchObject({ status: 'failed', exit_status: 3 });
  });

  it('leaves orphans alone under --orphans ignore, and records them', async () => {
    const stateDir = newStateDir();
    const result = await startWrapper(['--quiet', '--orphans', 'ignore', '--', 'sh', '-c', 'sleep 300 >/dev/null 2>&1 & exit 0'], { tag, stateDir });
    expect(result.exitCode).toBe(0);
    expect(tagged(tag)).toHaveLength(1);
    const { events, processes } = journalOf(stateDir);
    expect(events.filter((event) => event.kind === 'orphan_found')).toHaveLength(1);
    // Not by comm: the scans right after the leader's exit may see the child before its exec of sleep.
    expect(processes.find((process) => process.found_by !== 'leader')).toMatchObject({ fate: 'left_running' });
    // The test, not the product, cleans up here: by pid, after checking the tag.
    expect(await killSurvivors(tag)).toHaveLength(1);
  });

  it('waits for orphans under --orphans wait, still under the timeout', async () => {
    const stateDir = newStateDir();
    const started = Date.now();
    const ok = await startWrapper(['--quiet', '--orphans', 'wait', '--', 'sh', '-c', 'sleep 1 & exit 0'], { tag, stateDir });
    expect(ok.exitCode).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    const late = await startWrapper(['--quiet', '--orphans', 'wait', '--timeout', '1s', '--grace', '1s', '--', 'sh', '-c', 'sleep 300 & exit 0'], { tag });
    expect(late.exitCode).toBe(124);
  });

  it('forwards SIGTERM to the whole tree and exits 143, SIGINT 130', async () => {
    for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      const stateDir = newStateDir();
      const wrapper = startWrapper(['--quiet', '--grace', '5s', '--', 'sh', '-c', 'sleep 300 & sleep 300 & wait'], { tag, stateDir });
      await waitForTagged(tag, 4);
      wrapper.kill(signal);
      const result = await wrapper;
      expect(result.exitCode).toBe(status);
      expect(tagged(tag)).toEqual([]);
      expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: status });
    }
  });

  it('records a cancel when the SIGTERM of the whole job reaches the leader before the wrapper (as slurmstepd sends it)', async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--', 'sleep', '300'], { tag, stateDir });
    const leader = await until('the leader', () => journalSoFar(stateDir)?.runs.find((run) => run.pid !== null)?.pid ?? undefined);
    await until('the wrapper to catch SIGTERM', () => catchesSignal(wrapper.pid!, 'SIGTERM'));
    process.kill(leader, 'SIGTERM'); // the leader first: its exit may reach the wrapper before the wrapper's own signal
    wrapper.kill('SIGTERM');
    expect((await wrapper).exitCode).toBe(143);
    expect(journalOf(stateDir).runs.at(-1)).toMatchObject({ status: 'cancelled', exit_status: 143, reason: 'cancelled' });
  });

  it('treats the first Ctrl-C during the orphans\' grace period as a cancel, not as a second Ctrl-C', async () => {
    const stateDir = newStateDir();
    const ready = join(stateDir, 'trap-set');
    // The leader exits only once the orphan ignores TERM and INT, so the orphans' SIGTERM cannot beat its trap.
    const script = `(trap "" TERM INT; touch ${ready}; exec sleep 300) >/dev/null 2>&1 & while [ ! -e ${ready} ]; do sleep 0.02; done; exit 0`;
    const wrapper = startWrapper(['--quiet', '--grace', '5s', '--', 'sh', '-c', script], { tag, stateDir });
    const inGrace = () => journalSoFar(stateDir)?.events.some((event) => event.kind === 'signal_sent' && event.reason === 'orphans') ?? false;
    await until("the orphans' grace period", inGrace, 60_000, { every: 100 });
    wrapper.kill('SIGINT');
    const result = await wrapper;
    expect(result.exitCode).toBe(130);
    const { events, processes } = journalOf(stateDir);
    expect(events.some((event) => event.kind === 'signal_forwarded' && event.signal === 'SIGINT')).toBe(true);
    expect(processes.find((process) => process.comm === 'sleep')).toMatchObject({ fate: 'killed' });
  });

  it('forwards SIGUSR1 without cancelling the run', async () => {
    const script = 'trap "echo got-usr1; exit 0" USR1; while :; do sleep 0.05; done';
    const wrapper = startWrapper(['--quiet', '--', 'sh', '-c', script], { tag });
    // The wrapper, its lifeline, sh and a sleep of the loop: sh has set its trap by then.
    await waitForTagged(tag, 4);
    wrapper.kill('SIGUSR1');
    const result = await wrapper;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('got-usr1');
  });
});
