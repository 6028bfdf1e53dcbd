import { describe, expect, it } from 'vitest';
import { parseStat } from '../../src/proc/stat.js';
import { redactArgv } from '../../src/record/redact.js';
import { adoptedOutcome, runOutcome } from '../../src/supervise/exit-status.js';
import { decodeWaitStatus } from '../../src/supervise/adopted-leader.js';
import { nextPollDelay } from '../../src/supervise/poll.js';
import { Sampler } from '../../src/supervise/sampler.js';
import { backoffMs } from '../../src/record/backoff.js';
import { KILL_KINDS, NOTABLE_KINDS } from '../../src/record/event-kinds.js';
import { latestVersions, supersedes } from '../../src/record/run-version.js';
import type { EventRecord, RunRecord } from '../../src/record/types.js';
import { endingUnderWay } from '../../src/record/ending-under-way.js';
import { KILL_REASONS, killReason } from '../../src/watchdog/metrics.js';
import { runEnd } from '../../src/report/run-end.js';
import { killAnnotation } from '../../src/report/github-actions.js';
import { cgroupV1Dir } from '../../src/proc/cgroup.js';
import { signalMember, UnsafePidError } from '../../src/terminate/guard.js';
import { isNotable } from '../../src/watchdog/journal-cache.js';

describe('parseStat', () => {
  it('survives a comm with spaces and parentheses', () => {
    const line = '4242 (evil ) (name) S 1 4242 4242 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 123456 1000000 250 18446744073709551615';
    expect(parseStat(line)).toMatchObject({ pid: 4242, comm: 'evil ) (name', state: 'S', ppid: 1, pgid: 4242, sid: 4242, utimeTicks: 7, stimeTicks: 3, starttime: 123456, rssPages: 250 });
  });
});

describe('runOutcome', () => {
  it('follows the exit-status table of docs/design.md §2', () => {
    expect(runOutcome({ code: 0, signal: null }, undefined, false)).toEqual({ status: 'completed', exitStatus: 0 });
    expect(runOutcome({ code: 2, signal: null }, undefined, false)).toEqual({ status: 'failed', exitStatus: 2 });
    expect(runOutcome({ code: null, signal: 'SIGSEGV' }, undefined, false)).toEqual({ status: 'failed', exitStatus: 139 });
    expect(runOutcome({ code: null, signal: 'SIGTERM' }, { kind: 'timeout' }, false)).toEqual({ status: 'timeout', exitStatus: 124 });
    expect(runOutcome({ code: null, signal: 'SIGTERM' }, { kind: 'timeout' }, true)).toEqual({ status: 'timeout', exitStatus: 143 });
    expect(runOutcome({ code: null, signal: 'SIGKILL' }, { kind: 'memory', rssBytes: 1, pssBytes: 1 }, false).exitStatus).toBe(137);
    expect(runOutcome({ code: 1, signal: null }, { kind: 'cancelled', signal: 'SIGINT' }, false)).toEqual({ status: 'cancelled', exitStatus: 130 });
  });
});

