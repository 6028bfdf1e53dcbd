import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { journalSource } from '../../src/query/journal-source.js';
import { visible } from '../../src/config/text.js';
import { eventRow, processRow, runRow, sampleRow, timelineEventRow, timelineFields } from '../../src/query/views.js';
import type { EventRecord, ProcessRecord, RunRecord, SampleRecord } from '../../src/record/types.js';

const run = (overrides: Partial<RunRecord> = {}): RunRecord => ({
  id: randomUUID(), revision: 2, analysis_id: 'views', parent_run_id: null, host: 'h', boot_id: 'b00t', pid_ns: null,
  wrapper_pid: 4000, wrapper_starttime: 1, pid: 4001, pgid: 4001, leader_starttime: 2, argv: ['sh', '-c', 'exit 3'], cwd: '/',
  username: 'scidex', timeout_ms: 1000, memory_limit_bytes: 2 ** 31, grace_ms: 1000, orphan_policy: 'kill', tracking_backend: 'pgroup',
  cgroup_path: null, journal_path: '/j', started_at: '2026-11-21T08:00:00.000Z', heartbeat_at: '2026-11-21T08:00:01.000Z',
  ended_at: '2026-11-21T08:00:02.000Z', status: 'failed', exit_status: 3, exit_code: 3, signal: null, reason: null,
  peak_rss_bytes: 2 ** 20, peak_pss_bytes: null, cpu_seconds: 0.25, peak_process_count: 1, process_count: 1, ...overrides,
});
const event = (runId: string, overrides: Partial<EventRecord> = {}): EventRecord => ({
  id: randomUUID(), run_id: runId, analysis_id: 'views', at: '2026-11-21T08:00:00.500Z', kind: 'run_started', reason: null, pid: null,
  pids: [], signal: null, rss_bytes: null, pss_bytes: null, process_rss_bytes: null, elapsed_ms: 0, detail: {}, ...overrides,
});
const processOf = (runId: string): ProcessRecord => ({
  run_id: runId, pid: 4001, starttime: 2, ppid: 4000, pgid: 4001, sid: 4001, comm: 'sh', argv: ['sh'], found_by: 'leader',
  first_seen_at: '2026-11-21T08:00:00.100Z', last_seen_at: '2026-11-21T08:00:01.900Z', peak_rss_bytes: 2 ** 20, cpu_seconds: 0.25, fate: 'exited',
});
const sampleOf = (runId: string): SampleRecord => ({
  id: randomUUID(), run_id: runId, at: '2026-11-21T08:00:01.000Z', elapsed_ms: 1000, rss_bytes: 2 ** 20, pss_bytes: null,
  cpu_seconds: 0.2, process_count: 1, peak: true,
});

/** A state directory whose journal/<name> holds `lines`, each a JSON value or raw text. */
function stateDirWith(journals: Record<string, (object | string)[]>): string {
  const stateDir = mkdtempSync(join(tmpdir(), 'scidex-views-'));
  mkdirSync(join(stateDir, 'journal'));
  for (const [name, lines] of Object.entries(journals)) {
    writeFileSync(join(stateDir, 'journal', name), lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line)) + '\n').join(''));
  }
  return stateDir;
}

// eslint-disable-next-line no-control-regex -- what the test looks for
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

describe('visible', () => {
  it('writes C0, DEL and C1 controls as escapes, doubles backslashes, and leaves the rest alone', () => {
    expect(visible('true\ntrue\x1b[31mRED')).toBe('true\\ntrue\\x1b[31mRED');
    expect(visible('a\tb\rc\x00d\x7fe')).toBe('a\\tb\\rc\\x00d\\x7fe');
    expect(visible('next\u0085line\u009b31m')).toBe('next\\u0085line\\u009b31m');
    expect(visible('evil\u202egnp.exe\u2028x\u2066y')).toBe('evil\\u202egnp.exe\\u2028x\\u2066y');
    expect(visible('printf a\\nb')).toBe('printf a\\\\nb');
    expect(visible('plain: é ü 日本 \u00a0 ~')).toBe('plain: é ü 日本 \u00a0 ~');
    for (let code = 0; code <= 0xa0; code++) expect(visible(String.fromCharCode(code))).not.toMatch(CONTROL);
  });
});

