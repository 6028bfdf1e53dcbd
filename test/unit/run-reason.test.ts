/**
 * The words for why a run ended (src/query/words/reason.ts: the run page and `show` say them), for every status
 * and every reason RunRecord.reason can hold (src/record/types.ts; docs/design.md §2), the moment
 * of the kill its chart marks, and the limits as they were set (src/query/words/format.ts).
 */
import { describe, expect, it } from 'vitest';
import { limitBytes, limitDuration } from '../../src/query/words/format.js';
import { killMoment } from '../../src/watchdog/http/page/run/kill-moment.js';
import { reasonWords } from '../../src/query/words/reason.js';
import { RUN_STATUSES, type EventKind, type EventRecord, type RunRecord, type RunStatus } from '../../src/record/types.js';

const GiB = 1024 ** 3;

function run(status: RunStatus, reason: string | null, more: Partial<RunRecord> = {}): RunRecord {
  return {
    id: '3f1c9a52-6f0e-4e43-9a57-1c2d8b7e4a10',
    revision: 2,
    analysis_id: 'A42',
    parent_run_id: null,
    host: 'node1',
    boot_id: 'b',
    pid_ns: null,
    wrapper_pid: 10,
    wrapper_starttime: 1,
    pid: 11,
    pgid: 11,
    leader_starttime: 2,
    argv: ['python3', 'fit.py'],
    cwd: '/',
    username: 'ana',
    timeout_ms: 30 * 60_000,
    memory_limit_bytes: 2 * GiB,
    grace_ms: 10_000,
    orphan_policy: 'kill',
    tracking_backend: 'cgroup',
    cgroup_path: null,
    journal_path: '/j',
    started_at: '2026-12-07T10:00:00.000Z',
    heartbeat_at: '2026-12-07T10:01:00.000Z',
    ended_at: status === 'running' ? null : '2026-12-07T10:01:00.000Z',
    status,
    exit_status: null,
    exit_code: null,
    signal: null,
    reason,
    peak_rss_bytes: 2.3 * GiB,
    peak_pss_bytes: 2.2 * GiB,
    cpu_seconds: 1,
    peak_process_count: 3,
    process_count: 0,
    ...more,
  };
}

function event(kind: EventKind, elapsed_ms: number, more: Partial<EventRecord> = {}): EventRecord {
  return { id: `e${elapsed_ms}`, run_id: 'r', analysis_id: null, at: new Date(elapsed_ms).toISOString(), kind, reason: null, pid: null, pids: [], signal: null, rss_bytes: null, pss_bytes: null, process_rss_bytes: null, elapsed_ms, detail: {}, ...more };
}

