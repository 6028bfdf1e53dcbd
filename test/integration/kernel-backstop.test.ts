/**
 * The kernel memory backstop on a host whose memory controller is on cgroup v1 (this one): the run
 * is put in a v1 memory cgroup with the backstop as memory.limit_in_bytes, so a balloon that grows
 * faster than any scan is stopped by the kernel, and the run is recorded as out_of_memory /
 * kernel_oom with exit status 137, in the journal and in PostgreSQL. Real memory, real processes,
 * the real kernel OOM killer. Skipped where no writable v1 memory hierarchy exists (a systemd host
 * with the memory controller on cgroup v2, a non-root CI).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { sharedClient } from '../helpers/database.js';
import { availableBackends } from '../helpers/lost-runs.js';
import { ownedTag, tagged, waitForTagged } from '../helpers/processes.js';
import { freeLoopbackPort } from '../helpers/server-host.js';
import { until } from '../helpers/until.js';
import { BIN, EXAMPLES, journalOf, journalSoFar, newStateDir, startWrapper } from '../helpers/wrapper.js';
import { isDead, readStat } from '../../src/proc/stat.js';
import { ownV1MemoryDir } from '../../src/track/memory-backstop.js';
import { removeStaleCgroups, removeStaleV1Cgroups } from '../../src/track/stale-cgroups.js';
import { readJournal } from '../../src/record/journal.js';
import type { EventRecord, RunRecord } from '../../src/record/types.js';
import type { HostStatus } from '../../src/watchdog/status-body.js';

const tag = ownedTag();
const database = sharedClient();
const backends = await availableBackends();
const MIB = 1024 * 1024;
/** The run's memory limit, and its backstop: the limit plus max(1/16 of it, 64 MiB). */
const LIMIT = 300 * MIB;
const BACKSTOP = LIMIT + 64 * MIB;

/** What `--explain-tracking --json` says of the backstop a run gets here. */
const explained = JSON.parse((await execa(BIN, ['--explain-tracking', '--json'])).stdout) as { memory_backstop: { hierarchy: 'v1' | 'v2' | null; why: string } };
const SKIP_REASON =
  explained.memory_backstop.hierarchy === 'v1'
    ? undefined
    : explained.memory_backstop.hierarchy === 'v2'
      ? 'the memory controller is on cgroup v2 here: runs get memory.max, no v1 memory cgroup'
      : `no writable cgroup v1 memory hierarchy: ${explained.memory_backstop.why}`;

/** The run's v1 memory cgroup, as its run_started event records it. */
function backstopOf(events: EventRecord[]): { hierarchy: string; cgroup: string; bytes: number } {
  const started = events.find((event) => event.kind === 'run_started')!;
  return (started.detail as { tracking: { memory_backstop: { hierarchy: string; cgroup: string; bytes: number } } }).tracking.memory_backstop;
}