describe('views', () => {
  const hostile = 'true\ntrue\x1b[31mRED\u0085';
  const cells = (row: Record<string, unknown>) => Object.values(row).filter((cell): cell is string => typeof cell === 'string');

  it('show no control character of the records, in any table or in the header of show', () => {
    const record = run({ argv: ['sh', '-c', hostile], analysis_id: hostile, host: `h${hostile}`, reason: hostile, cgroup_path: hostile, signal: 'SIG\x1b' });
    const row = runRow(record);
    expect(row.command).toBe('sh -c true\\ntrue\\x1b[31mRED\\u0085');
    expect(row.analysis_id).toBe('true\\ntrue\\x1b[31mRED\\u0085');
    const rows = [
      row,
      eventRow(event(record.id, { analysis_id: hostile, reason: hostile, signal: hostile, kind: hostile as EventRecord['kind'] })),
      timelineEventRow(event(record.id, { reason: hostile })),
      processRow({ ...processOf(record.id), comm: hostile, found_by: hostile, fate: hostile as ProcessRecord['fate'] }),
      sampleRow(sampleOf(record.id)),
    ];
    for (const cell of rows.flatMap(cells)) expect(cell).not.toMatch(CONTROL);
    const fields = timelineFields({ run: { ...record, exit_code: null, signal: 'SIG\x1b' }, processes: [], samples: [], events: [], otherRuns: 1 });
    for (const [, value] of fields) expect(value).not.toMatch(CONTROL);
    expect(Object.fromEntries(fields)).toMatchObject({
      command: 'sh -c true\\ntrue\\x1b[31mRED\\u0085',
      analysis: 'true\\ntrue\\x1b[31mRED\\u0085 (1 other run)',
      'exit status': '3 (the command died of SIG\\x1b)',
    });
  });

  it('leave numbers as they are and print the nulls the record types allow', () => {
    const record = run({
      analysis_id: null, pid: null, pgid: null, leader_starttime: null, ended_at: null, status: 'failed_to_start', exit_status: null,
      exit_code: null, signal: null, reason: null, peak_pss_bytes: null, cgroup_path: null,
    });
    expect(runRow(record)).toMatchObject({ analysis_id: null, pid: null, exit_status: null, reason: null, peak_pss: null, cpu_s: '0.3', peak_procs: 1 });
    expect(Object.fromEntries(timelineFields({ run: record, processes: [], samples: [], events: [], otherRuns: 0 }))).toMatchObject({
      analysis: '(none)', 'exit status': '', reason: '', ended: 'not yet (last heartbeat 2026-11-21 08:00:01 UTC)', 'peak tree': 'RSS 1.0 MiB, PSS not read',
    });
    expect(eventRow(event(record.id))).toMatchObject({ pid: null, npids: null, tree_rss: null, tree_pss: null, proc_rss: null, elapsed_s: '0.000' });
  });
});