describe('reasonWords', () => {
  it('says what stopped a run, for every reason of ours', () => {
    const memoryEvent = event('limit_exceeded', 5000, { reason: 'memory', rss_bytes: 2.3 * GiB, pss_bytes: 2.1 * GiB });
    expect(reasonWords(run('out_of_memory', 'memory'), [memoryEvent])).toBe('killed: tree memory (PSS 2.1 GiB) exceeded its 2 GiB limit');
    // Without the event, the run's peak; RSS where PSS was never read.
    expect(reasonWords(run('out_of_memory', 'memory'), [])).toBe('killed: tree memory (PSS 2.2 GiB) exceeded its 2 GiB limit');
    expect(reasonWords(run('out_of_memory', 'memory', { peak_pss_bytes: null }), [])).toBe('killed: tree memory (RSS 2.3 GiB) exceeded its 2 GiB limit');
    expect(reasonWords(run('out_of_memory', 'memory'), [{ ...memoryEvent, pss_bytes: null }])).toBe('killed: tree memory (RSS 2.3 GiB) exceeded its 2 GiB limit');
    expect(reasonWords(run('timeout', 'timeout'), [])).toBe('killed: ran past its 30 min timeout');
    expect(reasonWords(run('timeout', 'slurm_time_limit', { slurm_job_id: '4242' }), [])).toBe('killed: reached the time limit of its Slurm job 4242');
    expect(reasonWords(run('out_of_memory', 'kernel_oom'), [])).toBe("killed by the kernel's OOM killer in the run's memory cgroup (the backstop above its 2 GiB limit)");
    const pressure = event('limit_exceeded', 100, { reason: 'host_pressure', pss_bytes: 1.5 * GiB });
    expect(reasonWords(run('out_of_memory', 'host_pressure'), [pressure])).toBe('stopped by the memory-pressure guard: the largest run (PSS 1.5 GiB) of a host short of memory');
    expect(reasonWords(run('out_of_memory', 'host_pressure: MemAvailable 1.1 GiB < 1.2 GiB'), [])).toBe('stopped by the memory-pressure guard: MemAvailable 1.1 GiB < 1.2 GiB');
    expect(reasonWords(run('cancelled', 'cancelled'), [event('cancel_requested', 1, { signal: 'SIGINT' })])).toBe('cancelled by SIGINT');
    expect(reasonWords(run('cancelled', 'cancelled'), [event('signal_sent', 1, { signal: 'SIGTERM' })])).toBe('cancelled by SIGTERM');
    expect(reasonWords(run('cancelled', 'cancelled: <b>node drained</b>'), [])).toBe('cancelled: <b>node drained</b>');
  });

  it('says how a run ended by itself, or why it was lost, released or never started', () => {
    expect(reasonWords(run('running', null), [])).toBe('running');
    expect(reasonWords(run('completed', null, { exit_code: 0, exit_status: 0 }), [])).toBe('completed');
    expect(reasonWords(run('failed', null, { exit_code: 3, exit_status: 3 }), [])).toBe('failed: exited with code 3');
    expect(reasonWords(run('failed', null, { signal: 'SIGSEGV', exit_status: 139 }), [])).toBe('failed: died of SIGSEGV');
    expect(reasonWords(run('failed', 'orphans', { exit_code: 1 }), [])).toBe('failed: exited with code 1; its leftover processes were killed');
    expect(reasonWords(run('completed', 'orphans', { exit_code: 0 }), [])).toBe('completed; its leftover processes were killed');
    expect(reasonWords(run('failed', 'internal error: EIO'), [])).toBe('failed: internal error: EIO');
    expect(reasonWords(run('failed_to_start', 'spawn nope ENOENT'), [])).toBe('failed to start: spawn nope ENOENT');
    expect(reasonWords(run('lost', 'wrapper_gone'), [])).toBe('lost: its wrapper died; the daemon ended what was left of its tree');
    expect(reasonWords(run('lost', 'host_rebooted'), [])).toBe('lost: the host rebooted while it ran');
    expect(reasonWords(run('lost', 'pid reused: another starttime'), [])).toBe('lost: its wrapper is gone: pid reused: another starttime');
    expect(reasonWords(run('exited', null), [])).toBe('exited by itself (adopted: its exit status is unknown to us)');
    expect(reasonWords(run('released', 'released'), [])).toBe('released: scidex-watchdog release ended the supervision; the process runs on');
    expect(reasonWords(run('released', 'released; by ana'), [])).toBe('released: by ana');
  });

  it('has words for every status without a reason', () => {
    for (const status of RUN_STATUSES) expect(reasonWords(run(status, null), [])).toMatch(/^[a-z]/);
  });
});

describe('killMoment', () => {
  it('is the limit decision, else the first signal of ours, else the kernel OOM kill', () => {
    const signal = event('signal_sent', 7000, { signal: 'SIGTERM' });
    expect(killMoment([event('run_started', 0), signal, event('limit_exceeded', 6500)])).toEqual({ elapsed_ms: 6500, kind: 'limit_exceeded' });
    expect(killMoment([signal, event('signal_sent', 8000)])).toEqual({ elapsed_ms: 7000, kind: 'signal_sent' });
    expect(killMoment([event('kernel_oom_kill', 900)])).toEqual({ elapsed_ms: 900, kind: 'kernel_oom_kill' });
    expect(killMoment([event('run_started', 0), event('run_finished', 10)])).toBeNull();
  });
});

describe('limits as they were set', () => {
  it('writes sizes without a trailing .0 and durations in whole units', () => {
    expect(limitBytes(2 * GiB)).toBe('2 GiB');
    expect(limitBytes(1.5 * GiB)).toBe('1.5 GiB');
    expect(limitBytes(512 * 1024 ** 2)).toBe('512 MiB');
    expect(limitDuration(30 * 60_000)).toBe('30 min');
    expect(limitDuration(90_000)).toBe('1 min 30 s');
    expect(limitDuration(5_400_000)).toBe('1 h 30 min');
    expect(limitDuration(1000)).toBe('1 s');
    expect(limitDuration(1500)).toBe('1.5 s');
    expect(limitDuration(250)).toBe('250 ms');
    expect(limitDuration(2 * 86_400_000 + 3_600_000)).toBe('2 d 1 h');
  });
});