describe('adoptedOutcome (docs/design.md §11)', () => {
  it('records how an adopted process ended as far as an adopter can know it', () => {
    // The kernel told (PIDFD_INFO_EXIT): the process's own status, under the status a spawned run would get.
    expect(adoptedOutcome({ code: 0, signal: null }, undefined, undefined)).toEqual({ status: 'completed', exitStatus: 0, exitCode: 0, signal: null });
    expect(adoptedOutcome({ code: 3, signal: null }, undefined, undefined)).toEqual({ status: 'failed', exitStatus: 3, exitCode: 3, signal: null });
    expect(adoptedOutcome({ code: null, signal: 'SIGTERM' }, { kind: 'timeout' }, 'SIGTERM')).toEqual({ status: 'timeout', exitStatus: 143, exitCode: null, signal: 'SIGTERM' });
    // It did not: stopped by us, 128 + our last signal; ended by itself, exited with nothing known.
    expect(adoptedOutcome({ code: null, signal: null, unknown: true }, { kind: 'memory', rssBytes: 1, pssBytes: 1 }, 'SIGKILL')).toEqual({ status: 'out_of_memory', exitStatus: 137, exitCode: null, signal: null });
    expect(adoptedOutcome({ code: null, signal: null, unknown: true }, { kind: 'timeout' }, undefined)).toEqual({ status: 'timeout', exitStatus: null, exitCode: null, signal: null });
    expect(adoptedOutcome({ code: null, signal: null, unknown: true }, undefined, undefined)).toEqual({ status: 'exited', exitStatus: null, exitCode: null, signal: null });
  });

  it('decodes a wait(2) status', () => {
    expect(decodeWaitStatus(3 << 8)).toEqual({ code: 3, signal: null });
    expect(decodeWaitStatus(15)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(decodeWaitStatus(9 | 0x80)).toEqual({ code: null, signal: 'SIGKILL' });
  });
});

describe('nextPollDelay', () => {
  const base = { minMs: 100, maxMs: 1000, previousMs: 100, limitBytes: 1000, rssBytes: 100, previousRssBytes: 100, elapsedMs: 100 };
  it('relaxes towards the maximum when far below the limit', () => {
    expect(nextPollDelay(base)).toBe(150);
    expect(nextPollDelay({ ...base, previousMs: 900 })).toBe(1000);
  });
  it('polls at the minimum near the limit or when growing fast', () => {
    expect(nextPollDelay({ ...base, previousMs: 1000, rssBytes: 950 })).toBe(100);
    expect(nextPollDelay({ ...base, previousMs: 1000, rssBytes: 500, previousRssBytes: 100 })).toBe(100);
  });
});

describe('redactArgv', () => {
  it('hides values of secret-looking keys and URL passwords', () => {
    expect(redactArgv(['--password=x', 'token=y', '--api-key', 'z', 'https://u:p@h/', 'plain', '--verbose', 'v'])).toEqual([
      '--password=***', 'token=***', '--api-key', '***', 'https://u:***@h/', 'plain', '--verbose', 'v',
    ]);
  });
  it('hides secrets in URL query parameters, Authorization headers, Bearer tokens and secret-named headers', () => {
    expect(
      redactArgv([
        'https://host/x?access_token=abc123&page=2',
        'https://bucket.s3/o?X-Amz-Credential=AKIA/x&X-Amz-Signature=deadbeef&X-Amz-Date=1',
        'https://maps/api?key=AIzaXYZ&q=lab',
        'https://blob/c?sv=2022&sig=c2lnbmF0dXJl%3D',
        'Authorization: Bearer eyJhbGciOi.payload.sig',
        'authorization: Basic dXNlcjpwYXNz',
        'curl -H "Authorization: token ghp_abc" https://api',
        'X-Api-Key: k-123',
        'Bearer tok-456',
        '--sort-key=name',
        'monkey=banana',
        'Content-Type: text/plain',
      ]),
    ).toEqual([
      'https://host/x?access_token=***&page=2',
      'https://bucket.s3/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1',
      'https://maps/api?key=***&q=lab',
      'https://blob/c?sv=2022&sig=***',
      'Authorization: Bearer ***',
      'authorization: Basic ***',
      'curl -H "Authorization: token ***" https://api',
      'X-Api-Key: ***',
      'Bearer ***',
      '--sort-key=***',
      'monkey=banana',
      'Content-Type: text/plain',
    ]);
  });
});

describe('signalMember', () => {
  it('refuses pid 0, 1, -1 and non-integers', () => {
    for (const pid of [0, 1, -1, 1.5]) expect(() => signalMember({ pid, starttime: 0 }, 'SIGTERM')).toThrow(UnsafePidError);
  });
  it('does not signal a pid whose starttime differs', () => {
    expect(signalMember({ pid: process.pid, starttime: 1 }, 'SIGTERM')).toBe('gone');
  });
});

describe('Sampler', () => {
  const figures = (atMs: number, rssBytes: number) => ({ atMs, rssBytes, pssBytes: null, cpuSeconds: 0, processCount: 1 });

  it('samples every interval, a new peak at most once a second, and flushes the highest peak left', () => {
    const sampler = new Sampler(10_000);
    expect(sampler.tick(figures(0, 100))).toMatchObject({ peak: false, rssBytes: 100 });
    expect(sampler.tick(figures(500, 200))).toBeUndefined();
    expect(sampler.tick(figures(1000, 300))).toMatchObject({ peak: true, rssBytes: 300 });
    expect(sampler.tick(figures(1200, 400))).toBeUndefined();
    expect(sampler.tick(figures(1500, 350))).toBeUndefined();
    expect(sampler.tick(figures(10_000, 50))).toBeUndefined();
    expect(sampler.tick(figures(11_000, 50))).toMatchObject({ peak: false, atMs: 11_000 });
    expect(sampler.flush()).toMatchObject({ peak: true, rssBytes: 400, atMs: 1200 });
    expect(sampler.flush()).toBeUndefined();
  });

  it('writes nothing with interval 0', () => {
    const sampler = new Sampler(0);
    expect(sampler.tick(figures(0, 100))).toBeUndefined();
    expect(sampler.flush()).toBeUndefined();
  });
});

describe('backoffMs', () => {
  it('doubles from the base up to the cap, half of it jitter', () => {
    const bounds = { baseMs: 1000, capMs: 30_000 };
    expect(backoffMs(1, bounds, () => 0)).toBe(500);
    expect(backoffMs(1, bounds, () => 1)).toBe(1000);
    expect(backoffMs(3, bounds, () => 1)).toBe(4000);
    expect(backoffMs(20, bounds, () => 0)).toBe(15_000);
  });
});

describe('supersedes / latestVersions', () => {
  const run = (revision: number, status: RunRecord['status']) => ({ id: 'a', revision, status }) as RunRecord;

  it('keeps the highest revision, and the wrapper’s own ending over a reaper’s lost', () => {
    expect(latestVersions([run(2, 'completed'), run(1, 'running')])).toEqual([run(2, 'completed')]);
    expect(latestVersions([run(3, 'lost'), run(2, 'completed')])).toEqual([run(2, 'completed')]);
    expect(supersedes(run(2, 'running'), run(3, 'lost'))).toBe(false);
  });

  it('ranks every ending over every running version, whatever the revisions, in any order of arrival', () => {
    expect(supersedes(run(2, 'lost'), run(3, 'running'))).toBe(true);
    expect(supersedes(run(9, 'running'), run(2, 'completed'))).toBe(false);
    expect(supersedes(run(9, 'lost'), run(2, 'completed'))).toBe(false);
    const versions = [run(1, 'running'), run(3, 'running'), run(2, 'lost'), run(4, 'running')];
    for (const order of [versions, [...versions].reverse()]) expect(latestVersions(order)).toEqual([run(2, 'lost')]);
  });
});

describe('kill kinds (record/event-kinds.ts)', () => {
  it('are every kind of event that stops something, kill_refused included, and /status shows each of them', () => {
    expect([...KILL_KINDS].sort()).toEqual(['cancel_requested', 'kernel_oom_kill', 'kill_failed', 'kill_refused', 'limit_exceeded', 'orphan_found', 'process_killed', 'run_lost', 'signal_sent']);
    for (const kind of KILL_KINDS) expect(isNotable({ kind, detail: {} }), kind).toBe(true);
    expect([...NOTABLE_KINDS].filter((kind) => !KILL_KINDS.includes(kind))).toEqual(['run_finished']);
  });
});

describe('a kernel OOM kill (issue 15)', () => {
  const counts = { hierarchy: 'v1' as const, cgroup: '/sys/fs/cgroup/memory/scidex-run/x', oomKill: 1, oomGroupKill: null, failcnt: 3, maxUsageBytes: 10 };
  const stop = { kind: 'kernel_oom' as const, counts, victimPid: 42, backstopBytes: 10 };

  it('is out_of_memory, 137, like the memory limit kill; the command own status with --preserve-status', () => {
    expect(runOutcome({ code: null, signal: 'SIGKILL' }, stop, false)).toEqual({ status: 'out_of_memory', exitStatus: 137 });
    expect(runOutcome({ code: null, signal: 'SIGTERM' }, stop, true)).toEqual({ status: 'out_of_memory', exitStatus: 143 });
  });

  it('is the ending under way a reaper records when the wrapper died after journaling it', () => {
    const journaled = { table: 'events' as const, record: { kind: 'kernel_oom_kill', reason: 'kernel_oom', signal: null } as EventRecord };
    expect(endingUnderWay([journaled])).toEqual({ status: 'out_of_memory', exit_status: 137, reason: 'kernel_oom' });
  });

  it('counts as a kill for /metrics and the reports, with or without a signal of ours', () => {
    const record = { status: 'out_of_memory', reason: 'kernel_oom' } as RunRecord;
    expect(killReason(record, { signalReasons: new Set(), finishedEvent: true })).toBe('kernel_oom');
    expect(killReason({ ...record, reason: 'memory' }, { signalReasons: new Set(['memory']), finishedEvent: true })).toBe('memory');
    expect(KILL_REASONS).toContain('kernel_oom');
    const end = runEnd({ ...record, id: 'r1', analysis_id: 'A1', memory_limit_bytes: 300 * 2 ** 20, peak_rss_bytes: 0, exit_status: 137, started_at: '2026-11-21T08:00:00Z', ended_at: '2026-11-21T08:00:01Z' } as RunRecord, new Set());
    expect(end.killedFor).toBe('kernel_oom');
    expect(killAnnotation(end)).toBe("::error title=scidex-run::A1 killed: the kernel's OOM killer at the memory backstop above the 300.0 MiB limit after 1.00s, peak tree RSS 0.0 B (exit status 137)");
  });
});

describe('cgroup v1 paths (proc/cgroup.ts)', () => {
  it('places a cgroup under a mount whose root is /, or its own cgroup without a cgroup namespace', () => {
    expect(cgroupV1Dir({ mountPoint: '/sys/fs/cgroup/memory', root: '/' }, '/slurm/uid_0/job_7')).toBe('/sys/fs/cgroup/memory/slurm/uid_0/job_7');
    expect(cgroupV1Dir({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' }, '/docker/abc/x')).toBe('/sys/fs/cgroup/memory/x');
    expect(cgroupV1Dir({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' }, '/docker/abc')).toBe('/sys/fs/cgroup/memory');
    expect(cgroupV1Dir({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' }, '/docker/abcd')).toBeUndefined();
  });
});