describe('journalSource', () => {
  const good = run();
  const goodEvent = event(good.id);
  const goodProcess = processOf(good.id);
  const goodSample = sampleOf(good.id);
  /** JSON lines that are no record to show, each with what it used to crash the query with. */
  const strays: object[] = [
    { table: 'constructor', record: {} }, // tables[...]?.push is not a function
    { table: '__proto__', record: {} },
    { table: 'toString', record: good },
    { table: 'events' }, // reading 'id' of undefined
    { table: 'events', record: null },
    { table: 'events', record: [1, 2] }, // Invalid time value
    { table: 'events', record: { ...event(good.id), at: 'not a date' } }, // Invalid time value
    { table: 'events', record: { ...event(good.id), pids: null } },
    { table: 'events', record: { ...event(good.id), elapsed_ms: '12' } },
    { table: 'runs', record: { ...run(), cpu_seconds: null } }, // reading 'toFixed'
    { table: 'runs', record: { ...run(), argv: 'sh -c true' } },
    { table: 'runs', record: { ...run(), status: 'bogus' } },
    { table: 'runs', record: { ...run(), started_at: 'yesterday-ish' } },
    // A higher revision of the good run, broken: the good version must win, as PostgreSQL would keep it.
    { table: 'runs', record: { ...good, revision: 9, heartbeat_at: null } },
    { table: 'processes', record: { ...processOf(good.id), cpu_seconds: null } },
    { table: 'samples', record: { ...sampleOf(good.id), peak: 'yes' } },
    { table: 'samples', record: { ...sampleOf(good.id), tick: 'yes' } },
    { table: 'samples', record: { ...sampleOf(good.id), tick: true, top_processes: [{ pid: '1', comm: 'sh', rss_bytes: 1 }] } },
    { table: 'samples', record: { ...sampleOf(good.id), tick: true, top_processes: 'python3' } },
    [1, 2],
  ];
  const strayText = ['null', '42', '"runs"'];

  it('skips JSON lines that are not well-formed records, with one warning per journal, and returns the good ones as written', async () => {
    const stateDir = stateDirWith({
      'a.jsonl': [
        { table: 'runs', record: good }, ...strays.slice(0, 8), { table: 'events', record: goodEvent },
        { table: 'processes', record: goodProcess }, ...strays.slice(8), { table: 'samples', record: goodSample }, ...strayText,
      ],
      'b.jsonl': [{ table: 'runs', record: { ...run(), cpu_seconds: null } }, '{"table":"runs","record":{"id":'],
      'c.jsonl': [{ table: 'events', record: goodEvent }],
    });
    const warnings: string[] = [];
    const source = journalSource(stateDir, (line) => warnings.push(line));

    expect(await source.runs({})).toEqual([good]);
    expect(warnings).toEqual([
      `skipped ${strays.length + strayText.length} lines of ${join(stateDir, 'journal', 'a.jsonl')}: not well-formed records`,
      // The torn last line is not counted: a live journal may show one.
      `skipped 1 line of ${join(stateDir, 'journal', 'b.jsonl')}: not well-formed records`,
    ]);
    expect(await source.events({})).toEqual([goodEvent]);
    // A sample that does not say (a periodic one, or an older journal's) is read as PostgreSQL stores it: no tick.
    const storedSample = { ...goodSample, tick: false, top_processes: null };
    expect(await source.timeline({ runId: good.id })).toEqual({ run: good, processes: [goodProcess], samples: [storedSample], events: [goodEvent], otherRuns: 0 });
    expect(runRow(good).cpu_s).toBe('0.3');
  });

  it('says nothing when every line is a record', async () => {
    const warnings: string[] = [];
    const source = journalSource(stateDirWith({ 'a.jsonl': [{ table: 'runs', record: good }] }), (line) => warnings.push(line));
    expect(await source.runs({})).toEqual([good]);
    expect(warnings).toEqual([]);
  });

  it('names a journal with control characters in its name harmlessly', async () => {
    const warnings: string[] = [];
    const stateDir = stateDirWith({ 'x\x1b[2J.jsonl': [{ table: 'events' }] });
    await journalSource(stateDir, (line) => warnings.push(line)).runs({});
    expect(warnings).toEqual([`skipped 1 line of ${join(stateDir, 'journal', 'x\\x1b[2J.jsonl')}: not well-formed records`]);
  });
});

describe('show for a run the kernel OOM killer ended (issue 15)', () => {
  it('says the backstop and the kernel kill in its header', () => {
    const record = run({ status: 'out_of_memory', exit_status: 137, exit_code: null, signal: 'SIGKILL', reason: 'kernel_oom' });
    const backstop = { hierarchy: 'v1', cgroup: `/sys/fs/cgroup/memory/scidex-run/${record.id}`, bytes: 364 * 2 ** 20 };
    const events = [
      event(record.id, { detail: { tracking: { backend: 'cgroup', memory_backstop_bytes: backstop.bytes, memory_backstop: backstop } } }),
      event(record.id, { kind: 'kernel_oom_kill', reason: 'kernel_oom', pid: 4001, detail: { hierarchy: 'v1', oom_kill: 1, memory_backstop_bytes: backstop.bytes } }),
    ];
    const fields = Object.fromEntries(timelineFields({ run: record, processes: [], samples: [], events, otherRuns: 0 }));
    expect(fields.reason).toBe("kernel_oom: the kernel's OOM killer killed 1 process (pid 4001) at the 364.0 MiB backstop (cgroup v1)");
    expect(fields['memory backstop']).toBe(`364.0 MiB (cgroup v1: ${backstop.cgroup})`);
  });

  it('says none for a run without a backstop, and nothing where no run_started was recorded', () => {
    const record = run();
    const none = [event(record.id, { detail: { tracking: { backend: 'pgroup', memory_backstop_bytes: null, memory_backstop: null } } })];
    expect(Object.fromEntries(timelineFields({ run: record, processes: [], samples: [], events: none, otherRuns: 0 }))['memory backstop']).toBe('none');
    expect(Object.fromEntries(timelineFields({ run: record, processes: [], samples: [], events: [], otherRuns: 0 }))).not.toHaveProperty('memory backstop');
  });
});