describe.skipIf(SKIP_REASON !== undefined)(`the kernel backstop on cgroup v1${SKIP_REASON ? ` (skipped: ${SKIP_REASON})` : ''}`, () => {
  it('is what --explain-tracking reports', async () => {
    const { stdout } = await execa(BIN, ['--explain-tracking']);
    expect(stdout).toMatch(/^kernel memory backstop: cgroup v1, the limit plus 1\/16 \(at least 64 MiB\): the run's cgroup v2 has no memory controller|^kernel memory backstop: cgroup v1, the limit plus 1\/16 \(at least 64 MiB\): no run cgroup v2/m);
  });

  describe.each(backends)('%s backend', (backend) => {
    it('stops a balloon that grows faster than any scan, and records out_of_memory / kernel_oom with 137 in the journal and PostgreSQL', { timeout: 120_000 }, async () => {
      const stateDir = newStateDir();
      const analysisId = `kernel-oom-${backend}-${tag}`;
      // 128 MiB written every ~60 ms, to 1 GiB in about half a second; the first scan after the
      // spawn comes 30 s later, and would record `memory` and a limit_exceeded (both asserted absent
      // below): that, not the wall clock, says the kernel stopped it. (The wrapper's own start took
      // 15 s once at the start of a suite on a loaded host.) The timeout is only a bound.
      const args = ['--quiet', '--tracking', backend, '--analysis-id', analysisId, '--database-url', database.url, '--memory-limit', '300MiB',
        '--poll-interval', '30s', '--timeout', '60s', '--grace', '2s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '128', '1024'];
      const result = await startWrapper(args, { tag, stateDir, reportStall: true });
      expect(result.exitCode, result.stderr).toBe(137);
      const { runs, events, processes } = journalOf(stateDir);
      const run = runs.at(-1)!;
      expect(run).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'kernel_oom', signal: 'SIGKILL', tracking_backend: backend });
      // The command died of the kernel's SIGKILL: killed, not exited.
      expect(processes.find((process) => process.pid === run.pid)).toMatchObject({ fate: 'killed' });
      const backstop = backstopOf(events);
      expect(backstop).toEqual({ hierarchy: 'v1', cgroup: expect.stringMatching(new RegExp(`/scidex-run/${run.id}$`)), bytes: BACKSTOP });
      expect(backstop.cgroup.startsWith((ownV1MemoryDir() as { dir: string }).dir + '/')).toBe(true);
      // The scan never decided: no limit_exceeded, no signal of ours (the kernel killed the only process).
      expect(events.filter((event) => event.kind === 'limit_exceeded')).toEqual([]);
      const oom = events.find((event) => event.kind === 'kernel_oom_kill')!;
      expect(oom).toMatchObject({ reason: 'kernel_oom', pid: run.pid });
      expect(oom.detail).toMatchObject({ hierarchy: 'v1', cgroup: backstop.cgroup, memory_backstop_bytes: BACKSTOP, memory_limit_bytes: LIMIT, oom_group_kill: null });
      expect(oom.detail.oom_kill).toBeGreaterThanOrEqual(1);
      // The kernel let it reach the backstop, not further.
      expect(oom.detail.max_usage_bytes).toBeGreaterThan(LIMIT);
      expect(oom.detail.max_usage_bytes).toBeLessThanOrEqual(BACKSTOP);
      expect(events.at(-1)).toMatchObject({ kind: 'run_finished', reason: 'kernel_oom', detail: { status: 'out_of_memory', exit_status: 137 } });
      // Nothing survives, and the v1 cgroup is gone.
      expect(tagged(tag)).toEqual([]);
      expect(existsSync(backstop.cgroup)).toBe(false);

      const rows = await database.client().query('SELECT * FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
      expect(rows.rows).toHaveLength(1);
      expect(rows.rows[0]).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'kernel_oom', signal: 'SIGKILL' });
      const stored = await database.client().query(`SELECT * FROM watchdog_events WHERE run_id = $1 AND kind = 'kernel_oom_kill'`, [run.id]);
      expect(stored.rows).toHaveLength(1);
      expect(stored.rows[0]).toMatchObject({ reason: 'kernel_oom', pid: run.pid, analysis_id: analysisId });
      expect(stored.rows[0].detail).toMatchObject({ hierarchy: 'v1', memory_backstop_bytes: BACKSTOP, oom_kill: oom.detail.oom_kill });
    });
  });

  // The timeout is only a hang bound (the run ends by the kernel's kill): minutes, so that a python3
  // start starved by the suite's own load never lets it win, and the test's own bound is larger.
  it('ends the rest of the tree after v1 kills the one process, as a memory kill', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    // The balloon is a child: v1's OOM killer takes it alone, and the shell and its sleep stay. The
    // next scan (2 s) reads oom_kill and the termination sequence ends them. The sleep is forked
    // first: a fork into a memory cgroup at its limit may fail (ENOMEM), and a loaded machine may
    // run the balloon to the limit before the shell's second fork.
    const tree = `sleep 300 & python3 ${join(EXAMPLES, 'balloon.py')} 128 1024 >/dev/null & wait`;
    const args = ['--quiet', '--memory-limit', '300MiB', '--poll-interval', '2s', '--timeout', '2min', '--grace', '1s', '--', 'sh', '-c', tree];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode, result.stderr).toBe(137);
    const { runs, events, processes } = journalOf(stateDir);
    const told = JSON.stringify({ events: events.map(({ kind, reason, pid, pids, signal, elapsed_ms, detail }) => ({ kind, reason, pid, pids, signal, elapsed_ms, detail })), processes, stderr: result.stderr });
    expect(runs.at(-1), told).toMatchObject({ status: 'out_of_memory', exit_status: 137, reason: 'kernel_oom' });
    const oom = events.find((event) => event.kind === 'kernel_oom_kill')!;
    // The victim was not the leader: the kernel does not say which process it was.
    expect(oom).toMatchObject({ reason: 'kernel_oom', pid: null, detail: { hierarchy: 'v1', oom_kill: 1 } });
    const sent = events.find((event) => event.kind === 'signal_sent')!;
    expect(sent, told).toMatchObject({ reason: 'kernel_oom', signal: 'SIGTERM' });
    expect(sent.pids).toHaveLength(2); // sh and sleep
    expect(events.indexOf(oom)).toBeLessThan(events.indexOf(sent));
    expect(tagged(tag)).toEqual([]);
    expect(existsSync(backstopOf(events).cgroup)).toBe(false);
  });

  // The run's timeout is only a hang bound (the kernel ends the run): minutes, with the test's own bound larger.
  it('is a kill on the daemon: /status (kills_last_24h, recent_events) and /metrics (scidex_kills_total{reason="kernel_oom"})', { timeout: 240_000 }, async () => {
    const stateDir = newStateDir();
    const port = await freeLoopbackPort();
    const base = `http://127.0.0.1:${port}`;
    const watchdog = BIN.replace(/scidex-run$/, 'scidex-watchdog');
    const env = { SCIDEX_RUN_STATE_DIR: stateDir, DATABASE_URL: undefined, PGHOST: undefined, PGDATABASE: undefined, SCIDEX_TEST_TAG: tag };
    const daemon = execa(watchdog, ['serve', '--listen', `127.0.0.1:${port}`, '--interval', '500ms', '--state-dir', stateDir], { reject: false, stdin: 'ignore', env });
    try {
      const fetchJson = async <T>(path: string): Promise<T | undefined> => fetch(`${base}${path}`).then((response) => (response.ok ? (response.json() as Promise<T>) : undefined)).catch(() => undefined);
      await until('the daemon to answer', () => fetchJson<HostStatus>('/status'), 60_000, { every: 100 });
      const args = ['--quiet', '--memory-limit', '300MiB', '--poll-interval', '30s', '--timeout', '2min', '--', 'python3', join(EXAMPLES, 'balloon.py'), '128', '1024'];
      const result = await startWrapper(args, { tag, stateDir, reportStall: true });
      expect(result.exitCode, result.stderr).toBe(137);
      const runId = journalOf(stateDir).runs.at(-1)!.id;
      const status = await until('the kill in /status', async () => {
        const current = await fetchJson<HostStatus>('/status');
        return current?.recent_events.some((event) => event.run_id === runId && event.kind === 'kernel_oom_kill') ? current : undefined;
      }, 60_000, { every: 200 });
      expect(status.kills_last_24h).toBe(1);
      expect(status.recent_events).toContainEqual(expect.objectContaining({ run_id: runId, kind: 'kernel_oom_kill', reason: 'kernel_oom' }));
      const metric = (text: string, series: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').find((line) => line.startsWith(`${series} `)) ?? '')?.[2]);
      const text = await until('the kill in /metrics', async () => {
        const body = await fetch(`${base}/metrics`).then((response) => response.text()).catch(() => '');
        return metric(body, 'scidex_kills_total{reason="kernel_oom"}') === 1 ? body : undefined;
      }, 60_000, { every: 200 });
      expect(metric(text, 'scidex_kills_total{reason="memory"}')).toBe(0);
      expect(metric(text, 'scidex_runs_finished_total{status="out_of_memory"}')).toBe(1);
    } finally {
      daemon.kill('SIGTERM');
      await daemon;
    }
  });

  it('nested: the inner run met its own backstop and is kernel_oom; the outer sees its command fail with 137', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    const inner = [BIN, '--quiet', '--memory-limit', '300MiB', '--poll-interval', '30s', '--', 'python3', join(EXAMPLES, 'balloon.py'), '128', '1024'];
    // The outer timeout is only a hang bound: two wrappers starting on a loaded host (the suite's
    // load test starts 30 at once beside it) took more than 20 s in CI, and the outer's timeout won.
    const result = await startWrapper(['--quiet', '--memory-limit', '1GiB', '--timeout', '2min', '--', ...inner], { tag, stateDir, reportStall: true });
    expect(result.exitCode, result.stderr).toBe(137);
    const journals = readdirSync(join(stateDir, 'journal')).filter((name) => name.endsWith('.jsonl'));
    expect(journals).toHaveLength(2);
    const runs = journals.map((name) => readJournal(join(stateDir, 'journal', name)).entries.filter((entry) => entry.table === 'runs').map((entry) => entry.record as RunRecord).at(-1)!);
    const outer = runs.find((run) => run.parent_run_id === null)!;
    const nested = runs.find((run) => run.parent_run_id === outer.id)!;
    expect(nested).toMatchObject({ status: 'out_of_memory', reason: 'kernel_oom', exit_status: 137 });
    expect(outer).toMatchObject({ status: 'failed', reason: null, exit_status: 137, exit_code: 137 });
    const own = (ownV1MemoryDir() as { dir: string }).dir;
    expect(existsSync(join(own, 'scidex-run', outer.id))).toBe(false);
  });

  it('records no kernel_oom for a run that stays under its limit', async () => {
    const stateDir = newStateDir();
    const analysisId = `kernel-oom-under-${tag}`;
    const args = ['--quiet', '--analysis-id', analysisId, '--database-url', database.url, '--memory-limit', '300MiB', '--poll-interval', '30s', '--',
      'python3', '-c', 'import time; held = bytes([1]) * (200 << 20); time.sleep(0.3)'];
    const result = await startWrapper(args, { tag, stateDir, reportStall: true });
    expect(result.exitCode, result.stderr).toBe(0);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0, reason: null });
    expect(events.filter((event) => event.kind === 'kernel_oom_kill')).toEqual([]);
    const backstop = backstopOf(events);
    expect(backstop).toMatchObject({ hierarchy: 'v1', bytes: BACKSTOP });
    expect(existsSync(backstop.cgroup)).toBe(false);
    const rows = await database.client().query('SELECT status, reason FROM watchdog_runs WHERE analysis_id = $1', [analysisId]);
    expect(rows.rows).toEqual([{ status: 'completed', reason: null }]);
  });

  it('gives a run without a memory limit no v1 memory cgroup', async () => {
    const stateDir = newStateDir();
    const result = await startWrapper(['--quiet', '--memory-limit', '0', '--', 'true'], { tag, stateDir });
    expect(result.exitCode, result.stderr).toBe(0);
    const started = journalOf(stateDir).events.find((event) => event.kind === 'run_started')!;
    expect(started.detail).toMatchObject({ tracking: { memory_backstop_bytes: null, memory_backstop: null } });
  });

  it('is an extra: a run whose v1 memory cgroup went away before the spawn runs on without the backstop, and says so', async () => {
    const stateDir = newStateDir();
    // Stopped after the cgroups and the journal are made, before the spawn (src/sys/failpoint.ts).
    const wrapper = startWrapper(['--memory-limit', '300MiB', '--', 'true'], { tag, stateDir, env: { SCIDEX_FAILPOINTS: 'journal-created' } });
    await until('the wrapper to stop at its failpoint', () => readStat(wrapper.pid!)?.state === 'T', 60_000);
    const runId = readdirSync(join(stateDir, 'journal')).find((name) => name.endsWith('.jsonl'))!.slice(0, -'.jsonl'.length);
    const cgroup = join((ownV1MemoryDir() as { dir: string }).dir, 'scidex-run', runId);
    rmdirSync(cgroup);
    process.kill(wrapper.pid!, 'SIGCONT');
    const result = await wrapper;
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`warning: no kernel memory backstop for this run: cannot move into ${cgroup}: ENOENT`);
    const { runs, events } = journalOf(stateDir);
    expect(runs.at(-1)).toMatchObject({ status: 'completed', exit_status: 0 });
    expect(events.find((event) => event.kind === 'run_started')!.detail).toMatchObject({ tracking: { memory_backstop_bytes: null, memory_backstop: null } });
  });

  // Two Node starts (the wrapper's, then the lifeline's reaper's) that a loaded host can starve to tens of seconds each.
  it('is removed by the reaper when the wrapper is SIGKILLed', { timeout: 180_000 }, async () => {
    const stateDir = newStateDir();
    const wrapper = startWrapper(['--quiet', '--memory-limit', '300MiB', '--grace', '1s', '--', 'sleep', '300'], { tag, stateDir });
    await waitForTagged(tag, 3); // the wrapper, the lifeline, the sleep
    const started = await until('the run_started event', () => journalSoFar(stateDir)?.events.find((event) => event.kind === 'run_started'));
    const cgroup = backstopOf([started]).cgroup;
    expect(readFileSync(join(cgroup, 'cgroup.procs'), 'latin1').trim()).not.toBe('');
    wrapper.kill('SIGKILL');
    await wrapper;
    // The lifeline's reaper kills the sleep, finishes the run as lost and removes the v1 cgroup.
    await until('the run to be finished by the lifeline', () => journalOf(stateDir).runs.at(-1)?.status === 'lost', 60_000);
    await until('every tagged process to end', () => tagged(tag).length === 0, 60_000, { every: 100 });
    await until(`${cgroup} to be removed`, () => !existsSync(cgroup), 60_000, { every: 100 });
  });

  it('left empty by a crash, is removed by the stale sweep; one with a process in it is not', async () => {
    const own = ownV1MemoryDir() as { dir: string };
    const empty = join(own.dir, 'scidex-run', randomUUID());
    const populated = join(own.dir, 'scidex-run', randomUUID());
    mkdirSync(empty, { recursive: true });
    mkdirSync(populated, { recursive: true });
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore', env: { PATH: process.env.PATH, SCIDEX_TEST_TAG: tag } });
    const pid = sleeper.pid!;
    const exited = new Promise((resolve) => sleeper.once('exit', resolve));
    try {
      writeFileSync(join(populated, 'cgroup.procs'), String(pid));
      // The sweep leaves cgroups younger than its minimum age alone (a minute in production).
      expect(removeStaleCgroups()).not.toContain(empty);
      expect(existsSync(empty)).toBe(true);
      await sleep(3100);
      // Only the v1 half with a 3 s age here: the cgroup v2 runs of other test files must keep theirs.
      const removed = removeStaleV1Cgroups(3000);
      expect(removed).toContain(empty);
      expect(removed).not.toContain(populated);
      expect(existsSync(empty)).toBe(false);
      expect(existsSync(populated)).toBe(true);
    } finally {
      const stat = readStat(pid);
      if (stat && !isDead(stat)) sleeper.kill('SIGKILL');
      await exited;
    }
    expect(removeStaleV1Cgroups(3000)).toContain(populated);
    expect(existsSync(populated)).toBe(false);
  });
});
