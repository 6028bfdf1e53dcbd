// Synthetic but valid journals: what a finished run of `records` lines looks like, with the sizes of
// real ones (a run row ~1 KB, events 350-600 B, processes ~400 B, samples ~250 B). Each run has two
// versions of its run row (running, then completed), run_started and run_finished, and the rest is
// split half samples, 30 % processes and 20 % kill events (orphan_found, signal_sent, process_killed).
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventKind, EventRecord, JournalEntry, ProcessRecord, RunRecord, SampleRecord } from '../../../src/record/types.js';
import type { Counts } from '../common/db.js';

const iso = (ms: number): string => new Date(ms).toISOString();
const KILL_EVENTS: EventKind[] = ['orphan_found', 'signal_sent', 'process_killed'];

/** The lines of one finished run, in the order a wrapper writes them. */
export function syntheticRun(id: string, journalPath: string, records: number): JournalEntry[] {
  const rest = Math.max(0, records - 4);
  const samples = Math.round(rest * 0.5);
  const processes = Math.round(rest * 0.3);
  const kills = rest - samples - processes;
  const t0 = Date.now() - 3_600_000;
  const wrapperPid = 100_000 + Math.floor(Math.random() * 100_000);
  const argv = ['python3', 'analyze.py', '--input', '/data/cohort-2026/batch-17.parquet', '--workers', '8'];
  const end = t0 + (samples + 1) * 10_000;
  const run = (revision: number, ended: boolean): RunRecord => ({
    id, revision, analysis_id: 'bench-analysis-0042', parent_run_id: null, host: 'bench-host', boot_id: '703b24d8-4bf6-427a-8c1e-235e5afdd685',
    pid_ns: 'pid:[4026531836]', wrapper_pid: wrapperPid, wrapper_starttime: 24_673_000, pid: wrapperPid + 12, pgid: wrapperPid + 12,
    leader_starttime: 24_673_019, argv, cwd: '/home/scidex/analyses/cohort-2026', username: 'scidex', timeout_ms: 1_800_000,
    memory_limit_bytes: 2 ** 31, grace_ms: 10_000, orphan_policy: 'kill', tracking_backend: 'cgroup',
    cgroup_path: `/sys/fs/cgroup/unified/scidex-run/${id}`, journal_path: journalPath, started_at: iso(t0), heartbeat_at: iso(ended ? end : t0 + 12),
    ended_at: ended ? iso(end) : null, status: ended ? 'completed' : 'running', exit_status: ended ? 0 : null, exit_code: ended ? 0 : null,
    signal: null, reason: null, peak_rss_bytes: 1_234_567_890, peak_pss_bytes: null, cpu_seconds: ended ? 8123.4 : 0,
    peak_process_count: 9, process_count: processes,
  });
  const event = (kind: EventKind, at: number, fields: Partial<EventRecord> = {}): JournalEntry => ({
    table: 'events',
    record: {
      id: randomUUID(), run_id: id, analysis_id: 'bench-analysis-0042', at: iso(at), kind, reason: null, pid: wrapperPid + 12, pids: [],
      signal: null, rss_bytes: null, pss_bytes: null, process_rss_bytes: null, elapsed_ms: at - t0, detail: {}, ...fields,
    },
  });
  const sample = (i: number): JournalEntry => {
    const record: SampleRecord = {
      id: randomUUID(), run_id: id, at: iso(t0 + (i + 1) * 10_000), elapsed_ms: (i + 1) * 10_000, rss_bytes: 800_000_000 + i * 4096,
      pss_bytes: null, cpu_seconds: i * 13.7, process_count: 9, peak: i % 50 === 0,
    };
    return { table: 'samples', record };
  };
  const kill = (i: number): JournalEntry => {
    const pid = wrapperPid + 100 + i;
    const kind = KILL_EVENTS[i % KILL_EVENTS.length];
    return event(kind, end - 5000 + i, {
      reason: 'orphans', pid, pids: kind === 'signal_sent' ? [pid, pid + 1, pid + 2] : [], signal: kind === 'orphan_found' ? null : 'SIGTERM',
      rss_bytes: 1_736_704, process_rss_bytes: 1_736_704,
      detail: kind === 'signal_sent'
        ? { processes: [{ pid, comm: 'python3', rss_bytes: 1_736_704 }, { pid: pid + 1, comm: 'python3', rss_bytes: 1_536_000 }] }
        : { argv: ['python3', '-c', 'from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)'], starttime: 24_692 + i, found_by: 'cgroup', policy: 'kill' },
    });
  };
  const process_ = (i: number): JournalEntry => {
    const record: ProcessRecord = {
      run_id: id, pid: wrapperPid + 12 + i, starttime: 24_673_019 + i, ppid: wrapperPid + 12, pgid: wrapperPid + 12, sid: wrapperPid + 12,
      comm: i === 0 ? 'python3' : 'python3 worker', argv: i === 0 ? argv : ['python3', '-c', 'from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)'],
      found_by: i === 0 ? 'leader' : 'cgroup', first_seen_at: iso(t0 + i), last_seen_at: iso(end - 1), peak_rss_bytes: 150_000_000 + i,
      cpu_seconds: 900.5 + i, fate: 'exited',
    };
    return { table: 'processes', record };
  };
  const started = event('run_started', t0 + 13, {
    detail: { argv, tracking: { backend: 'cgroup', probes: [{ backend: 'cgroup', available: true, why: 'a writable cgroup2 hierarchy: runs go to /sys/fs/cgroup/unified/scidex-run' }], memory_backstop_bytes: null } },
  });
  return [
    { table: 'runs', record: run(1, false) },
    started,
    ...Array.from({ length: samples }, (_, i) => sample(i)),
    ...Array.from({ length: kills }, (_, i) => kill(i)),
    ...Array.from({ length: processes }, (_, i) => process_(i)),
    event('run_finished', end, { reason: null, detail: { status: 'completed', exit_code: 0 } }),
    { table: 'runs', record: run(2, true) },
  ];
}

/**
 * Writes `runs` finished runs of `records` lines each into `<stateDir>/journal/` (no run markers: the
 * runs are over). @returns the journal files and the rows expected in PostgreSQL once they are shipped
 */
export function writeJournals(stateDir: string, runs: number, records: number): { files: string[]; lines: number; expected: Counts } {
  const dir = join(stateDir, 'journal');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const expected: Counts = { runs: 0, events: 0, processes: 0, samples: 0 };
  const files: string[] = [];
  let lines = 0;
  for (let i = 0; i < runs; i++) {
    const id = randomUUID();
    const path = join(dir, `${id}.jsonl`);
    const entries = syntheticRun(id, path, records);
    writeFileSync(path, entries.map((entry) => JSON.stringify(entry) + '\n').join(''), { mode: 0o600 });
    for (const entry of entries) if (entry.table !== 'runs') expected[entry.table] += 1;
    expected.runs += 1;
    lines += entries.length;
    files.push(path);
  }
  return { files, lines, expected };
}
